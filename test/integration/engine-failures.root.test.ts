import assert from 'node:assert/strict';
import { mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { bootableBlank, makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';

/**
 * A full disk: the one failure here that needs root to set up (a small tmpfs under libvirt's folder for
 * the pool); the command itself runs as the unprivileged user, as every VM operation does.
 */
describe('a full disk', { timeout: 120_000 }, () => {
  let t: TestEngine;
  const small = '/var/lib/libvirt/images/vms-test-full-disk';

  before(async () => {
    await mkdir(small, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', small]);
    t = await makeTestEngine('full');
  });
  after(async () => {
    await t?.cleanup();
    await execa('umount', [small], { reject: false });
    await rmdir(small).catch(() => undefined);
  });

  test('importing an image larger than the space left: one line, nothing left', async () => {
    const pool = `${t.pool}-small`;
    const data = join(t.scratch, 'data.qcow2');
    await bootableBlank(data, '1G');
    // After the GPT, so the image still passes the template check.
    await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 1M 64M', data]);
    await execa('chmod', ['a+r', data]);
    try {
      const run = await t.vms(['template', 'import', 'toobig', data], { env: { VMS_IMAGES_DIR: small, VMS_POOL: pool } });
      assert.equal(run.exitCode, 1);
      assert.match(run.stderr, /^vms: The disk is full: the image needs .+ but .+ has .+ free; free some space \(or set another images folder\) and try again\.$/);
      // Checked before the upload: libvirtd 11.3 dies when an upload stream meets a full disk.
      assert.equal((await execa('virsh', ['-c', t.config.uri, 'version'], { reject: false })).exitCode, 0, 'libvirtd still runs');
      const volumes = await execa('virsh', ['-q', '-c', t.config.uri, 'vol-list', pool]);
      assert.equal(volumes.stdout.trim(), '', 'no volume left in the pool');
      assert.equal((await execa('virsh', ['-c', t.config.uri, 'dominfo', 'toobig'], { reject: false })).exitCode, 1, 'no domain defined');
    } finally {
      await execa('virsh', ['-c', t.config.uri, 'pool-destroy', pool], { reject: false });
      await execa('virsh', ['-c', t.config.uri, 'pool-delete', pool], { reject: false });
      await execa('virsh', ['-c', t.config.uri, 'pool-undefine', pool], { reject: false });
    }
  });
});
