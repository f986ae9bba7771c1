import type { Accel, VmMeta } from '../types.js';
import { metadataElement } from './metadata.js';
import { setHostname } from './domain-settings.js';
import { el, serializeXml, type XmlElement } from './tree.js';
import { RPC_CONSOLES } from '../rpc/channels.js';

/** A disk that is a volume of a libvirt storage pool (libvirt resolves its path at start). */
export interface DiskSpec {
  target: string;
  pool: string;
  volume: string;
}

/** How the VM's NIC is attached: QEMU's user-mode network, or a libvirt network (one per domain label). */
export type NetworkSpec =
  | { type: 'user' }
  | { type: 'network'; network: string; mac?: string; filter?: { name: string; parameters?: Record<string, string> } }
  | { type: 'none' };

export interface SharedFolderSpec {
  /** Host folder shared with the guest (9p). */
  source: string;
  /** The mount tag the guest mounts, e.g. `pkg-shared`. */
  tag: string;
  /** libvirt makes the share read-only for the guest (EROFS on write). */
  readOnly?: boolean;
}

export interface DomainSpec {
  name: string;
  uuid?: string;
  meta: VmMeta;
  memoryMiB: number;
  vcpus: number;
  accel: Accel;
  disks: DiskSpec[];
  /** Per-VM UEFI variable store; libvirt fills it from the firmware's template on first start. */
  nvramPath: string;
  /** Where the serial console's output is kept (virtlogd writes it). */
  consoleLogPath: string;
  network: NetworkSpec;
  clipboard: boolean;
  sharedFolders?: SharedFolderSpec[];
}

function osElement(nvramPath: string): XmlElement {
  // firmware='efi' lets libvirt pick OVMF from the firmware descriptors, so the same XML works on Arch
  // (edk2-ovmf) and Debian (ovmf); Secure Boot is off because templates boot unsigned systemd-boot.
  return el('os', { firmware: 'efi' },
    el('type', { arch: 'x86_64', machine: 'q35' }, 'hvm'),
    el('firmware', {},
      el('feature', { enabled: 'no', name: 'enrolled-keys' }),
      el('feature', { enabled: 'no', name: 'secure-boot' })),
    el('nvram', {}, nvramPath),
    el('boot', { dev: 'hd' }));
}

export function diskElement(disk: DiskSpec): XmlElement {
  return el('disk', { type: 'volume', device: 'disk' },
    el('driver', { name: 'qemu', type: 'qcow2', discard: 'unmap' }),
    el('source', { pool: disk.pool, volume: disk.volume }),
    el('target', { dev: disk.target, bus: 'virtio' }));
}

export function interfaceElement(network: NetworkSpec): XmlElement | undefined {
  if (network.type === 'none') return undefined;
  if (network.type === 'user') return el('interface', { type: 'user' }, el('model', { type: 'virtio' }));
  const filter = network.filter
    ? el('filterref', { filter: network.filter.name },
      ...Object.entries(network.filter.parameters ?? {}).map(([name, value]) => el('parameter', { name, value })))
    : undefined;
  return el('interface', { type: 'network' },
    network.mac && el('mac', { address: network.mac }),
    el('source', { network: network.network }), el('model', { type: 'virtio' }), filter);
}

export function graphicsElement(clipboard: boolean): XmlElement {
  // SPICE listens nowhere, neither on a TCP port (any local process could take the screen and keyboard)
  // nor on a socket file (every QEMU runs as the same user and could reach it): a viewer gets a connection
  // only from libvirt (virt-viewer --attach, virDomainOpenGraphicsFD), so only those libvirt lets manage
  // the VM see it.
  return el('graphics', { type: 'spice' },
    el('listen', { type: 'none' }),
    el('clipboard', { copypaste: clipboard ? 'yes' : 'no' }));
}

/**
 * A host folder over virtio-9p, built into QEMU (virtiofs would need virtiofsd, shared guest memory and a
 * read-only mount on the host, since libvirt refuses virtiofs `<readonly/>`).
 */
function sharedFolderElement(folder: SharedFolderSpec): XmlElement {
  // mapped, not passthrough: QEMU runs as the unprivileged QEMU user, so under passthrough every file the
  // guest's root creates fails with EPERM (QEMU cannot give it the guest's owner). mapped keeps the guest's
  // owner and mode in user.virtfs.* extended attributes and creates plain 0600/0700 files owned by the
  // QEMU user on the host, so no guest can plant a set-uid or root-owned file there.
  return el('filesystem', { type: 'mount', accessmode: 'mapped' },
    el('source', { dir: folder.source }),
    el('target', { dir: folder.tag }),
    folder.readOnly && el('readonly'));
}

/** The domain's `<title>`, which virt-viewer shows as its window title: `[work] mail`. Pure. */
export function domainTitle(label: string, name: string): string {
  return `[${label}] ${name}`;
}

export function buildDomainTree(spec: DomainSpec): XmlElement {
  const sharedFolders = spec.sharedFolders ?? [];
  return el('domain', { type: spec.accel === 'kvm' ? 'kvm' : 'qemu' },
    el('name', {}, spec.name),
    spec.uuid ? el('uuid', {}, spec.uuid) : undefined,
    el('title', {}, domainTitle(spec.meta.label, spec.name)),
    el('metadata', {}, metadataElement(spec.meta)),
    el('memory', { unit: 'MiB' }, String(spec.memoryMiB)),
    el('currentMemory', { unit: 'MiB' }, String(spec.memoryMiB)),
    el('vcpu', { placement: 'static' }, String(spec.vcpus)),
    osElement(spec.nvramPath),
    el('features', {}, el('acpi'), el('apic')),
    spec.accel === 'kvm' ? el('cpu', { mode: 'host-passthrough', check: 'none' }) : el('cpu', { mode: 'maximum', check: 'none' }),
    el('clock', { offset: 'utc' }),
    el('on_poweroff', {}, 'destroy'),
    el('on_reboot', {}, 'restart'),
    el('on_crash', {}, 'destroy'),
    el('devices', {},
      ...spec.disks.map(diskElement),
      ...sharedFolders.map(sharedFolderElement),
      interfaceElement(spec.network),
      el('serial', { type: 'pty' }, el('log', { file: spec.consoleLogPath, append: 'on' }), el('target', { port: '0' })),
      el('console', { type: 'pty' }, el('target', { type: 'serial', port: '0' })),
      el('channel', { type: 'unix' }, el('target', { type: 'virtio', name: 'org.qemu.guest_agent.0' })),
      // vms rpc (main/engine/rpc/channels.ts): two virtio consoles that libvirt's console stream reaches.
      ...RPC_CONSOLES.map((alias, port) => el('console', { type: 'pty' }, el('target', { type: 'virtio', port: String(port + 1) }), el('alias', { name: alias }))),
      el('channel', { type: 'spicevmc' }, el('target', { type: 'virtio', name: 'com.redhat.spice.0' })),
      graphicsElement(spec.clipboard),
      el('video', {}, el('model', { type: 'virtio', heads: '1', primary: 'yes' })),
      el('audio', { id: '1', type: 'spice' }),
      el('sound', { model: 'ich9' }, el('audio', { id: '1' })),
      el('controller', { type: 'usb', model: 'qemu-xhci', ports: '15' }),
      el('input', { type: 'tablet', bus: 'usb' }),
      // Two channels so two USB devices can be redirected from the SPICE viewer at once.
      el('redirdev', { bus: 'usb', type: 'spicevmc' }),
      el('redirdev', { bus: 'usb', type: 'spicevmc' }),
      el('memballoon', { model: 'virtio', autodeflate: 'on', freePageReporting: 'on' }, el('stats', { period: '5' })),
      el('rng', { model: 'virtio' }, el('backend', { model: 'random' }, '/dev/urandom'))));
}

export function buildDomainXml(spec: DomainSpec): string {
  const tree = buildDomainTree(spec);
  // Every VM's hostname is its name, given over SMBIOS (domain-settings.ts).
  setHostname(spec.name)(tree);
  return serializeXml(tree);
}
