import { isOn, type VmInfo } from '../engine/types.js';
import type { UsbDeviceUse } from '../engine/usb.js';
import type { MenuEntry } from './menu-model.js';

/**
 * The tray's Devices submenu: for each host USB device, "Detach from X" when a VM holds it and "Attach to Y"
 * for every running VM (disabled while another VM holds it), the way Qubes' device widget offers them.
 * Preloaded disposables are left out. Pure.
 */

export type UsbActionId = 'usb-attach' | 'usb-detach';

/** `in work-mail`, `free`, `for work-mail at start`. Pure. */
export function usbStatus(device: UsbDeviceUse): string {
  if (device.heldBy) return `in ${device.heldBy}`;
  return device.assignedTo.length > 0 ? `for ${device.assignedTo.join(', ')} at start` : 'free';
}

/** The Devices submenu; undefined when devices cannot be shown here (a remote libvirt). Pure. */
export function devicesSubmenu(devices: readonly UsbDeviceUse[] | undefined, vms: readonly VmInfo[]): MenuEntry | undefined {
  if (devices === undefined) return undefined;
  const running = vms.filter((vm) => isOn(vm) && !vm.meta.preloaded).sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }));
  const items: MenuEntry[] = devices.map((device) => {
    const entries: MenuEntry[] = [];
    if (device.heldBy) {
      entries.push({ type: 'item', label: `Detach from ${device.heldBy}`, enabled: true, action: { id: 'usb-detach', vm: device.heldBy, device: device.id } });
    }
    for (const vm of running) {
      if (vm.name === device.heldBy) continue;
      entries.push({ type: 'item', label: `Attach to ${vm.name}`, enabled: !device.heldBy, action: { id: 'usb-attach', vm: vm.name, device: device.id } });
    }
    if (entries.length === 0) entries.push({ type: 'item', label: 'Start a VM to attach it', enabled: false });
    return { type: 'submenu', label: `${device.name} (${device.vendorId}:${device.productId}) — ${usbStatus(device)}`, enabled: true, items: entries };
  });
  if (items.length === 0) items.push({ type: 'item', label: 'No USB devices', enabled: false });
  return { type: 'submenu', label: 'Devices', enabled: true, items };
}
