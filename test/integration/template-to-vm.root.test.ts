import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';
import { SerialConsole } from '../helpers/serial-console.js';
import { fixtureRepository } from '../helpers/arch-repo.js';

/**
 * The whole path a user takes: `vms template build` as root (the real script, real pacstrap, from the
 * local pacman repository fixture), then `vms create` and `vms start` as the unprivileged user; the VM boots through OVMF and
 * systemd-boot to `login:` and the template's user logs in.
 */

let t: TestEngine;
let pacmanConf = '';
let console: SerialConsole | undefined;

before(async () => {
  pacmanConf = await fixtureRepository();
  t = await makeTestEngine('tplvm', { defaultMemoryMiB: 1024 });
});

after(async () => {
  console?.close();
  await t?.cleanup();
});

test('vms template build, then vms create and start: the VM boots to login: and the user logs in', { timeout: 900_000 }, async () => {
  // Building is a root step (pacstrap); everything after it runs as the unprivileged user.
  const built = await t.vms(['template', 'build', 'arch', '--pacman-conf', pacmanConf, '--user', 'tester', '--password', 'pw-tester', '--disk-size', '4G'], { asRoot: true });
  assert.equal(built.exitCode, 0, built.stderr);
  assert.match(built.stdout, /Built and imported template "arch"/);
  assert.equal((await t.engine.info('arch')).meta.kind, 'template');
  assert.deepEqual((await readdir('/var/tmp')).filter((e) => e.startsWith('vms-build-')), [], 'the build output was imported and removed');

  const created = await t.vms(['create', 'mail', '--template', 'arch', '--domain', 'work']);
  assert.equal(created.exitCode, 0, created.stderr);
  const started = await t.vms(['start', 'mail']);
  assert.equal(started.exitCode, 0, started.stderr);
  console = await SerialConsole.forDomain('mail', t.config.uri);
  await console.waitFor(/login:/, 480_000);
  console.write('tester\n');
  await console.waitFor(/Password:/, 60_000);
  console.write('pw-tester\n');
  await console.waitFor(/tester@[^\n]*\$ ?$/m, 120_000);
  const id = await console.run('id', 30_000);
  assert.match(id.output, /^uid=1000\(tester\)/);
  // The private disk the engine made is the user's /home.
  assert.equal((await console.run('findmnt -n -o SOURCE,FSTYPE /home', 30_000)).output.replace(/\r/g, '').trim().split(/\s+/)[1], 'ext4');
  assert.match((await console.run('cat /proc/cmdline', 30_000)).output, /console=ttyS0/);
  console.close();
  console = undefined;
  assert.equal((await t.vms(['kill', 'mail'])).exitCode, 0);
});
