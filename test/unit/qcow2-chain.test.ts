import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBackingChain, readBackingFile } from '../../main/engine/qcow2-header.js';
import { backingChain, createDisk, createOverlay } from '../../main/engine/tools/qemu-img.js';

test('backing files read from the qcow2 header match what qemu-img reports', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vms-qcow2-'));
  try {
    await createDisk(join(dir, 'base.qcow2'), '1G');
    await createOverlay(join(dir, 'mid.qcow2'), join(dir, 'base.qcow2'));
    await createOverlay(join(dir, 'top.qcow2'), join(dir, 'mid.qcow2'));
    assert.equal(await readBackingFile(join(dir, 'base.qcow2')), undefined);
    assert.equal(await readBackingFile(join(dir, 'top.qcow2')), join(dir, 'mid.qcow2'));
    assert.deepEqual(await readBackingChain(join(dir, 'top.qcow2')), await backingChain(join(dir, 'top.qcow2')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
