import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { execa } from 'execa';
import { assertTemplateImage, checkImage } from '../../main/engine/image-check.js';

let dir = '';
const run = (file: string, args: string[]) => execa(file, args, { env: { LC_ALL: 'C' } });

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vms-image-check-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('checkImage is pure: format, size, GPT, ESP', { timeout: 5_000 }, () => {
  const head = new Uint8Array(34 * 512);
  assert.match(checkImage({ format: 'vmdk', virtualSize: 2 ** 30, head })[0], /vmdk image: convert it to qcow2/);
  assert.match(checkImage({ format: 'raw', virtualSize: 6, head })[0], /6\.0 B, too small for a system|6 B, too small/);
  assert.match(checkImage({ format: 'raw', virtualSize: 2 ** 30, head })[0], /no GPT partition table/);
});

test('real images: a text file, a GPT without ESP, and a GPT with ESP (raw and qcow2)', { timeout: 30_000 }, async () => {
  const text = join(dir, 'notes.img');
  await writeFile(text, 'hello\n');
  await assert.rejects(assertTemplateImage(text), /notes\.img" cannot be a template: its disk is 512 B, too small for a system/);

  const noEsp = join(dir, 'no-esp.raw');
  await run('truncate', ['-s', '1G', noEsp]);
  await run('sgdisk', ['-o', '-n', '1:2048:0', '-t', '1:8304', noEsp]);
  await assert.rejects(assertTemplateImage(noEsp), /its GPT has no EFI system partition \(type EF00\).*docs\/imported-images\.md/);

  const good = join(dir, 'good.raw');
  await run('truncate', ['-s', '1G', good]);
  await run('sgdisk', ['-o', '-n', '1:2048:+100M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8304', good]);
  await assertTemplateImage(good);
  const qcow2 = join(dir, 'good.qcow2');
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', good, qcow2]);
  await assertTemplateImage(qcow2);
  const plainQcow2 = join(dir, 'empty.qcow2');
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', plainQcow2, '1G']);
  await assert.rejects(assertTemplateImage(plainQcow2), /no GPT partition table/);
});
