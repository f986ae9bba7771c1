import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { resolveConfig, assertSize, sizeInBytes } from '../../main/engine/config.js';
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

test('sizes', () => {
  assert.equal(sizeInBytes('10G'), 10 * 2 ** 30);
  assert.doesNotThrow(() => assertSize('512M', 'disk size'));
  for (const bad of ['0G', '10 G', '-1G', '10GB', '', '1e9']) assert.throws(() => assertSize(bad, 'disk size'), /not a size/, bad);
});
