import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { downloadVolume, listVolumes, refreshPool, uploadVolume } from '../../main/engine/libvirt/storage.js';
import { createVolumes } from '../../main/engine/libvirt/storage.js';
import { prepareTemplateStart, publishTemplate } from '../../main/engine/templates.js';
import { CLI, makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { DESKTOP_USER, listeningTcpSockets, processUid, qemuPid, runAsDesktopUser, startXvfb, type Xvfb } from '../helpers/display.js';
import { sh, startAndConnect } from '../helpers/guest.js';
import { SerialConsole } from '../helpers/serial-console.js';
import { sysfsTree } from '../helpers/sysfs.js';

/**
 * Daily use on booted TCG guests, as the unprivileged desktop user: the pacman caches over 9p (the shared
 * one read-only, both libvirt pools that come back after a host reboot), the serial console from a script
 * and its log across boots, USB hot-plug with QEMU's emulated USB storage, `vms view` under Xvfb, per-VM
 * clipboard, and preloaded disposables.
 */

const OUTPUT = join(new URL('../../../', import.meta.url).pathname, 'test-output');
const tag = randomBytes(2).toString('hex');
const TPL = `du${tag}-tpl`;
const VM = `du${tag}-a`;
const IDLE = `du${tag}-b`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(300);
  }
}

describe('daily use with booted guests', { timeout: 900_000 }, () => {
  let t: TestEngine;
  let c: SerialConsole | undefined;
  const pids: number[] = [];
  let xvfb: Xvfb | undefined;

  before(async () => {
    t = await makeTestEngine('daily', { disposablePoolSize: 1 });
    await t.engine.importTemplate(TPL, await testGuestImage());
    await t.engine.create(VM, { template: TPL, label: 'work' });
    await t.engine.create(IDLE, { template: TPL });
    await mkdir(OUTPUT, { recursive: true });
  });
  after(async () => {
    c?.close();
    for (const pid of pids) {
      try { process.kill(pid); } catch { /* gone */ }
    }
    xvfb?.kill();
    await xvfb;
    await t?.cleanup();
  });

  test('the shared pacman cache is read-only in the guest, its own cache is writable; both come back after a host reboot', async () => {
    const lv = t.engine.ctx.libvirt;
    const sharedPool = `${t.pool}-pkg-shared`;
    const vmPool = `${t.pool}-pkg-${VM}`;
    assert.deepEqual(await listVolumes(lv, vmPool), [], 'the VM’s cache pool is made (empty) at create');
    // A package the host has (a template build puts them there as root): through libvirt, as the user.
    const pkg = join(t.scratch, 'zlib.pkg');
    await writeFile(pkg, 'package from the host');
    await createVolumes(lv, sharedPool, [{ name: 'zlib-1:1.3.1-2-x86_64.pkg.tar.zst', format: 'raw', capacity: 0, readOnly: true }]);
    await uploadVolume(lv, sharedPool, 'zlib-1:1.3.1-2-x86_64.pkg.tar.zst', pkg);
    const mountsUnder = async (root: string) => (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')
      .map((line) => line.split(' ')[4]).filter((mountPoint) => mountPoint?.startsWith(root));
    c = await startAndConnect(t.engine, VM, 300_000);
    assert.deepEqual(await mountsUnder(t.config.pkgCacheDir), [], 'no bind mount on the host');
    // The test guest's initramfs loads 9p, 9pnet and 9pnet_virtio (Arch templates: mkinitcpio MODULES).
    assert.match(await sh(c, "lsmod | awk '{print $1}' | grep -x -E '9p|9pnet|9pnet_virtio' | sort | tr '\\n' ' '"), /^9p 9pnet 9pnet_virtio $/);
    const mount9p = 'modprobe -a 9pnet_virtio 9p; mkdir -p /mnt/shared /mnt/own && mount -t 9p -o trans=virtio,version=9p2000.L pkg-shared /mnt/shared';
    await sh(c, `${mount9p} && mount -t 9p -o trans=virtio,version=9p2000.L pkg-vm /mnt/own`);
    assert.equal(await sh(c, 'cat "/mnt/shared/zlib-1:1.3.1-2-x86_64.pkg.tar.zst"'), 'package from the host');
    // Mounted read-write on purpose: QEMU itself refuses the write.
    const write = await c.run('echo evil > /mnt/shared/evil');
    assert.notEqual(write.exitCode, 0);
    assert.match(write.output, /Read-only file system/);
    await refreshPool(lv, sharedPool);
    assert.deepEqual((await listVolumes(lv, sharedPool)).map((v) => v.name), ['zlib-1:1.3.1-2-x86_64.pkg.tar.zst']);
    await sh(c, 'echo mine > /mnt/own/bash-5.2.037-1-x86_64.pkg.tar.zst && sync');
    await refreshPool(lv, vmPool);
    assert.equal((await downloadVolume(lv, vmPool, 'bash-5.2.037-1-x86_64.pkg.tar.zst')).toString(), 'mine\n');
    // pacman hands its download folder to the alpm user: the guest's chown works (mapped: kept in xattrs),
    // while the host folder stays the QEMU user's, mode 0700.
    assert.equal(await sh(c, 'mkdir /mnt/own/download-x && chown 1000:1000 /mnt/own/download-x && stat -c %u:%g /mnt/own/download-x'), '1000:1000');
    const qemuUser = Number((await execa('id', ['-u', 'libvirt-qemu'])).stdout);
    const onHost = await stat(join(t.config.pkgCacheDir, VM, 'download-x'));
    assert.deepEqual([onHost.uid, onHost.mode & 0o7777], [qemuUser, 0o700]);
    assert.equal(await sh(c, 'rmdir /mnt/own/download-x && echo gone'), 'gone');

    const usage = await t.vms(['cache']);
    assert.equal(usage.exitCode, 0, usage.stderr);
    assert.match(usage.stdout, /^shared \(read-only in VMs\) +\S+ \S+ +1 file$/m);
    assert.match(usage.stdout, new RegExp(`^${VM} +\\S+ \\S+ +1 file$`, 'm'));

    // A host reboot leaves the pools stopped until libvirtd autostarts them; a start needs none of it.
    c.close();
    await t.engine.stop(VM);
    await execa('virsh', ['-c', t.config.uri, 'pool-destroy', sharedPool]);
    await execa('virsh', ['-c', t.config.uri, 'pool-destroy', vmPool]);
    const start = await t.vms(['start', VM]);
    assert.equal(start.exitCode, 0, start.stderr);
    c = await SerialConsole.forDomain(VM);
    await c.waitFor('VMS-GUEST-UP', 300_000);
    await sh(c, mount9p);
    assert.match((await c.run('touch /mnt/shared/x')).output, /Read-only file system/);
    assert.deepEqual(await mountsUnder(t.config.pkgCacheDir), []);
  });

  test('vms console works from a script, and --log keeps every boot', async () => {
    c?.close();
    c = undefined;
    const child = execa(process.execPath, [CLI, 'console', VM], { env: t.env, reject: false, stdin: 'pipe', timeout: 60_000 });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    await sleep(300);
    child.stdin!.write('echo BRIDGE-$((6*7))\n');
    await until('the guest’s answer through vms console', 30_000, async () => out.includes('BRIDGE-42'));
    child.stdin!.write('\x1d');
    const result = await child;
    assert.equal(result.exitCode, 0, String(result.stderr));

    const log = await t.vms(['console', VM, '--log']);
    assert.equal(log.exitCode, 0, log.stderr);
    assert.equal(log.stdout.match(/VMS-GUEST-UP/g)?.length, 2, 'both boots are in the log');
    c = await SerialConsole.forDomain(VM);
  });

  test('an emulated USB stick is hot-plugged into the running guest and taken out again', async () => {
    const image = join(t.scratch, 'usbstick.img');
    const data = Buffer.alloc(4 * 2 ** 20);
    data.write('VMS-USB-DATA-0123');
    await writeFile(image, data);
    const disk = `<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='${image}'/><target dev='sda' bus='usb'/></disk>`;
    c ??= await SerialConsole.forDomain(VM);
    await sh(c, 'modprobe -a xhci_pci usb_storage sd_mod; true');
    await t.engine.hotplug(VM, disk, { live: true, config: false });
    await until('/dev/sda in the guest', 60_000, async () => (await c!.run('test -b /dev/sda')).exitCode === 0);
    assert.equal(await sh(c, 'head -c 17 /dev/sda'), 'VMS-USB-DATA-0123');
    assert.match(await sh(c, 'cat /sys/block/sda/device/model'), /QEMU HARDDISK|QEMU USB/i);
    await t.engine.unplug(VM, disk, { live: true, config: false });
    await until('/dev/sda gone from the guest', 60_000, async () => (await c!.run('test -b /dev/sda')).exitCode !== 0);
  });

  test('USB passthrough through the command line: list from sysfs, --persist into a VM’s config and out again', async () => {
    const sysfs = join(t.scratch, 'sysfs');
    await sysfsTree(sysfs, { '3-1': { idVendor: '0781', idProduct: '5583', busnum: '3', devnum: '2', bDeviceClass: '00', manufacturer: 'SanDisk', product: 'Ultra Fit' } });
    const env = { ...t.env, VMS_SYSFS_ROOT: sysfs };
    const vms = (args: string[]) => execa(process.execPath, [CLI, ...args], { env, reject: false });

    let list = await vms(['usb', 'list']);
    assert.equal(list.exitCode, 0, String(list.stderr));
    assert.match(String(list.stdout), /^3-1 +0781:5583 +SanDisk Ultra Fit +-$/m);
    const refused = await vms(['usb', 'attach', IDLE, '3-1']);
    assert.equal(refused.exitCode, 1);
    assert.match(String(refused.stderr), /is shut off: start it first .*or add --persist/);

    const attach = await vms(['usb', 'attach', IDLE, '0781:5583', '--persist']);
    assert.equal(attach.exitCode, 0, String(attach.stderr));
    list = await vms(['usb', 'list', '--json']);
    assert.deepEqual(JSON.parse(String(list.stdout))[0].assignedTo, [IDLE]);
    assert.match((await execa('virsh', ['-c', t.config.uri, 'dumpxml', '--inactive', IDLE])).stdout, /<hostdev mode='subsystem' type='usb' managed='yes'>\s*<source startupPolicy='optional'>\s*<vendor id='0x0781'\/>/);

    const detach = await vms(['usb', 'detach', IDLE, '3-1', '--persist']);
    assert.equal(detach.exitCode, 0, String(detach.stderr));
    assert.doesNotMatch((await execa('virsh', ['-c', t.config.uri, 'dumpxml', '--inactive', IDLE])).stdout, /<hostdev/);
  });

  test('the clipboard is switched per VM', async () => {
    // SPICE clipboard sharing starts off for every domain (between VMs: vms clipboard copy|paste).
    assert.match((await t.vms(['clipboard', IDLE])).stdout, /: off\./);
    assert.equal((await t.vms(['clipboard', IDLE, 'on'])).exitCode, 0);
    assert.equal((await t.engine.info(IDLE)).clipboard, true);
    assert.doesNotMatch((await execa('virsh', ['-c', t.config.uri, 'dumpxml', IDLE])).stdout, /<clipboard copypaste='no'\/>/);
    const off = await t.vms(['clipboard', IDLE, 'off']);
    assert.equal(off.exitCode, 0, off.stderr);
    assert.equal((await t.engine.info(IDLE)).clipboard, false);
    assert.match((await execa('virsh', ['-c', t.config.uri, 'dumpxml', IDLE])).stdout, /<clipboard copypaste='no'\/>/);
    const running = await t.vms(['clipboard', VM, 'off']);
    assert.match(running.stdout, /from its next start/);
    assert.equal((await t.vms(['clipboard', VM, 'on'])).exitCode, 0);
  });

  test('vms view, run by an unprivileged libvirt user, shows the guest titled [domain] name in the domain color, and no TCP port is open (screenshot in test-output/)', async () => {
    // SPICE listens nowhere: no TCP socket of the VM's QEMU, and libvirt has no display address to give.
    const pid = await qemuPid(VM);
    assert.deepEqual(await listeningTcpSockets(pid), [], `QEMU (pid ${pid}) listens on no TCP port`);
    const domdisplay = await execa('virsh', ['-c', t.config.uri, 'domdisplay', VM], { reject: false, env: { LC_ALL: 'C' } });
    assert.doesNotMatch(String(domdisplay.stdout), /:\/\//, 'no display URI');

    let display: string;
    ({ xvfb, display } = await startXvfb('1280x900'));
    const env = { ...t.env, DISPLAY: display };
    const started = performance.now();
    const view = await runAsDesktopUser(process.execPath, [CLI, 'view', VM], {
      DISPLAY: display, HOME: `/home/${DESKTOP_USER}`, PATH: process.env.PATH,
      VMS_URI: t.env.VMS_URI, VMS_IMAGES_DIR: t.env.VMS_IMAGES_DIR, VMS_ACCEL: t.env.VMS_ACCEL,
      VMS_CONFIG_DIR: t.env.VMS_CONFIG_DIR, VMS_PKG_CACHE_DIR: t.env.VMS_PKG_CACHE_DIR, VMS_DISPOSABLE_POOL: '0',
    });
    assert.equal(view.exitCode, 0, String(view.stderr));
    const search = await execa('xdotool', ['search', '--sync', '--onlyvisible', '--name', `${VM}`], { env, timeout: 30_000 });
    process.stdout.write(`# vms view as ${DESKTOP_USER} to a mapped viewer window: ${Math.round(performance.now() - started)} ms\n`);
    const window = search.stdout.trim().split('\n')[0];
    const viewer = Number((await execa('xdotool', ['getwindowpid', window], { env })).stdout.trim());
    if (viewer > 0) pids.push(viewer);
    assert.equal(await processUid(viewer), Number((await execa('id', ['-u', DESKTOP_USER])).stdout), 'the viewer runs as the unprivileged user');
    assert.deepEqual((await readFile(`/proc/${viewer}/cmdline`, 'utf8')).split('\0').slice(0, 6),
      ['virt-viewer', '--connect', t.config.uri, '--attach', '--domain-name', VM]);
    const title = (await execa('xdotool', ['getwindowname', window], { env })).stdout.trim();
    // virt-viewer shows the domain's <title> and appends the display's number: "[work] name (1)".
    assert.match(title, new RegExp(`^\\[work\\] ${VM}( \\(1\\))?$`));
    // The guest's tty1 on the SPICE display: give it a line to show.
    await sh(c!, 'echo "vms view: $(hostname) on the SPICE display" > /dev/tty1');
    await sleep(2000);
    const shot = join(OUTPUT, 'daily-use-view.png');
    await execa('import', ['-window', 'root', shot], { env });
    assert.ok((await readFile(shot)).length > 1000);
    // The header bar is in the work color, #2563eb (rgb 37,99,235), through GTK CSS.
    const pixel = (await execa('convert', [shot, '-format', '%[pixel:p{300,10}]', 'info:'])).stdout;
    assert.match(pixel, /^s?rgb\(37,99,235\)$/, `header bar pixel: ${pixel}`);
    assert.deepEqual(await listeningTcpSockets(pid), [], 'still no TCP port with a viewer attached');
  });

  test('preloaded disposables: hidden, taken at once, replaced in the background, retired by a template update', async () => {
    c?.close();
    c = undefined;
    await t.engine.stop(VM);
    const pooled = async () => (await t.engine.list()).filter((vm) => vm.meta.preloaded && vm.meta.template === TPL);

    // The pool is empty: this one starts cold, and a filler starts in the background.
    let started = performance.now();
    const cold = await t.vms(['disposable', '--template', TPL, '--json']);
    assert.equal(cold.exitCode, 0, cold.stderr);
    const coldName = JSON.parse(cold.stdout).name as string;
    const coldConsole = await SerialConsole.forDomain(coldName);
    await coldConsole.waitFor('VMS-GUEST-UP', 300_000);
    await sh(coldConsole, 'true');
    const coldSeconds = (performance.now() - started) / 1000;
    coldConsole.close();
    await t.engine.kill(coldName);

    const ready = await until('a booted, paused preloaded disposable', 400_000, async () => (await t.engine.readyDisposables(TPL))[0]);
    assert.equal(ready.persistent, false);
    assert.ok(!JSON.parse((await t.vms(['list', '--json'])).stdout).some((vm: { name: string }) => vm.name === ready.name), 'vms list hides it');
    assert.ok(JSON.parse((await t.vms(['list', '--all', '--json'])).stdout).some((vm: { name: string }) => vm.name === ready.name), 'vms list --all shows it');

    started = performance.now();
    const warm = await t.vms(['disposable', '--template', TPL, '--json']);
    assert.equal(warm.exitCode, 0, warm.stderr);
    const taken = JSON.parse(warm.stdout) as { name: string; state: string; meta: { preloaded?: boolean } };
    assert.equal(taken.name, ready.name, 'the preloaded one was handed out');
    assert.equal(taken.state, 'running');
    assert.equal(taken.meta.preloaded, undefined);
    const warmConsole = await SerialConsole.forDomain(taken.name);
    await sh(warmConsole, 'true');
    const warmSeconds = (performance.now() - started) / 1000;
    process.stdout.write(`# vms disposable to a shell: cold ${coldSeconds.toFixed(1)} s, preloaded ${warmSeconds.toFixed(1)} s\n`);
    assert.ok(warmSeconds < coldSeconds, 'a preloaded disposable answers sooner');
    assert.ok(JSON.parse((await t.vms(['list', '--json'])).stdout).some((vm: { name: string }) => vm.name === taken.name), 'once taken it is listed');
    warmConsole.close();
    await t.engine.kill(taken.name);

    // The replacement boots in the background; a template update retires it, files and all.
    const replacement = await until('a replacement in the pool', 400_000, async () => (await t.engine.readyDisposables(TPL))[0]);
    assert.notEqual(replacement.name, taken.name);
    await sleep(1000);
    await prepareTemplateStart(t.engine.ctx, await t.engine.info(TPL));
    assert.equal(await publishTemplate(t.engine.ctx, TPL), true);
    assert.deepEqual(await pooled(), []);
    assert.deepEqual((await t.volumes()).filter((v) => v.startsWith(`${replacement.name}.`)), [], 'its volumes are gone');
  });
});
