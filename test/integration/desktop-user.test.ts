import assert from 'node:assert/strict';
import { access, constants } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { resolveConfig } from '../../main/engine/config.js';
import { Engine } from '../../main/engine/index.js';
import { CLI, makeTestEngine, testGuestImage, URI, type TestEngine } from '../helpers/engine-fixture.js';
import { sh } from '../helpers/guest.js';
import { SerialConsole } from '../helpers/serial-console.js';

/**
 * vms as the desktop user: not root, no rights on libvirt's folders, a German desktop, and a libvirt on
 * another host (qemu+ssh:// to this machine as the same user).
 */
const run = Math.random().toString(36).slice(2, 6);
const SSH_URI = `qemu+ssh://${process.env.USER ?? 'vmstest'}@localhost:${process.env.VMS_TEST_SSH_PORT ?? 2222}/system`;

describe('the desktop user', { timeout: 900_000 }, () => {
  let t: TestEngine;

  before(async () => {
    t = await makeTestEngine('user');
  });
  after(async () => t?.cleanup());

  test('the tests run as an unprivileged user who cannot touch libvirt’s folders', async () => {
    assert.notEqual(process.getuid?.(), 0, 'run by scripts/run-tests.mjs as the test user');
    await assert.rejects(access('/var/lib/libvirt/images', constants.W_OK));
    const groups = (await execa('id', ['-Gn'])).stdout.split(' ');
    assert.ok(groups.includes('libvirt'), `in group libvirt: ${groups.join(' ')}`);
  });

  test('a German desktop: libvirt speaks German to the user, vms still understands it', async () => {
    const german = { ...t.env, LANG: 'de_DE.UTF-8', LC_ALL: '', LANGUAGE: 'de' };
    const raw = await execa('virsh', ['-c', URI, 'dominfo', `missing${run}`], { env: german, reject: false });
    assert.match(raw.stderr, /Domain|domain/);
    assert.doesNotMatch(raw.stderr, /failed to get domain/, `libvirt answers in German here: ${raw.stderr}`);

    const image = await testGuestImage();
    const imported = await execa(process.execPath, [CLI, 'template', 'import', `de${run}`, image], { env: german, reject: false });
    assert.equal(imported.exitCode, 0, imported.stderr);
    const list = await execa(process.execPath, [CLI, 'list', '--json'], { env: german, reject: false });
    assert.equal(list.exitCode, 0, list.stderr);
    const mine = (JSON.parse(list.stdout) as Array<{ name: string; state: string }>).find((vm) => vm.name === `de${run}`);
    assert.equal(mine?.state, 'shut off', 'the state is read from virsh whatever the language');
    const missing = await execa(process.execPath, [CLI, 'info', `missing${run}`], { env: german, reject: false });
    assert.equal(missing.exitCode, 1);
    assert.equal(missing.stderr.trim(), `vms: There is no VM named "missing${run}": see \`vms list\`.`);

    // The lifecycle watch parses libvirt's event lines in a German session too.
    const events: string[] = [];
    const saved = { LANG: process.env.LANG, LANGUAGE: process.env.LANGUAGE };
    Object.assign(process.env, { LANG: 'de_DE.UTF-8', LANGUAGE: 'de' });
    const watch = t.engine.watchLifecycle((e) => { if (e.name === `de${run}`) events.push(e.event); });
    try {
      await watch.ready;
      const started = await execa(process.execPath, [CLI, 'start', `de${run}`], { env: german, reject: false });
      assert.equal(started.exitCode, 0, started.stderr);
      const deadline = Date.now() + 30_000;
      while (!events.includes('Started') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(events.includes('Started'), `events seen: ${events.join(', ')}`);
    } finally {
      watch.stop();
      Object.assign(process.env, saved);
    }
    for (const verb of [['kill'], ['delete', '--yes']]) {
      const result = await execa(process.execPath, [CLI, verb[0], `de${run}`, ...verb.slice(1)], { env: german, reject: false });
      assert.equal(result.exitCode, 0, `vms ${verb.join(' ')}: ${result.stderr}`);
    }
  });

  test('another host: create, clone, start, a disposable and delete over qemu+ssh://', async () => {
    const env = { ...t.env, VMS_URI: SSH_URI };
    const vms = async (args: string[]) => {
      const result = await execa(process.execPath, [CLI, ...args], { env, reject: false });
      assert.equal(result.exitCode, 0, `vms ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    const tpl = `rt${run}`;
    const vm = `rv${run}`;
    await vms(['template', 'import', tpl, await testGuestImage()]);
    await vms(['create', vm, '--template', tpl, '--memory', '512M', '--cpus', '1', '--disk-size', '1G']);
    await vms(['clone', vm, `${vm}c`]);
    await vms(['start', vm]);
    const console = await SerialConsole.forDomain(vm, SSH_URI);
    try {
      await console.waitFor('VMS-GUEST-UP', 300_000);
      assert.equal(await sh(console, 'echo over-$((40+2))'), 'over-42');
      assert.equal(await sh(console, 'mount | grep -c " /home "'), '1', '/home is the private volume');
    } finally {
      console.close();
    }
    const log = await vms(['console', vm, '--log']);
    assert.match(log, /VMS-GUEST-UP/, 'the console log is read through libvirt');
    await vms(['kill', vm]);
    const disposable = JSON.parse(await vms(['disposable', '--template', tpl, '--json'])) as { name: string };
    await vms(['kill', disposable.name]);
    for (const name of [`${vm}c`, vm, tpl]) await vms(['delete', name, '--yes']);
    const remote = new Engine(resolveConfig({}, env));
    assert.deepEqual((await remote.list()).filter((v) => [tpl, vm, `${vm}c`, disposable.name].includes(v.name)), []);
    assert.deepEqual((await t.volumes()).filter((v) => !v.startsWith('_home-')), [], 'nothing left in the pool');
  });
});
