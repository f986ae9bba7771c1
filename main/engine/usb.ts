import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { isLocalUri } from './libvirt/connection.js';
import { VmsError } from './errors.js';
import { getVm } from './inventory.js';
import { attachDevice, detachDevice, dumpXml, dumpXmlMany, listDomains } from './libvirt/domains.js';
import { isOn, type VmInfo, type VmState } from './types.js';
import { child, childElements, el, find, parseXml, serializeXml, type XmlElement } from './xml/tree.js';

/**
 * USB passthrough: host devices read from sysfs, handed to a VM as `<hostdev type='usb'>`, live (hot-plug)
 * and, when asked, remembered in the VM's config for its next start.
 */

export interface UsbDevice {
  /** The sysfs name, stable while the device stays in the same port: `1-1.2` (bus 1, ports 1 then 2). */
  id: string;
  busnum: number;
  devnum: number;
  /** Four lowercase hex digits, as lsusb prints them. */
  vendorId: string;
  productId: string;
  manufacturer?: string;
  product?: string;
  serial?: string;
  /** bDeviceClass, two hex digits (`09` is a hub). */
  deviceClass: string;
  /** Mbit/s as sysfs says (`480`). */
  speed?: string;
}

const HEX4 = /^[0-9a-fA-F]{4}$/;

/** A device from the files of one sysfs device folder; undefined for hubs, interfaces and anything odd. Pure. */
export function parseUsbDevice(id: string, files: Record<string, string | undefined>): UsbDevice | undefined {
  // Interfaces (`1-1:1.0`) and root hubs (`usb1`) are not devices one can pass through.
  if (!/^\d+-\d+(\.\d+)*$/.test(id)) return undefined;
  const value = (name: string) => files[name]?.trim() || undefined;
  const vendorId = value('idVendor');
  const productId = value('idProduct');
  const busnum = Number(value('busnum'));
  const devnum = Number(value('devnum'));
  if (!vendorId || !productId || !HEX4.test(vendorId) || !HEX4.test(productId)) return undefined;
  if (!Number.isInteger(busnum) || busnum <= 0 || !Number.isInteger(devnum) || devnum <= 0) return undefined;
  const deviceClass = (value('bDeviceClass') ?? '00').toLowerCase();
  if (deviceClass === '09') return undefined;
  return {
    id,
    busnum,
    devnum,
    vendorId: vendorId.toLowerCase(),
    productId: productId.toLowerCase(),
    manufacturer: value('manufacturer'),
    product: value('product'),
    serial: value('serial'),
    deviceClass,
    speed: value('speed'),
  };
}

/** `Logitech USB Receiver`, or `USB device 046d:c52b` when the device names nothing. Pure. */
export function usbDeviceName(device: UsbDevice): string {
  const parts = [device.manufacturer, device.product].filter((p): p is string => Boolean(p));
  // Many devices repeat the maker in the product name.
  if (parts.length === 2 && parts[1].toLowerCase().startsWith(parts[0].toLowerCase())) parts.shift();
  return parts.length > 0 ? parts.join(' ') : `USB device ${device.vendorId}:${device.productId}`;
}

const SYSFS_FILES = ['idVendor', 'idProduct', 'busnum', 'devnum', 'manufacturer', 'product', 'serial', 'bDeviceClass', 'speed'];

/** The host's USB devices (hubs left out), from `<sysfsRoot>/bus/usb/devices`; none when there is no USB bus. */
export async function readUsbDevices(sysfsRoot: string): Promise<UsbDevice[]> {
  const dir = join(sysfsRoot, 'bus', 'usb', 'devices');
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const devices = await Promise.all(entries.map(async (id) => {
    const files: Record<string, string | undefined> = {};
    await Promise.all(SYSFS_FILES.map(async (file) => {
      files[file] = await readFile(join(dir, id, file), 'utf8').catch(() => undefined);
    }));
    return parseUsbDevice(id, files);
  }));
  return devices.filter((d): d is UsbDevice => d !== undefined)
    .sort((a, b) => a.busnum - b.busnum || a.id.localeCompare(b.id, 'en', { numeric: true }));
}

/** What a `<hostdev type='usb'>` names: a model (vendor and product), a port (bus and device), or both. */
export interface UsbHostdevSource {
  vendorId?: string;
  productId?: string;
  bus?: number;
  device?: number;
}

/**
 * The `<hostdev>` for a device. `remembered` (for the VM's config) names it by vendor and product, so it is
 * found again after being unplugged and plugged back, and lets the VM start without it
 * (startupPolicy='optional'); otherwise it names exactly this device by bus and device number. Pure.
 */
export function usbHostdevElement(device: Pick<UsbDevice, 'vendorId' | 'productId' | 'busnum' | 'devnum'>, options: { remembered?: boolean } = {}): XmlElement {
  return el('hostdev', { mode: 'subsystem', type: 'usb', managed: 'yes' },
    el('source', { startupPolicy: options.remembered ? 'optional' : undefined },
      el('vendor', { id: `0x${device.vendorId}` }),
      el('product', { id: `0x${device.productId}` }),
      options.remembered ? undefined : el('address', { bus: device.busnum, device: device.devnum })));
}

export function usbHostdevXml(device: Pick<UsbDevice, 'vendorId' | 'productId' | 'busnum' | 'devnum'>, options: { remembered?: boolean } = {}): string {
  return serializeXml(usbHostdevElement(device, options));
}

function hexId(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const match = /^(?:0x)?([0-9a-fA-F]{1,4})$/.exec(value.trim());
  return match ? match[1].toLowerCase().padStart(4, '0') : undefined;
}

export interface FoundHostdev {
  source: UsbHostdevSource;
  /** The element as the domain has it, which is what `detach-device` wants. */
  xml: string;
}

/** The USB host devices in a domain XML. Pure. */
export function usbHostdevsOf(domainXml: string): FoundHostdev[] {
  const devices = find(parseXml(domainXml), 'devices');
  if (!devices) return [];
  return childElements(devices, 'hostdev').filter((h) => h.attrs.type === 'usb').map((hostdev) => {
    const source = child(hostdev, 'source');
    const address = child(source, 'address');
    const found: UsbHostdevSource = {
      vendorId: hexId(child(source, 'vendor')?.attrs.id),
      productId: hexId(child(source, 'product')?.attrs.id),
      bus: address?.attrs.bus !== undefined ? Number(address.attrs.bus) : undefined,
      device: address?.attrs.device !== undefined ? Number(address.attrs.device) : undefined,
    };
    return { source: found, xml: serializeXml(hostdev) };
  });
}

/** Whether a hostdev names this device: by port when it has one (as libvirt matches), else by model. Pure. */
export function hostdevMatches(source: UsbHostdevSource, device: UsbDevice): boolean {
  if (source.bus !== undefined && source.device !== undefined) return source.bus === device.busnum && source.device === device.devnum;
  return source.vendorId === device.vendorId && source.productId === device.productId;
}

export interface DomainUsb {
  name: string;
  state: VmState;
  /** The domain's current XML (live while it runs). */
  xml: string;
}

export interface UsbDeviceUse extends UsbDevice {
  /** `Logitech USB Receiver`. */
  name: string;
  /** The running VM that has the device now. */
  heldBy?: string;
  /** Shut-off VMs that take it when they start (attached with --persist). */
  assignedTo: string[];
}

/** Which VM holds each device, from every domain's hostdevs. Pure. */
export function usbDeviceUses(devices: readonly UsbDevice[], domains: readonly DomainUsb[]): UsbDeviceUse[] {
  return devices.map((device) => {
    const using = domains.filter((d) => usbHostdevsOf(d.xml).some((h) => hostdevMatches(h.source, device)));
    return {
      ...device,
      name: usbDeviceName(device),
      heldBy: using.find(isOn)?.name,
      assignedTo: using.filter((d) => !isOn(d)).map((d) => d.name),
    };
  });
}

/** USB passthrough hands this computer's devices to a VM: the VM must run here too. */
function assertLocal(ctx: EngineContext): void {
  if (!isLocalUri(ctx.libvirt.uri)) {
    throw new VmsError(`USB passthrough needs the VMs on this computer, but VMS_URI is ${ctx.libvirt.uri}: use vms on that host (ssh there), or use SPICE USB redirection from the viewer.`);
  }
}

/** The host's USB devices and who holds them (every libvirt domain counts, not only vms's). */
export async function listUsb(ctx: EngineContext): Promise<UsbDeviceUse[]> {
  assertLocal(ctx);
  const devices = await readUsbDevices(ctx.config.sysfsRoot);
  if (devices.length === 0) return [];
  const domains = await listDomains(ctx.libvirt);
  const xmls = await dumpXmlMany(ctx.libvirt, domains.map((d) => d.name));
  return usbDeviceUses(devices, domains.flatMap((d) => (xmls.has(d.name) ? [{ name: d.name, state: d.state, xml: xmls.get(d.name)! }] : [])));
}

/**
 * Finds a device by its sysfs id (`1-1.2`), by `vendor:product` (`046d:c52b`) when only one matches, or by
 * `bus.device` (`1.5`, as lsusb numbers them). Pure.
 */
export function resolveUsbDevice<T extends UsbDevice>(devices: readonly T[], spec: string): T {
  const byId = devices.find((d) => d.id === spec);
  if (byId) return byId;
  const model = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(spec);
  if (model) {
    const matches = devices.filter((d) => d.vendorId === model[1].toLowerCase() && d.productId === model[2].toLowerCase());
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw new VmsError(`${matches.length} devices are ${spec}: name one by its port (${matches.map((d) => d.id).join(', ')}).`);
  }
  const port = /^(\d+)\.(\d+)$/.exec(spec);
  if (port) {
    const found = devices.find((d) => d.busnum === Number(port[1]) && d.devnum === Number(port[2]));
    if (found) return found;
  }
  throw new VmsError(`There is no USB device "${spec}": see \`vms usb list\` (name one as 1-2, 046d:c52b or 1.5).`);
}

export interface HotplugTarget {
  /** The running domain (hot-plug). */
  live: boolean;
  /** The domain's config (from its next start on). */
  config: boolean;
}

/** Adds a device (any `<devices>` child: a hostdev, a USB disk, …) to a VM, live and/or in its config. */
export async function hotplug(ctx: EngineContext, name: string, deviceXml: string, target: HotplugTarget): Promise<void> {
  if (!target.live && !target.config) return;
  await attachDevice(ctx.libvirt, name, deviceXml, target);
}

/** Removes a device from a VM, live and/or from its config; `deviceXml` as the domain has it. */
export async function unplug(ctx: EngineContext, name: string, deviceXml: string, target: HotplugTarget): Promise<void> {
  if (!target.live && !target.config) return;
  await detachDevice(ctx.libvirt, name, deviceXml, target);
}

/** Which of `live`/`config` an attach or detach touches, with the user's mistakes explained. */
export function hotplugTarget(vm: Pick<VmInfo, 'name' | 'state' | 'persistent'>, persist: boolean, verb: 'attach' | 'detach'): HotplugTarget {
  const live = isOn(vm);
  if (persist && !vm.persistent) throw new VmsError(`"${vm.name}" is a disposable: it is forgotten when it stops, so --persist makes no sense; ${verb} without it.`);
  if (!live && !persist) {
    throw new VmsError(verb === 'attach'
      ? `"${vm.name}" is ${vm.state}: start it first (vms start ${vm.name}), or add --persist to give it the device at its next start.`
      : `"${vm.name}" is ${vm.state}: add --persist to take the device out of its config.`);
  }
  return { live, config: persist };
}

/**
 * Gives a host USB device to a VM: hot-plugged into the running VM, and with `persist` also written to its
 * config (by vendor and product, optional at start) so it gets the device at every start.
 */
export async function attachUsb(ctx: EngineContext, vmName: string, spec: string, options: { persist?: boolean } = {}): Promise<UsbDeviceUse> {
  assertLocal(ctx);
  const vm = await getVm(ctx, vmName);
  const device = resolveUsbDevice(await listUsb(ctx), spec);
  const target = hotplugTarget(vm, options.persist ?? false, 'attach');
  if (device.heldBy && device.heldBy !== vm.name) {
    throw new VmsError(`${device.name} (${device.id}) is attached to "${device.heldBy}": detach it first (vms usb detach ${device.heldBy} ${device.id}).`);
  }
  if (target.live && device.heldBy !== vm.name) await hotplug(ctx, vm.name, usbHostdevXml(device), { live: true, config: false });
  if (target.config && !device.assignedTo.includes(vm.name) && !(await configHas(ctx, vm, device))) {
    await hotplug(ctx, vm.name, usbHostdevXml(device, { remembered: true }), { live: false, config: true });
  }
  return { ...device, heldBy: target.live ? vm.name : device.heldBy };
}

async function configHas(ctx: EngineContext, vm: VmInfo, device: UsbDevice): Promise<boolean> {
  if (!vm.persistent) return false;
  const xml = await dumpXml(ctx.libvirt, vm.name, { inactive: true });
  return usbHostdevsOf(xml).some((h) => hostdevMatches(h.source, device));
}

/**
 * Takes a USB device back from a VM: out of the running VM, and with `persist` out of its config too. The
 * device may already be unplugged from the host: then `spec` must be `vendor:product` and only the config changes.
 */
export async function detachUsb(ctx: EngineContext, vmName: string, spec: string, options: { persist?: boolean } = {}): Promise<number> {
  assertLocal(ctx);
  const vm = await getVm(ctx, vmName);
  const target = hotplugTarget(vm, options.persist ?? false, 'detach');
  const devices = await readUsbDevices(ctx.config.sysfsRoot);
  let matches: (source: UsbHostdevSource) => boolean;
  try {
    const device = resolveUsbDevice(devices, spec);
    matches = (source) => hostdevMatches(source, device)
      || (source.bus === undefined && source.vendorId === device.vendorId && source.productId === device.productId);
  } catch (error) {
    const model = /^([0-9a-fA-F]{4}):([0-9a-fA-F]{4})$/.exec(spec);
    if (!model) throw error;
    matches = (source) => source.vendorId === model[1].toLowerCase() && source.productId === model[2].toLowerCase();
  }
  let removed = 0;
  if (target.live && isOn(vm)) {
    for (const hostdev of usbHostdevsOf(await dumpXml(ctx.libvirt, vm.name)).filter((h) => matches(h.source))) {
      await unplug(ctx, vm.name, hostdev.xml, { live: true, config: false });
      removed++;
    }
  }
  if (target.config) {
    for (const hostdev of usbHostdevsOf(await dumpXml(ctx.libvirt, vm.name, { inactive: true })).filter((h) => matches(h.source))) {
      await unplug(ctx, vm.name, hostdev.xml, { live: false, config: true });
      removed++;
    }
  }
  if (removed === 0) throw new VmsError(`"${vm.name}" does not have the USB device "${spec}": see \`vms usb list\`.`);
  return removed;
}

/**
 * Calls `onChange` when a USB device is plugged in or out: sysfs sends no inotify events, and udev's
 * netlink socket needs a native module, so the device folder is listed every `intervalMs` (one readdir).
 * Returns how to stop.
 */
export function watchUsbDevices(sysfsRoot: string, onChange: () => void, intervalMs = 2000): () => void {
  const dir = join(sysfsRoot, 'bus', 'usb', 'devices');
  let last: string | undefined;
  let stopped = false;
  const look = async () => {
    const ids = (await readdir(dir).catch(() => [] as string[])).sort().join(' ');
    if (stopped) return;
    if (last !== undefined && ids !== last) onChange();
    last = ids;
  };
  void look();
  const timer = setInterval(() => void look(), intervalMs);
  timer.unref();
  return () => { stopped = true; clearInterval(timer); };
}
