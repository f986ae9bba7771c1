import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { formatUsbList } from '../../main/cli/commands/usb.js';
import { devicesSubmenu, usbStatus } from '../../main/tray/devices-menu.js';
import { buildMenuModel } from '../../main/tray/menu-model.js';
import type { VmInfo } from '../../main/engine/types.js';
import {
  hostdevMatches, hotplugTarget, parseUsbDevice, readUsbDevices, resolveUsbDevice, usbDeviceUses, usbHostdevsOf,
  usbHostdevXml, type UsbDevice,
} from '../../main/engine/usb.js';
import { buildDomainXml, type DomainSpec } from '../../main/engine/xml/domain-build.js';
import { parseXml, serializeXml, find } from '../../main/engine/xml/tree.js';
import { sysfsTree } from '../helpers/sysfs.js';

const HUB = { idVendor: '1d6b', idProduct: '0002', busnum: '1', devnum: '1', bDeviceClass: '09', product: 'xHCI Host Controller' };

test('USB devices are read from a sysfs tree: hubs and interfaces left out, names and numbers kept', async () => {
  const root = await mkdtemp(join(tmpdir(), 'vms-sysfs-'));
  try {
    await sysfsTree(root, {
      usb1: HUB,
      '1-1': { ...HUB, devnum: '2', product: 'USB2.0 Hub' },
      '1-1.2': { idVendor: '046D', idProduct: 'c52b', busnum: '1', devnum: '5', bDeviceClass: '00', manufacturer: 'Logitech', product: 'USB Receiver', speed: '12' },
      '1-1.2:1.0': { bInterfaceClass: '03' },
      '2-1': { idVendor: '0781', idProduct: '5583', busnum: '2', devnum: '3', bDeviceClass: '00', manufacturer: 'SanDisk', product: 'SanDisk Ultra Fit', serial: '4C53' },
      '2-2': { idVendor: '1050', idProduct: '0407', busnum: '2', devnum: '4', bDeviceClass: '00' },
    });
    const devices = await readUsbDevices(root);
    assert.deepEqual(devices.map((d) => d.id), ['1-1.2', '2-1', '2-2']);
    assert.deepEqual(devices[0], {
      id: '1-1.2', busnum: 1, devnum: 5, vendorId: '046d', productId: 'c52b', manufacturer: 'Logitech', product: 'USB Receiver',
      serial: undefined, deviceClass: '00', speed: '12',
    });
    const uses = usbDeviceUses(devices, []);
    assert.deepEqual(uses.map((d) => d.name), ['Logitech USB Receiver', 'SanDisk Ultra Fit', 'USB device 1050:0407']);
    assert.deepEqual(await readUsbDevices(join(root, 'nothing')), [], 'no USB bus: no devices');
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('odd sysfs entries are ignored', () => {
  assert.equal(parseUsbDevice('1-1', { idVendor: 'zzzz', idProduct: '0001', busnum: '1', devnum: '2' }), undefined);
  assert.equal(parseUsbDevice('1-1', { idVendor: '0001', idProduct: '0001', busnum: '0', devnum: '2' }), undefined);
  assert.equal(parseUsbDevice('../1-1', { idVendor: '0001', idProduct: '0001', busnum: '1', devnum: '2' }), undefined);
});

const stick: UsbDevice = { id: '2-1', busnum: 2, devnum: 3, vendorId: '0781', productId: '5583', deviceClass: '00', product: 'Ultra Fit', manufacturer: 'SanDisk' };
const mouse: UsbDevice = { id: '1-1.2', busnum: 1, devnum: 5, vendorId: '046d', productId: 'c52b', deviceClass: '00' };
const mouse2: UsbDevice = { ...mouse, id: '1-1.3', devnum: 6 };

const spec: DomainSpec = {
  name: 'mail', meta: { kind: 'appvm', label: 'work', template: 'arch' }, memoryMiB: 1024, vcpus: 1, accel: 'kvm',
  disks: [{ target: 'vda', pool: 'vms', volume: 'mail.root.qcow2' }], nvramPath: '/images/vms/mail/nvram.fd',
  consoleLogPath: '/images/vms/mail/console.log', network: { type: 'user' }, clipboard: true,
  sharedFolders: [{ source: '/srv/pkg/shared', tag: 'pkg-shared', readOnly: true }, { source: '/srv/pkg/mail', tag: 'pkg-vm' }],
};

/** The domain XML with these hostdevs added to <devices>. */
function domainWith(...hostdevXml: string[]): string {
  const domain = parseXml(buildDomainXml(spec));
  find(domain, 'devices')!.children.push(...hostdevXml.map((x) => parseXml(x)));
  return serializeXml(domain);
}

test('the hostdev XML is valid in a whole domain, per libvirt’s own schema', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vms-hostdev-'));
  try {
    const file = join(dir, 'domain.xml');
    await writeFile(file, domainWith(usbHostdevXml(stick), usbHostdevXml(mouse, { remembered: true })));
    const result = await execa('virt-xml-validate', [file, 'domain'], { reject: false });
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  assert.match(usbHostdevXml(stick), /<vendor id="0x0781"\/>[\s\S]*<product id="0x5583"\/>[\s\S]*<address bus="2" device="3"\/>/);
  const remembered = usbHostdevXml(stick, { remembered: true });
  assert.match(remembered, /<source startupPolicy="optional">/);
  assert.doesNotMatch(remembered, /<address/, 'remembered by model, so it is found again after a replug');
});

test('hostdevs are read back from a domain and matched as libvirt does: by port, else by model', () => {
  const found = usbHostdevsOf(domainWith(usbHostdevXml(stick), usbHostdevXml(mouse, { remembered: true })));
  assert.deepEqual(found.map((h) => h.source), [
    { vendorId: '0781', productId: '5583', bus: 2, device: 3 },
    { vendorId: '046d', productId: 'c52b', bus: undefined, device: undefined },
  ]);
  assert.ok(hostdevMatches(found[0].source, stick));
  assert.ok(!hostdevMatches(found[0].source, { ...stick, devnum: 9 }), 'a replugged device has another number');
  assert.ok(hostdevMatches(found[1].source, mouse) && hostdevMatches(found[1].source, mouse2), 'by model: any of them');
  assert.match(found[0].xml, /^<hostdev mode="subsystem" type="usb" managed="yes">/);
  assert.deepEqual(usbHostdevsOf(buildDomainXml(spec)), []);
});

test('which VM holds a device: a running one holds it, a shut-off one takes it at start', () => {
  const uses = usbDeviceUses([stick, mouse], [
    { name: 'mail', state: 'running', xml: domainWith(usbHostdevXml(stick)) },
    { name: 'bank', state: 'shut off', xml: domainWith(usbHostdevXml(stick, { remembered: true })) },
    { name: 'idle', state: 'running', xml: domainWith() },
  ]);
  assert.equal(uses[0].heldBy, 'mail');
  assert.deepEqual(uses[0].assignedTo, ['bank']);
  assert.equal(uses[1].heldBy, undefined);
  const table = formatUsbList(uses);
  assert.match(table, /^2-1 +0781:5583 +SanDisk Ultra Fit +mail$/m);
  assert.match(table, /^1-1\.2 +046d:c52b +USB device 046d:c52b +-$/m);
  assert.equal(formatUsbList([]), 'No USB devices on this host.');
});

test('devices are named by port, by model when unambiguous, or by bus.device', () => {
  const devices = [stick, mouse, mouse2];
  assert.equal(resolveUsbDevice(devices, '2-1'), stick);
  assert.equal(resolveUsbDevice(devices, '0781:5583'), stick);
  assert.equal(resolveUsbDevice(devices, '1.6'), mouse2);
  assert.throws(() => resolveUsbDevice(devices, '046d:c52b'), /2 devices are 046d:c52b: name one by its port \(1-1\.2, 1-1\.3\)/);
  assert.throws(() => resolveUsbDevice(devices, '9-9'), /There is no USB device "9-9": see `vms usb list`/);
});

test('attach and detach go live, to the config with --persist, and say what to do otherwise', () => {
  assert.deepEqual(hotplugTarget({ name: 'a', state: 'running', persistent: true }, false, 'attach'), { live: true, config: false });
  assert.deepEqual(hotplugTarget({ name: 'a', state: 'running', persistent: true }, true, 'attach'), { live: true, config: true });
  assert.deepEqual(hotplugTarget({ name: 'a', state: 'shut off', persistent: true }, true, 'attach'), { live: false, config: true });
  assert.throws(() => hotplugTarget({ name: 'a', state: 'shut off', persistent: true }, false, 'attach'), /start it first \(vms start a\), or add --persist/);
  assert.throws(() => hotplugTarget({ name: 'disp1', state: 'running', persistent: false }, true, 'attach'), /is a disposable/);
});

function vm(name: string, state: VmInfo['state'], extra: Partial<VmInfo['meta']> = {}): VmInfo {
  return { name, uuid: '', meta: { kind: 'appvm', label: 'work', ...extra }, state, persistent: true, memoryMiB: 1024, vcpus: 1, disks: [], clipboard: true };
}

test('the tray’s Devices submenu: detach from the holder, attach to running VMs, a status per device', () => {
  const uses = usbDeviceUses([stick, mouse], [{ name: 'mail', state: 'running', xml: domainWith(usbHostdevXml(stick)) }]);
  const menu = devicesSubmenu(uses, [vm('mail', 'running'), vm('web', 'running'), vm('off', 'shut off'), vm('disp1', 'paused', { kind: 'disposable', preloaded: true })]);
  assert.ok(menu?.type === 'submenu' && menu.label === 'Devices');
  const [first, second] = menu.items;
  assert.deepEqual(first, {
    type: 'submenu', label: 'SanDisk Ultra Fit (0781:5583) — in mail', enabled: true,
    items: [
      { type: 'item', label: 'Detach from mail', enabled: true, action: { id: 'usb-detach', vm: 'mail', device: '2-1' } },
      { type: 'item', label: 'Attach to web', enabled: false, action: { id: 'usb-attach', vm: 'web', device: '2-1' } },
    ],
  });
  assert.ok(second.type === 'submenu' && second.label.endsWith('— free'));
  assert.deepEqual(second.items.map((i) => i.type === 'item' && [i.label, i.enabled]), [['Attach to mail', true], ['Attach to web', true]]);
});

test('the Devices submenu says so when there is nothing to show, and is hidden for a remote libvirt', () => {
  const none = devicesSubmenu([], [vm('mail', 'running')]);
  assert.ok(none?.type === 'submenu');
  assert.deepEqual(none.items, [{ type: 'item', label: 'No USB devices', enabled: false }]);
  const noVm = devicesSubmenu(usbDeviceUses([mouse], []), [vm('off', 'shut off')]);
  assert.ok(noVm?.type === 'submenu' && noVm.items[0].type === 'submenu');
  assert.deepEqual(noVm.items[0].items, [{ type: 'item', label: 'Start a VM to attach it', enabled: false }]);
  const persisted = usbDeviceUses([mouse], [{ name: 'off', state: 'shut off', xml: domainWith(usbHostdevXml(mouse, { remembered: true })) }]);
  assert.equal(usbStatus(persisted[0]), 'for off at start');
  assert.equal(devicesSubmenu(undefined, [vm('mail', 'running')]), undefined);
  const model = buildMenuModel({ vms: [vm('mail', 'running')], labelColors: {}, usb: [] });
  assert.ok(model.some((e) => e.type === 'submenu' && e.label === 'Devices'));
  assert.ok(!buildMenuModel({ vms: [vm('mail', 'running')], labelColors: {} }).some((e) => e.type === 'submenu' && e.label === 'Devices'));
});
