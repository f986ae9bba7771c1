import type { VmDisk, VmInfo, VmMeta, VmState } from '../types.js';
import { readMetadata } from './metadata.js';
import { child, childElements, find, parseXml, textOf, type XmlElement } from './tree.js';

/** What a domain XML says about a VM, before its state is known. */
export type VmDefinition = Omit<VmInfo, 'state' | 'persistent'>;

function memoryInMiB(element: XmlElement | undefined): number {
  const value = Number(textOf(element) ?? 0);
  const unit = (element?.attrs.unit ?? 'KiB').toLowerCase();
  const factor: Record<string, number> = { b: 1 / 1048576, bytes: 1 / 1048576, k: 1 / 1024, kib: 1 / 1024, m: 1, mib: 1, g: 1024, gib: 1024 };
  return Math.round(value * (factor[unit] ?? 1 / 1024));
}

export function disksOf(domain: XmlElement): VmDisk[] {
  return childElements(find(domain, 'devices')!, 'disk').flatMap((disk): VmDisk[] => {
    const source = child(disk, 'source')?.attrs ?? {};
    const target = child(disk, 'target')?.attrs.dev;
    if (!target) return [];
    const device = disk.attrs.device ?? 'disk';
    if (source.pool && source.volume) return [{ target, device, pool: source.pool, volume: source.volume }];
    return source.file ? [{ target, device, path: source.file }] : [];
  });
}

/** Reads a domain XML; returns undefined when the domain carries no vms metadata (not one of ours). */
export function readDomain(xml: string): VmDefinition | undefined {
  const domain = parseXml(xml);
  const meta: VmMeta | undefined = readMetadata(child(domain, 'metadata'));
  if (!meta) return undefined;
  const devices = child(domain, 'devices');
  const iface = devices ? childElements(devices, 'interface')[0] : undefined;
  const clipboard = find(domain, 'devices', 'graphics', 'clipboard')?.attrs.copypaste !== 'no';
  return {
    name: textOf(child(domain, 'name')) ?? '',
    uuid: textOf(child(domain, 'uuid')) ?? '',
    meta,
    memoryMiB: memoryInMiB(child(domain, 'memory')),
    vcpus: Number(textOf(child(domain, 'vcpu')) ?? 1),
    disks: devices ? disksOf(domain) : [],
    nvramPath: textOf(find(domain, 'os', 'nvram')),
    network: iface?.attrs.type === 'network' ? child(iface, 'source')?.attrs.network : undefined,
    clipboard,
    sharedFolders: devices ? sharedFoldersOf(devices) : [],
  };
}

/** The domain's virtiofs folders. */
export function sharedFoldersOf(devices: XmlElement): Array<{ tag: string; source: string }> {
  return childElements(devices, 'filesystem').flatMap((fs) => {
    const tag = child(fs, 'target')?.attrs.dir;
    const source = child(fs, 'source')?.attrs.dir;
    return tag && source ? [{ tag, source }] : [];
  });
}

/** Normalises `virsh domstate` / `virsh list` wording. */
export function parseState(text: string): VmState {
  const state = text.trim().toLowerCase();
  const known: VmState[] = ['running', 'paused', 'shut off', 'crashed', 'in shutdown', 'pmsuspended', 'idle', 'blocked'];
  return known.find((k) => state === k) ?? 'unknown';
}
