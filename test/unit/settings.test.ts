import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { diskSizeBytes, resolveConfig } from '../../main/engine/config.js';
import { readSettings, settingProblem } from '../../main/settings/settings-file.js';

test('settings are read from the shared file and environment variables win', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vms-settings-'));
  try {
    const env = { VMS_CONFIG_DIR: dir };
    assert.deepEqual(readSettings(env), {}, 'no file: defaults');
    await writeFile(join(dir, 'config.json'), JSON.stringify({ imagesDir: '/srv/vms', defaultTemplate: 'arch', disposablePoolSize: 2 }));
    const settings = readSettings(env);
    assert.equal(settings.imagesDir, '/srv/vms');
    const config = resolveConfig(settings, { VMS_ACCEL: 'tcg', VMS_IMAGES_DIR: '/other' });
    assert.equal(config.imagesDir, '/other');
    assert.equal(config.accel, 'tcg');
    assert.equal(config.defaultTemplate, 'arch');
    assert.equal(resolveConfig(settings, { VMS_ACCEL: 'kvm' }).accel, 'kvm');
    assert.throws(() => resolveConfig({}, { VMS_ACCEL: 'xen' }), /use kvm or tcg/);

    await writeFile(join(dir, 'config.json'), '{ not json');
    assert.throws(() => readSettings(env), /not valid JSON: fix or remove it/);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ defaultTemplate: '../x' }));
    assert.throws(() => readSettings(env), /not valid/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('setting values are checked against the shared schema', () => {
  assert.equal(settingProblem('disposablePoolSize', 1), undefined);
  assert.ok(settingProblem('disposablePoolSize', -1));
  assert.ok(settingProblem('disposablePoolSize', 1.5));
  assert.ok(settingProblem('accel', 'xen'));
  assert.ok(settingProblem('nonsense', 1));
  assert.ok(settingProblem('labelColors', []));
});

test('disk sizes use the one grammar and a floor, as VmsErrors', () => {
  assert.equal(diskSizeBytes('10G', '--disk-size'), 10 * 2 ** 30);
  assert.equal(diskSizeBytes('10gb', '--disk-size'), 10 * 2 ** 30);
  assert.throws(() => diskSizeBytes('10', '--disk-size'), (e: Error) => e.name === 'VmsError' && /has no unit: add one, such as 10G/.test(e.message));
  assert.throws(() => diskSizeBytes('1M', '--disk-size'), /too small: give at least 64MiB/);
  assert.equal(settingProblem('defaultDiskSize', '2GiB'), undefined, 'the settings schema takes the same grammar');
  assert.ok(settingProblem('defaultDiskSize', '20'));
});
