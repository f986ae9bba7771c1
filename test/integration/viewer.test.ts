import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import { viewerArgs } from '../../main/engine/viewer.js';
import { VmsService } from '../../main/ipc/service.js';
import { runTrayAction } from '../../main/tray/actions.js';
import { makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { asDesktopUser, DESKTOP_USER, listeningTcpSockets, qemuPid, startXvfb, type Xvfb } from '../helpers/display.js';
import { startAndConnect } from '../helpers/guest.js';
import type { SerialConsole } from '../helpers/serial-console.js';

/**
 * The tray's "Open viewer" on a booted TCG guest: virt-viewer attaches through libvirt (SPICE listens on no
 * port) and opens under Xvfb with the window title `[domain] name`, and a screenshot of the X screen shows
 * its window with the guest's display; the SPICE USB redirection channels come up through libvirt too.
 */

const OUTPUT = join(new URL('../../../', import.meta.url).pathname, 'test-output');
const tag = randomBytes(2).toString('hex');
const TEMPLATE = `vw${tag}-tpl`;
const VM = `vw${tag}-mail`;

/** The share of pixels that are not black in a region of a PNG (ImageMagick). */
async function litShare(png: string, geometry: string): Promise<number> {
  const { stdout } = await execa('convert', [png, '-crop', geometry, '+repage', '-colorspace', 'Gray', '-threshold', '2%', '-format', '%[fx:mean]', 'info:']);
  return Number(stdout);
}

describe('Open viewer', { timeout: 600_000 }, () => {
  let env: TestEngine;
  let serial: SerialConsole | undefined;
  let xvfb: Xvfb | undefined;
  let display = '';
  let viewerPid: number | undefined;

  before(async () => {
    env = await makeTestEngine('viewer');
    await env.engine.importTemplate(TEMPLATE, await testGuestImage());
    await env.engine.create(VM, { template: TEMPLATE, label: 'work', memoryMiB: 256, vcpus: 1 });
    ({ xvfb, display } = await startXvfb());
    await mkdir(OUTPUT, { recursive: true });
  });

  after(async () => {
    serial?.close();
    if (viewerPid) {
      try { process.kill(viewerPid); } catch { /* already gone */ }
    }
    xvfb?.kill();
    await xvfb;
    await env?.cleanup();
  });

  it('opens virt-viewer on the guest’s SPICE display through libvirt, titled [domain] name; no TCP port is open', async () => {
    const started = performance.now();
    serial = await startAndConnect(env.engine, VM, 300_000);
    process.stdout.write(`# the TCG guest booted in ${Math.round((performance.now() - started) / 1000)} s\n`);

    const service = new VmsService({
      engine: () => env.engine,
      settings: { get: () => ({}), set: () => undefined },
      spawnEnv: () => ({ ...process.env, DISPLAY: display }),
    });
    // Before: the screen is all black, so whatever lights up later is the viewer.
    const empty = join(OUTPUT, 'viewer-before.png');
    await execa('import', ['-window', 'root', empty], { env: { ...process.env, DISPLAY: display } });
    assert.equal(await litShare(empty, '1600x1000+0+0'), 0);

    // SPICE listens nowhere: no TCP socket of the VM's QEMU, and libvirt has no display address to give.
    const pid = await qemuPid(VM);
    assert.deepEqual(await listeningTcpSockets(pid), [], `QEMU (pid ${pid}) listens on no TCP port`);
    const domdisplay = await execa('virsh', ['-c', env.config.uri, 'domdisplay', VM], { reject: false, env: { LC_ALL: 'C' } });
    assert.doesNotMatch(String(domdisplay.stdout), /:\/\//, 'no display URI');

    let opened: Awaited<ReturnType<VmsService['openViewer']>> | undefined;
    const clicked = performance.now();
    const errors: string[] = [];
    // The tray's own action, on the service the tray uses.
    await runTrayAction({ id: 'view', vm: VM }, {
      service: {
        vmAction: (action, name) => service.vmAction(action, name),
        newDisposable: () => service.newDisposable(),
        openViewer: async (name) => { opened = await service.openViewer(name); },
        openConsole: (name) => service.openConsole(name),
        usbAttach: async () => assert.fail('no USB expected'),
        usbDetach: async () => assert.fail('no USB expected'),
        clipboard: async () => assert.fail('no clipboard action expected'),
      },
      showWindow: () => assert.fail('no window expected'),
      confirm: async () => assert.fail('no confirmation expected'),
      showError: (message) => errors.push(message),
      refreshDevices: () => assert.fail('no USB expected'),
      retry: async () => assert.fail('no retry expected'),
      quit: () => assert.fail('no quit expected'),
    });
    assert.deepEqual(errors, []);
    assert.ok(opened?.pid, 'virt-viewer was started');
    viewerPid = opened.pid;
    assert.equal(opened.title, `[work] ${VM}`);
    const cmdline = (await readFile(`/proc/${viewerPid}/cmdline`, 'utf8')).split('\0');
    assert.deepEqual(cmdline.slice(0, 6), ['virt-viewer', ...viewerArgs(env.config.uri, VM)]);

    const xenv = { ...process.env, DISPLAY: display };
    // virt-viewer shows the domain's <title> and adds the monitor number: `[work] name (1)`.
    const search = await execa('xdotool', ['search', '--sync', '--onlyvisible', '--name', `^\\[work\\] ${VM}`], { env: xenv, timeout: 60_000 });
    process.stdout.write(`# Open viewer to a mapped window: ${Math.round(performance.now() - clicked)} ms\n`);
    const window = String(search.stdout).split('\n')[0];
    const title = String((await execa('xdotool', ['getwindowname', window], { env: xenv })).stdout);
    assert.match(title, new RegExp(`^\\[work\\] ${VM}( \\(1\\))?$`));

    // The guest's own screen is in the window: clear its console, then fill it with a block of text, and
    // the window's body (below the viewer's title bar) lights up accordingly.
    // The window follows the guest's resolution, so its place is read again for every screenshot.
    let body = '';
    const measure = async (path: string) => {
      const geometry = String((await execa('xdotool', ['getwindowgeometry', '--shell', window], { env: xenv })).stdout);
      const value = (key: string) => Number(new RegExp(`^${key}=(\\d+)$`, 'm').exec(geometry)![1]);
      // Inside the frame: below the title bar, clear of the borders.
      body = `${Math.min(value('WIDTH'), 1600 - value('X')) - 16}x${Math.min(value('HEIGHT'), 1000 - value('Y')) - 70}+${value('X') + 8}+${value('Y') + 60}`;
      await execa('import', ['-window', 'root', path], { env: xenv });
      return litShare(path, body);
    };
    const shot = join(OUTPUT, 'viewer.png');
    await serial.run("printf '\\033[2J\\033[H' > /dev/tty1", 10_000);
    let dark = 1;
    for (let attempt = 0; attempt < 20 && dark > 0.01; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      dark = await measure(join(OUTPUT, 'viewer-cleared.png'));
    }
    await serial.run("i=0; while [ $i -lt 30 ]; do echo '################################################################################################'; i=$((i+1)); done > /dev/tty1", 10_000);
    let lit = 0;
    for (let attempt = 0; attempt < 30 && lit - dark < 0.05; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      lit = await measure(shot);
    }
    process.stdout.write(`# viewer window body ${body}: ${(dark * 100).toFixed(1)} % lit with the guest console cleared, ${(lit * 100).toFixed(1)} % after the guest wrote to it; ${shot}\n`);
    assert.ok(dark < 0.01, `the cleared guest console is dark in the viewer (${(dark * 100).toFixed(1)} % lit)`);
    assert.ok(lit - dark > 0.05, `the guest's text shows in the viewer (${(lit * 100).toFixed(1)} % lit)`);
  });

  it('gives the unprivileged user’s viewer both USB redirection channels, each connection handed out by libvirt', async () => {
    // SPICE takes one client at a time: the tray's viewer makes room first.
    if (viewerPid) process.kill(viewerPid);
    viewerPid = undefined;
    const [command, ...args] = asDesktopUser(['env', '-i', `DISPLAY=${display}`, `HOME=/home/${DESKTOP_USER}`, 'LC_ALL=C',
      'virt-viewer', '--spice-debug', ...viewerArgs(env.config.uri, VM)]);
    const viewer = execa(command, args, { reject: false, timeout: 90_000, all: true });
    let log = '';
    viewer.all!.on('data', (chunk: Buffer) => { log += chunk.toString(); });
    const channelsUp = () => [0, 1].every((id) => log.includes(`usbredir-9:${id}: channel up`));
    try {
      for (let waited = 0; waited < 60_000 && !channelsUp(); waited += 250) await new Promise((resolve) => setTimeout(resolve, 250));
      assert.ok(channelsUp(), `both usbredir channels connect:\n${log.split('\n').filter((l) => l.includes('usbredir')).slice(0, 20).join('\n')}`);
      // spice-gtk asks virt-viewer for each channel's connection, which virt-viewer gets from libvirt.
      assert.match(log, /usbredir-9:0: requesting fd/);
      assert.match(log, /usbredir-9:1: requesting fd/);
    } finally {
      viewer.kill();
      await viewer;
    }
  });
});
