import type { UsbDeviceUse } from '../../engine/usb.js';
import type { Command } from '../command.js';

/** The table `vms usb list` prints. Pure. */
export function formatUsbList(devices: readonly UsbDeviceUse[]): string {
  if (devices.length === 0) return 'No USB devices on this host.';
  const rows = [['DEVICE', 'ID', 'NAME', 'USED BY']];
  for (const d of devices) {
    const use = d.heldBy ?? (d.assignedTo.length > 0 ? `(${d.assignedTo.join(', ')} at start)` : '-');
    rows.push([d.id, `${d.vendorId}:${d.productId}`, d.name, use]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

export const usbList: Command = {
  name: 'usb list',
  summary: 'List the host’s USB devices and the VM that has each',
  usage: '',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  async run({ engine, json, io }) {
    const devices = await engine.usbList();
    io.out(json ? JSON.stringify(devices, null, 2) : formatUsbList(devices));
  },
};

const persist = { type: 'boolean' as const, description: 'Also at the VM’s next starts (its config)' };

export const usbAttach: Command = {
  name: 'usb attach',
  summary: 'Give a host USB device to a running VM (--persist: at its next starts too)',
  usage: 'VM DEVICE [--persist]',
  positionals: { min: 2, max: 2, names: ['VM', 'DEVICE'] },
  options: { persist },
  async run({ engine, io }, { positionals: [vm, device], values }) {
    const attached = await engine.usbAttach(vm, device, { persist: values.persist === true });
    io.out(`Attached ${attached.name} (${attached.id}) to "${vm}"${values.persist ? ', also at its next starts' : ''}.`);
  },
};

export const usbDetach: Command = {
  name: 'usb detach',
  summary: 'Take a USB device back from a VM (--persist: from its config too)',
  usage: 'VM DEVICE [--persist]',
  positionals: { min: 2, max: 2, names: ['VM', 'DEVICE'] },
  options: { persist },
  async run({ engine, io }, { positionals: [vm, device], values }) {
    await engine.usbDetach(vm, device, { persist: values.persist === true });
    io.out(`Detached ${device} from "${vm}".`);
  },
};
