import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { resolveConfig } from '../../main/engine/config.js';
import { Engine } from '../../main/engine/index.js';
import { UNREACHABLE, type MenuEntry } from '../../main/tray/menu-model.js';
import { TrayState } from '../../main/tray/tray-state.js';

/**
 * The tray app starting while libvirt cannot be reached: its state is built on a libvirt URI whose socket
 * nobody serves (a private path, never the shared daemon's configuration). The menu must say so at once,
 * with "Retry now", and turn into the VM list without a restart once the socket is served: here by socat,
 * relaying to the machine's real libvirtd, as libvirtd's own socket activation would on a desktop.
 */

const LIBVIRT_SOCKET = '/run/libvirt/libvirt-sock';

function labelsOf(model: MenuEntry[]): string[] {
  return model.map((entry) => (entry.type === 'separator' ? '---' : entry.label));
}

describe('the tray starts with libvirt unreachable and recovers by itself', { timeout: 90_000 }, () => {
  const cleanups: Array<() => Promise<unknown> | unknown> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  async function setUp() {
    const dir = await mkdtemp(join(tmpdir(), 'vms-tray-unreachable-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const socket = join(dir, 'sock');
    const engine = new Engine(resolveConfig({ uri: `qemu+unix:///system?socket=${socket}` }, { LC_ALL: 'C' }));
    const renders: Array<{ at: number; model: MenuEntry[]; listed: boolean }> = [];
    const waiters = new Set<() => void>();
    const tray = new TrayState({
      list: () => engine.list(),
      watch: (onEvent, options) => engine.watchLifecycle(onEvent, options),
      labelColors: () => engine.config.labelColors,
      defaultTemplate: () => undefined,
      render: (model, vms) => {
        renders.push({ at: performance.now(), model, listed: vms !== undefined });
        for (const waiter of [...waiters]) waiter();
      },
    });
    cleanups.push(() => tray.stop());
    /** Resolves with the first render (from now on, or already seen when `fromStart`) that passes `check`. */
    const renderWhere = (check: (r: (typeof renders)[number]) => boolean, timeoutMs: number) => new Promise<(typeof renders)[number]>((resolve, reject) => {
      const timer = setTimeout(() => { waiters.delete(look); reject(new Error(`no such menu within ${timeoutMs} ms; last: ${JSON.stringify(labelsOf(renders.at(-1)?.model ?? []))}`)); }, timeoutMs);
      const look = () => {
        const hit = renders.find(check);
        if (!hit) return;
        clearTimeout(timer);
        waiters.delete(look);
        resolve(hit);
      };
      waiters.add(look);
      look();
    });
    let relay: ResultPromise | undefined;
    const serve = () => {
      // One connection per virsh, relayed to the real daemon; stopped by pid in the cleanup.
      relay = execa('socat', [`UNIX-LISTEN:${socket},fork`, `UNIX-CONNECT:${LIBVIRT_SOCKET}`], { reject: false, stdio: 'ignore', env: { LC_ALL: 'C' } });
      // Stopped last (cleanups run in reverse): once the tray's virsh is gone, socat's forked relays
      // have ended and been reaped by it.
      cleanups.unshift(async () => {
        await new Promise((resolve) => setTimeout(resolve, 300));
        relay!.kill();
        await relay;
      });
    };
    return { tray, renders, renderWhere, serve, socket };
  }

  async function socketServed(socket: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if ((await execa('test', ['-S', socket], { reject: false })).exitCode === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error(`socat did not create ${socket}`);
  }

  it('shows "libvirt unreachable" with a retry at once, then the VM list once libvirtd answers', async () => {
    const { tray, renderWhere, serve, socket } = await setUp();
    const started = performance.now();
    await tray.start();
    const startedIn = performance.now() - started;
    const model = tray.model();
    const labels = labelsOf(model);
    assert.ok(labels.includes(UNREACHABLE), `the menu says libvirt is unreachable: ${JSON.stringify(labels)}`);
    assert.match(labels[1], /Cannot reach libvirt|Lost libvirt's events/);
    assert.ok(model.some((e) => e.type === 'item' && e.action?.id === 'retry' && e.enabled), 'the menu offers "Retry now"');
    assert.ok(tray.unreachable());
    process.stdout.write(`# start() answered in ${startedIn.toFixed(0)} ms with libvirt unreachable\n`);
    assert.ok(startedIn < 5000, 'starting does not wait for libvirt');

    // Let the watch fail and back off a few times, as it would while libvirtd is still starting.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const servedAt = performance.now();
    serve();
    await socketServed(socket);
    const recovered = await renderWhere((r) => r.at > servedAt && r.listed && !tray.unreachable(), 30_000);
    const recoveredIn = recovered.at - servedAt;
    process.stdout.write(`# the VM list replaced "libvirt unreachable" ${recoveredIn.toFixed(0)} ms after the socket was served, without a restart\n`);
    assert.ok(!labelsOf(recovered.model).includes(UNREACHABLE));
    assert.ok(!recovered.model.some((e) => e.type === 'item' && e.action?.id === 'retry'), '"Retry now" is gone');
    await tray.subscribed();
  });

  it('"Retry now" subscribes at once instead of waiting for the backed-off attempt', async () => {
    const { tray, renderWhere, serve, socket } = await setUp();
    await tray.start();
    assert.ok(tray.unreachable());
    // Past the first few failures the watch waits up to 10 s between attempts.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    serve();
    await socketServed(socket);
    const retriedAt = performance.now();
    await tray.retry();
    const listed = await renderWhere((r) => r.at >= retriedAt && r.listed && !tray.unreachable(), 10_000);
    process.stdout.write(`# after "Retry now" the VM list showed in ${(listed.at - retriedAt).toFixed(0)} ms\n`);
    assert.ok(listed.at - retriedAt < 5000);
  });
});
