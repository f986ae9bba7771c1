import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { resolveConfig } from '../../main/engine/config.js';
import { makeContext } from '../../main/engine/context.js';
import { guestKernelUp, isPoolMember, metadataSetXml, parseDomstats, poolCanServe, stateReason, vcpuBusy } from '../../main/engine/disposable-pool.js';
import { textColorOn, viewerCss } from '../../main/engine/viewer-color.js';
import { viewerArgs, viewerTitle } from '../../main/engine/viewer.js';
import { childEnv } from '../../main/app/child-env.js';
import { vmNameProblem } from '../../main/engine/names.js';
import type { VmInfo } from '../../main/engine/types.js';
import { vmDomainSpec } from '../../main/engine/vm-create.js';
import { buildDomainXml } from '../../main/engine/xml/domain-build.js';
import { editDomainXml, setClipboard, setSharedFolderSource } from '../../main/engine/xml/domain-edit.js';
import { readDomain } from '../../main/engine/xml/domain-read.js';
import { child, childElements, find, parseXml } from '../../main/engine/xml/tree.js';

const ctx = makeContext(resolveConfig({ defaultMemoryMiB: 2048 }, { VMS_ACCEL: 'tcg', VMS_PKG_CACHE_DIR: '/srv/pkg', VMS_IMAGES_DIR: '/images' }));

test('every VM gets the pacman caches over 9p, the shared one read-only, without shared memory; valid per libvirt', async () => {
  const xml = buildDomainXml(vmDomainSpec(ctx, 'mail', { kind: 'appvm', label: 'work', template: 'arch' }, { memoryMiB: 1024, vcpus: 1, rootVolume: 'mail.root.qcow2', homeVolume: 'mail.home.abc123.qcow2' }));
  const vm = readDomain(xml)!;
  assert.deepEqual(vm.sharedFolders, [{ tag: 'pkg-shared', source: '/srv/pkg/shared' }, { tag: 'pkg-vm', source: '/srv/pkg/mail' }]);
  const domain = parseXml(xml);
  const folders = childElements(find(domain, 'devices')!, 'filesystem');
  assert.deepEqual(folders.map((f) => f.attrs), [{ type: 'mount', accessmode: 'mapped' }, { type: 'mount', accessmode: 'mapped' }]);
  assert.deepEqual(folders.map((f) => Boolean(child(f, 'readonly'))), [true, false], 'only the shared cache is read-only');
  assert.deepEqual(folders.map((f) => child(f, 'driver')), [undefined, undefined], 'no virtiofs driver: 9p is the default');
  assert.equal(find(domain, 'memoryBacking'), undefined, '9p needs no memory shared with another process');
  assert.deepEqual(vm.disks.map((d) => [d.target, d.pool, d.volume]), [['vda', 'vms', 'mail.root.qcow2'], ['vdb', 'vms', 'mail.home.abc123.qcow2']]);
  const dir = await mkdtemp(join(tmpdir(), 'vms-fs-'));
  try {
    await writeFile(join(dir, 'd.xml'), xml);
    const result = await execa('virt-xml-validate', [join(dir, 'd.xml'), 'domain'], { reject: false });
    assert.equal(result.exitCode, 0, result.stderr);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  // A clone points pkg-vm at its own folder and leaves the shared one alone.
  const cloned = readDomain(editDomainXml(xml, setSharedFolderSource('pkg-vm', '/srv/pkg/mail2')))!;
  assert.deepEqual(cloned.sharedFolders, [{ tag: 'pkg-shared', source: '/srv/pkg/shared' }, { tag: 'pkg-vm', source: '/srv/pkg/mail2' }]);
});

test('the name of the shared cache folder cannot be a VM name', () => {
  assert.match(vmNameProblem('shared') ?? '', /reserved/);
});

test('SPICE listens nowhere, and the clipboard mutator turns copy and paste off and on with that graphics element', () => {
  const xml = buildDomainXml(vmDomainSpec(ctx, 'mail', { kind: 'appvm', label: 'work' }, { memoryMiB: 1024, vcpus: 1, rootVolume: 'mail.root.qcow2' }));
  const graphics = find(parseXml(xml), 'devices', 'graphics')!;
  assert.deepEqual(graphics.attrs, { type: 'spice' }, 'no port, no autoport, no listen address');
  assert.deepEqual(childElements(graphics, 'listen').map((l) => l.attrs), [{ type: 'none' }]);
  assert.equal(readDomain(xml)!.clipboard, false, 'off unless asked for: vms clipboard copy|paste is the way between VMs');
  const on = editDomainXml(xml, setClipboard(true));
  assert.equal(readDomain(on)!.clipboard, true);
  assert.equal((on.match(/<clipboard /g) ?? []).length, 1);
  assert.deepEqual(childElements(find(parseXml(on), 'devices', 'graphics')!, 'listen').map((l) => l.attrs), [{ type: 'none' }], 'the switch keeps the listen element');
  assert.equal(readDomain(editDomainXml(on, setClipboard(false)))!.clipboard, false);
});

test('settings: the pool size and the cache folder come from settings, the environment wins', () => {
  assert.equal(resolveConfig({}, {}).disposablePoolSize, 1, 'one preloaded disposable by default');
  assert.equal(resolveConfig({ disposablePoolSize: 3 } as never, {}).disposablePoolSize, 3);
  assert.equal(resolveConfig({ disposablePoolSize: 3 } as never, { VMS_DISPOSABLE_POOL: '0' }).disposablePoolSize, 0);
  assert.throws(() => resolveConfig({}, { VMS_DISPOSABLE_POOL: 'lots' }), /VMS_DISPOSABLE_POOL=lots/);
  assert.equal(resolveConfig({}, {}).pkgCacheDir, '/var/lib/libvirt/filesystems/pkg');
  assert.equal(resolveConfig({ pkgCacheDir: '/a' }, { VMS_PKG_CACHE_DIR: '/b' }).pkgCacheDir, '/b');
});

function disposable(name: string, preloaded: boolean, template = 'arch'): VmInfo {
  return { name, uuid: '', meta: { kind: 'disposable', label: 'disposable', template, preloaded: preloaded || undefined }, state: 'paused', persistent: false, memoryMiB: 2048, vcpus: 2, disks: [], clipboard: true };
}

test('the pool serves default disposables of its template only', () => {
  assert.ok(isPoolMember(disposable('disp1', true), 'arch'));
  assert.ok(!isPoolMember(disposable('disp1', true), 'other'));
  assert.ok(!isPoolMember(disposable('disp1', false)));
  const pooled = makeContext({ ...ctx.config, defaultTemplate: 'arch', disposablePoolSize: 1 });
  assert.ok(poolCanServe(pooled, {}));
  assert.ok(poolCanServe(pooled, { template: 'arch', label: 'disposable' }));
  assert.ok(!poolCanServe(pooled, { label: 'work' }), 'another domain gets its own color and title: started cold');
  assert.ok(!poolCanServe(pooled, { memoryMiB: 4096 }));
  assert.ok(!poolCanServe(pooled, { paused: true, preloaded: true }), 'the filler itself never takes from the pool');
  assert.ok(!poolCanServe(makeContext({ ...pooled.config, disposablePoolSize: 0 }), {}), '0 turns the pool off');
});

test('taking a preloaded disposable rewrites its metadata without the preloaded flag', () => {
  const xml = metadataSetXml({ kind: 'disposable', label: 'disposable', template: 'arch', preloaded: false, created: '2026-01-01T00:00:00.000Z' });
  assert.equal(xml, '<vm>\n  <kind>disposable</kind>\n  <label>disposable</label>\n  <template>arch</template>\n  <created>2026-01-01T00:00:00.000Z</created>\n</vm>\n');
});

test('boot detection: vCPU time plus run-queue wait, per vCPU', () => {
  const before = parseDomstats("Domain: 'disp1'\n  state.state=1\n  vcpu.current=2\n  vcpu.0.time=1000000000\n  vcpu.0.delay=0\n  vcpu.1.time=0\n  vcpu.1.delay=0\n");
  assert.equal(before['vcpu.current'], '2');
  const busy = { ...before, 'vcpu.0.time': '1800000000', 'vcpu.0.delay': '200000000', 'vcpu.1.time': '900000000' };
  assert.equal(vcpuBusy(before, busy, 1e9), (0.8e9 + 0.2e9 + 0.9e9) / 1e9 / 2);
  assert.equal(vcpuBusy(before, before, 1e9), 0);
});

test('boot detection waits for the guest kernel: firmware reports no balloon statistics', () => {
  assert.equal(guestKernelUp({ 'balloon.current': '2097152', 'balloon.last-update': '0', 'balloon.rss': '202056' }), false);
  assert.equal(guestKernelUp({ 'balloon.last-update': '1764100000', 'balloon.usable': '1800000' }), true);
});

test('the viewer’s header bar takes the domain color, with readable text', () => {
  assert.equal(textColorOn('#2563eb'), '#ffffff');
  assert.equal(textColorOn('#d97706'), '#000000');
  assert.equal(textColorOn('#111827'), '#ffffff');
  const css = viewerCss('#2563eb', '/home/u/.config/gtk-3.0/gtk.css');
  assert.match(css, /^@import url\("file:\/\/\/home\/u\/\.config\/gtk-3\.0\/gtk\.css"\);$/m, 'the user’s own CSS still applies');
  assert.match(css, /headerbar, headerbar:backdrop[^{]*\{[^}]*background: #2563eb;[^}]*color: #ffffff;/);
  assert.throws(() => viewerCss('red; } * { color: red'), /not a color/);
});

test('the viewer attaches through libvirt by domain name, and its title is the domain’s own', () => {
  assert.deepEqual(viewerArgs('qemu:///system', 'mail'), ['--connect', 'qemu:///system', '--attach', '--domain-name', 'mail']);
  const xml = buildDomainXml(vmDomainSpec(ctx, 'mail', { kind: 'appvm', label: 'work' }, { memoryMiB: 1024, vcpus: 1, rootVolume: 'mail.root.qcow2' }));
  assert.equal(find(parseXml(xml), 'title')?.children[0], viewerTitle({ name: 'mail', meta: { kind: 'appvm', label: 'work' } }));
  assert.equal(viewerTitle({ name: 'mail', meta: { kind: 'appvm', label: 'work' } }), '[work] mail');
});

test('the tray’s viewer gets neither Electron’s nor the AppImage’s variables', () => {
  const env = childEnv({
    HOME: '/home/u', DISPLAY: ':0', ELECTRON_RUN_AS_NODE: '1', CHROME_DESKTOP: 'vms.desktop',
    APPDIR: '/tmp/.mount_vmsX', APPIMAGE: '/home/u/vms.AppImage', ARGV0: 'vms', OWD: '/home/u',
    LD_LIBRARY_PATH: '/tmp/.mount_vmsX/usr/lib', PATH: '/tmp/.mount_vmsX:/usr/local/bin:/usr/bin',
    XDG_DATA_DIRS: '/tmp/.mount_vmsX/usr/share:/usr/share',
  });
  assert.deepEqual(env, { HOME: '/home/u', DISPLAY: ':0', PATH: '/usr/local/bin:/usr/bin', XDG_DATA_DIRS: '/usr/share' });
  assert.deepEqual(childEnv({ PATH: '/usr/bin', LD_LIBRARY_PATH: '/opt/lib' }), { PATH: '/usr/bin', LD_LIBRARY_PATH: '/opt/lib' }, 'outside an AppImage nothing else changes');
});

test('only a disposable the filler paused is ready: libvirt shows one it is still starting as paused too', () => {
  assert.equal(stateReason('paused (user)'), 'user');
  assert.equal(stateReason('paused (starting up)'), 'starting up');
  assert.equal(stateReason('running'), undefined);
});
