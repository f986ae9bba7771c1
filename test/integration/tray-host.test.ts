import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { displayServer, trayHostBoundMs, waitForTrayHost } from '../../main/tray/tray-host.js';

/**
 * The tray's wait for a StatusNotifierWatcher, on a real session bus (a private dbus-daemon) with a real
 * watcher: test/fixtures/dbus/sni-watcher.py serves what Chromium checks before it makes an SNI tray.
 */

const WATCHER = new URL('../../../test/fixtures/dbus/sni-watcher.py', import.meta.url).pathname;

/** Resolves with the first stdout line of a child. */
function firstLine(child: ResultPromise): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.split('\n')[0].trim());
    });
    void child.then((result) => reject(new Error(`${String(result.command)} ended before a line: ${String(result.stderr)}`)));
  });
}

describe('waiting for a tray host on a real session bus', { timeout: 90_000 }, () => {
  let dir: string;
  let bus: ResultPromise;
  let env: NodeJS.ProcessEnv;
  const children: ResultPromise[] = [];

  /** Starts a child that is stopped by pid after the test. */
  function child(file: string, args: string[]): ResultPromise {
    const started = execa(file, args, { reject: false, stdin: 'ignore', env: { ...env, LC_ALL: 'C' }, extendEnv: false });
    children.push(started);
    return started;
  }

  async function stopChildren(): Promise<void> {
    for (const started of children.splice(0)) {
      started.kill();
      await started;
    }
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vms-tray-host-'));
    bus = execa('dbus-daemon', ['--session', '--nofork', '--nopidfile', '--print-address=1', `--address=unix:path=${join(dir, 'bus')}`],
      { reject: false, stdin: 'ignore', env: { LC_ALL: 'C', PATH: process.env.PATH }, extendEnv: false });
    env = { PATH: process.env.PATH, DBUS_SESSION_BUS_ADDRESS: await firstLine(bus) };
  });

  after(async () => {
    await stopChildren();
    bus?.kill();
    await bus;
    await rm(dir, { recursive: true, force: true });
  });

  it('gives up after the bound when no watcher comes', async () => {
    const started = performance.now();
    assert.equal(await waitForTrayHost(env, 1500).result, 'absent');
    const took = performance.now() - started;
    assert.ok(took >= 1400 && took < 4000, `waited ${Math.round(took)} ms`);
  });

  it('waits for a watcher that registers later (waybar starting after vms-tray)', async () => {
    const started = performance.now();
    const wait = waitForTrayHost(env, 15_000);
    const watcher = child('/usr/bin/python3', [WATCHER, '--delay', '1']);
    const ready = firstLine(watcher).then((line) => { assert.equal(line, 'ready'); return performance.now(); });
    assert.equal(await wait.result, 'present');
    const found = performance.now();
    const registered = await ready;
    process.stdout.write(`# tray host found ${(found - registered).toFixed(0)} ms after the watcher registered (${(found - started).toFixed(0)} ms after the wait began)\n`);
    assert.ok(found - registered < 1500);
    // Already there: one look answers.
    const again = performance.now();
    assert.equal(await waitForTrayHost(env, 0).result, 'present');
    process.stdout.write(`# with a watcher present, the look took ${(performance.now() - again).toFixed(0)} ms\n`);
    await stopChildren();
  });

  it('does not take a name without a host for a tray (the watcher must report its host)', async () => {
    const holder = child('dbus-test-tool', ['black-hole', '--session', '--name=org.kde.StatusNotifierWatcher']);
    // black-hole owns the name but answers no property: like a bar that claimed the name before its host.
    for (let i = 0; i < 100; i++) {
      const owned = await execa('gdbus', ['call', '--session', '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus',
        '--method', 'org.freedesktop.DBus.NameHasOwner', 'org.kde.StatusNotifierWatcher'], { env: { ...env, LC_ALL: 'C' }, extendEnv: false });
      if (owned.stdout.trim() === '(true,)') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(await waitForTrayHost(env, 1000).result, 'absent');
    assert.equal(holder.exitCode, null, 'the name holder still runs');
    await stopChildren();
  });

  it('ends an unbounded wait on stop(), leaving no gdbus behind', async () => {
    const wait = waitForTrayHost(env, Infinity);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const gdbus = await execa('pgrep', ['-f', `gdbus wait --session --timeout 0 org.kde.StatusNotifierWatcher`], { reject: false });
    const pids = gdbus.stdout.split('\n').filter(Boolean);
    wait.stop();
    assert.equal(await wait.result, 'absent');
    for (const pid of pids) assert.throws(() => process.kill(Number(pid), 0), 'the wait ended its gdbus');
  });

  it('tells "no session bus" apart, so the tray is made as before', async () => {
    assert.equal(await waitForTrayHost({ PATH: process.env.PATH, DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(dir, 'nobody')}` }, 5000).result, 'no-bus');
  });

  it('waits on Wayland only: X11 has a real fallback tray', () => {
    assert.equal(displayServer({ WAYLAND_DISPLAY: 'wayland-1' }), 'wayland');
    assert.equal(displayServer({ WAYLAND_DISPLAY: 'wayland-1' }, ['--ozone-platform=x11']), 'x11');
    assert.equal(displayServer({ DISPLAY: ':0' }), 'x11');
    assert.equal(trayHostBoundMs('x11'), 0);
    assert.ok(trayHostBoundMs('wayland') >= 10_000);
  });
});
