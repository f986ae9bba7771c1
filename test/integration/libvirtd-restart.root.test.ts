import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import type { Finding, VmInfo } from '../../main/engine/index.js';
import type { MenuEntry } from '../../main/tray/menu-model.js';
import { TrayState } from '../../main/tray/tray-state.js';
import { makeTestEngine, testGuestImage, URI, type TestEngine } from '../helpers/engine-fixture.js';
import { sh } from '../helpers/guest.js';
import { killQemus, restartLibvirtd, runPausedBefore, startLibvirtd, stderrOf } from '../helpers/libvirtd.js';
import { SerialConsole } from '../helpers/serial-console.js';

/**
 * libvirtd restarts and a host restart (issue 13, parts 3 and 4), on the machine's own libvirtd: root
 * restarts it as .ci/run starts it; every VM operation still runs as the desktop user through the CLI.
 * A command caught by a restart finishes or fails with one line, and the next command and `vms check`
 * find each VM whole or absent; the watches of events (the tray's, a disposable's) reconnect by
 * themselves; after a power cut (the QEMU processes of this test's domains killed while libvirtd is down)
 * appvms start again with their /home, disposables are gone with their files, templates are sound.
 * libvirtd is restarted three times in all (each start takes it 15-20 s here): other tests' domains keep
 * running through it.
 */
const run = Math.random().toString(36).slice(2, 6);
const n = (name: string) => `${name}${run}`;
const TPL = n('rtpl');
const SRC = n('rsrc');
const APP = n('rapp');
/** Filters and networks are global to libvirtd: only this run's count in its findings. */
const GLOBAL_KINDS = new Set(['orphan-filter', 'unused-network']);

describe('libvirtd restarts and a host restart', { timeout: 600_000 }, () => {
  let t: TestEngine;
  const consoles: SerialConsole[] = [];
  /** The disposables this run started (their names are not this run's). */
  const ourDisposables = new Set<string>();
  const ours = (vm: string | undefined) => vm !== undefined && (vm.endsWith(run) || ourDisposables.has(vm));

  async function vmsOk(args: string[]): Promise<string> {
    const result = await t.vms(args);
    assert.equal(result.exitCode, 0, `vms ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }
  async function list(): Promise<VmInfo[]> {
    return JSON.parse(await vmsOk(['list', '--json', '--all'])) as VmInfo[];
  }
  /** What `vms check` finds about this run's things (other tests' filters and networks are theirs). */
  async function ourFindings(): Promise<Finding[]> {
    const result = await t.vms(['check', '--json']);
    const { remaining } = JSON.parse(result.stdout) as { remaining: Finding[] };
    return remaining.filter((f) => !f.informational && (!GLOBAL_KINDS.has(f.kind) || ours(f.vm)));
  }
  async function volumesOf(name: string): Promise<string[]> {
    return (await t.volumes()).filter((v) => v.startsWith(`${name}.`));
  }
  /** Whole (listed, and check found nothing) or absent with no volume left. */
  async function assertAbsent(name: string, vms: VmInfo[]): Promise<void> {
    assert.ok(!vms.some((vm) => vm.name === name), `${name} is not listed`);
    assert.deepEqual(await volumesOf(name), [], `no volume of ${name} is left`);
  }
  async function startDisposable(): Promise<string> {
    const vm = JSON.parse(await vmsOk(['disposable', '--template', TPL, '--json'])) as VmInfo;
    ourDisposables.add(vm.name);
    return vm.name;
  }
  /** Each test starts with the appvm off, whatever the one before left. */
  async function appOff(): Promise<void> {
    if ((await list()).find((vm) => vm.name === APP)?.state !== 'shut off') await vmsOk(['kill', APP]);
  }
  /** One line, `vms: …`, no stack trace. */
  function assertOneLine(stderr: string, what: string): void {
    assert.equal(stderr.split('\n').length, 1, `${what}: one line, got ${stderr}`);
    assert.match(stderr, /^vms: (Lost the connection to libvirt|Cannot reach libvirt) /, what);
  }

  before(async () => {
    t = await makeTestEngine('restart');
    await vmsOk(['template', 'import', TPL, await testGuestImage()]);
    await vmsOk(['create', SRC, '--template', TPL]);
    await vmsOk(['create', APP, '--template', TPL]);
  });
  after(async () => {
    for (const c of consoles) c.close();
    // A failed test must not leave the machine without libvirtd.
    await startLibvirtd();
    await t?.cleanup();
  });

  test('libvirtd restarts under create, clone and start stopped at their step and under a running disposable: the commands finish, the tray and the disposable’s watcher follow on', async () => {
    await appOff();
    const renders: MenuEntry[][] = [];
    const waiters = new Set<() => void>();
    const tray = new TrayState({
      list: () => t.engine.list(),
      watch: (onEvent, options) => t.engine.watchLifecycle(onEvent, options),
      labelColors: () => t.config.labelColors,
      defaultTemplate: () => undefined,
      render: (model) => {
        renders.push(model);
        for (const waiter of [...waiters]) waiter();
      },
    });
    const shows = (model: MenuEntry[], name: string, state: string) => model.some((e) => e.type === 'submenu' && e.label === `${name} — ${state}`);
    const listed = (model: MenuEntry[], name: string) => model.some((e) => e.type === 'submenu' && e.label.startsWith(`${name} — `));
    // With a list read before, the menu keeps it and shows the error with "Retry now" above it.
    const unreachable = (model: MenuEntry[]) => model.some((e) => e.type === 'item' && e.action?.id === 'retry');
    /** Resolves once a render from now on (or the current model) passes `check`. */
    const renderWhere = (check: (model: MenuEntry[]) => boolean, what: string, options: { now?: boolean } = {}) => {
      const from = renders.length;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { waiters.delete(look); reject(new Error(`the tray never showed ${what}; last: ${JSON.stringify(renders.at(-1)?.map((e) => ('label' in e ? e.label : '---')))}`)); }, 120_000);
        const look = () => {
          if (!renders.slice(from).some(check) && !(options.now && check(tray.model()))) return;
          clearTimeout(timer);
          waiters.delete(look);
          resolve();
        };
        waiters.add(look);
        look();
      });
    };
    try {
      await tray.start();
      await tray.subscribed();
      const disposable = await startDisposable();
      await renderWhere((m) => shows(m, disposable, 'running'), `${disposable} running`, { now: true });
      // One at a time, so that libvirtd's nwfilter code is not under parallel load.
      const paused = [
        await runPausedBefore(t, 'define', ['create', n('c1'), '--template', TPL]),
        // The second define is the clone's; the first moved the source onto its new overlay.
        await runPausedBefore(t, 'define:2', ['clone', SRC, n('k1')]),
        await runPausedBefore(t, 'start', ['start', APP]),
      ];
      const lost = renderWhere(unreachable, 'libvirt unreachable');
      const down = await restartLibvirtd();
      console.log(`# libvirtd restarted in ${down} ms under create, clone, start and a running disposable`);
      for (const p of paused) p.resume();
      const results = await Promise.all(paused.map((p) => p.result));
      for (const r of results) {
        assert.equal(r.exitCode, 0, `${r.command}: ${r.stderr}`);
        assert.equal(stderrOf(r), '', r.command);
      }
      const vms = await list();
      const state = (name: string) => vms.find((vm) => vm.name === name)?.state;
      assert.deepEqual([n('c1'), n('k1'), SRC, APP, disposable].map(state), ['shut off', 'shut off', 'shut off', 'running', 'running']);
      assert.deepEqual(await ourFindings(), []);

      // The tray said libvirt was unreachable, then read the list again by itself.
      await lost;
      await renderWhere((m) => !unreachable(m) && shows(m, APP, 'running') && shows(m, disposable, 'running'), 'the list after the restart', { now: true });
      // The guest goes away without vms (as when it powers off from inside): both watches must see it.
      const gone = renderWhere((m) => !listed(m, disposable) && !unreachable(m), `${disposable} gone`);
      await execa('virsh', ['-c', URI, 'destroy', disposable], { env: { LC_ALL: 'C' } });
      await gone;
      // The watcher removes the volumes first, then the address and filters, and the journal entry last.
      const journaled = async () => (await readdir(join(t.env.VMS_STATE_DIR!, 'disposable'))).includes(disposable);
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && ((await volumesOf(disposable)).length > 0 || (await journaled()))) await new Promise((resolve) => setTimeout(resolve, 250));
      assert.deepEqual(await volumesOf(disposable), [], 'its watcher reaped its root, NVRAM and console log');
      assert.ok(!(await journaled()), 'and its journal entry');
    } finally {
      tray.stop();
    }
    await vmsOk(['kill', APP]);
    assert.deepEqual(await ourFindings(), []);
  });

  test('libvirtd stopping under them: create and clone go on with it down, start is under way; one line each, then whole or absent', async () => {
    await appOff();
    const create = await runPausedBefore(t, 'define', ['create', n('c2'), '--template', TPL]);
    const clone = await runPausedBefore(t, 'define:2', ['clone', SRC, n('k2')]);
    const start = await runPausedBefore(t, 'start', ['start', APP]);
    // The start goes to libvirtd first; starting QEMU takes it most of a second, so the stop comes in the middle.
    start.resume();
    await new Promise((resolve) => setTimeout(resolve, 150));
    await restartLibvirtd(async () => {
      create.resume();
      clone.resume();
      await Promise.all([create.result, clone.result]);
    });
    for (const p of [create, clone]) {
      const r = await p.result;
      assert.equal(r.exitCode, 1, `${r.command} cannot finish without libvirtd`);
      assertOneLine(stderrOf(r), r.command);
    }
    const started = await start.result;
    console.log(`# start with libvirtd stopping under it: exit ${started.exitCode} ${stderrOf(started)}`);
    if (started.exitCode !== 0) assertOneLine(stderrOf(started), 'start');

    // The next command tidies up; each VM is whole or absent.
    const vms = await list();
    await assertAbsent(n('c2'), vms);
    await assertAbsent(n('k2'), vms);
    assert.equal(vms.find((vm) => vm.name === SRC)?.state, 'shut off', 'the clone’s source is whole');
    assert.ok(vms.some((vm) => vm.name === APP));
    assert.deepEqual(await ourFindings(), []);
    // Both the source and its first clone work on.
    await vmsOk(['clone', SRC, n('k2')]);
    if (vms.find((vm) => vm.name === APP)?.state !== 'shut off') await vmsOk(['kill', APP]);
    await vmsOk(['start', APP]);
    await vmsOk(['kill', APP]);
    assert.deepEqual(await ourFindings(), []);
  });

  test('a power cut: appvm, disposable and template killed with libvirtd down; the appvm keeps /home, the disposable is reaped by the next command, the template is sound', async () => {
    await appOff();
    await vmsOk(['start', APP]);
    const app = await SerialConsole.forDomain(APP, URI);
    consoles.push(app);
    await app.waitFor('VMS-GUEST-UP', 180_000);
    await sh(app, 'echo kept > /home/note && echo scratch > /root-scratch && sync');
    app.close();
    await vmsOk(['start', TPL]);
    const disposable = await startDisposable();
    // A power cut ends the disposable's watcher too: the next command must reap it.
    await killWatcherOf(disposable);

    await restartLibvirtd(() => killQemus([APP, TPL, disposable]));

    const vms = await list();
    await assertAbsent(disposable, vms);
    assert.ok(!(await readdir(join(t.env.VMS_STATE_DIR!, 'disposable'))).includes(disposable), 'its journal entry is gone');
    assert.equal(vms.find((vm) => vm.name === APP)?.state, 'shut off');
    const template = vms.find((vm) => vm.name === TPL);
    assert.equal(template?.state, 'shut off');
    assert.equal(template?.meta.updating ?? false, false, 'the template’s update was published by the next command');
    const versions = (await t.volumes()).filter((v) => v.startsWith(`${TPL}.v`) && v.endsWith('.qcow2'));
    assert.ok(versions.length > 0);
    for (const volume of versions) {
      const checked = await execa('qemu-img', ['check', '-q', '-f', 'qcow2', join(t.imagesDir, t.pool, volume)], { reject: false, env: { LC_ALL: 'C' } });
      assert.equal(checked.exitCode, 0, `qemu-img check ${volume}: ${checked.stdout}${checked.stderr}`);
    }
    assert.deepEqual(await ourFindings(), []);

    await vmsOk(['start', APP]);
    const again = await SerialConsole.forDomain(APP, URI);
    consoles.push(again);
    await again.waitFor('VMS-GUEST-UP', 180_000);
    assert.equal(await sh(again, 'cat /home/note'), 'kept', '/home is intact');
    assert.equal((await again.run('test -e /root-scratch')).exitCode, 1, 'the root is fresh from the template');
    again.close();
    await vmsOk(['kill', APP]);
  });

  /** SIGKILLs a disposable's `vms __watch-disposable` of this test (its state folder says so), by pid. */
  async function killWatcherOf(name: string): Promise<void> {
    const found = await execa('pgrep', ['-f', `__watch-disposable ${name}$`], { reject: false });
    const pids = String(found.stdout).split('\n').map(Number).filter((pid) => pid > 1);
    let killed = 0;
    for (const pid of pids) {
      const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
      if (!environ.split('\0').includes(`VMS_STATE_DIR=${t.env.VMS_STATE_DIR}`)) continue;
      process.kill(pid, 'SIGKILL');
      killed++;
    }
    assert.equal(killed, 1, `one watcher of ${name} was running`);
  }
});
