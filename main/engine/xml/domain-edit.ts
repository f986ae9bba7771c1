import type { VmMeta } from '../types.js';
import { diskElement, interfaceElement, graphicsElement, type DiskSpec, type NetworkSpec } from './domain-build.js';
import { findMetadataElement, metadataElement } from './metadata.js';
import { child, childElements, cloneTree, ensureChild, find, parseXml, removeChildren, serializeXml, setText, type XmlElement } from './tree.js';

/**
 * Pure changes to a domain's XML, in cockpit-machines' style: read the XML, apply a mutator, define the
 * result. Each mutator returns a new document and leaves its input alone.
 */
export type DomainMutator = (domain: XmlElement) => void;

export function editDomainXml(xml: string, ...mutators: DomainMutator[]): string {
  const domain = cloneTree(parseXml(xml));
  for (const mutate of mutators) mutate(domain);
  return serializeXml(domain);
}

export const setName = (name: string, label: string): DomainMutator => (domain) => {
  setText(ensureChild(domain, 'name'), name);
  setText(ensureChild(domain, 'title'), `[${label}] ${name}`);
};

export const setMetadata = (meta: VmMeta): DomainMutator => (domain) => {
  const metadata = ensureChild(domain, 'metadata');
  const existing = findMetadataElement(metadata);
  const replacement = metadataElement(meta);
  if (existing) metadata.children[metadata.children.indexOf(existing)] = replacement;
  else metadata.children.push(replacement);
};

/**
 * Forgets what makes a domain unique, so libvirt assigns a new UUID and new MAC addresses; a NIC's fixed
 * address (its filter's `IP`) goes too: the copy gets its own when it joins its network.
 */
export const forgetIdentity: DomainMutator = (domain) => {
  removeChildren(domain, (e) => e.name === 'uuid');
  for (const iface of childElements(ensureChild(domain, 'devices'), 'interface')) {
    removeChildren(iface, (e) => e.name === 'mac');
    const filter = child(iface, 'filterref');
    if (filter) removeChildren(filter, (e) => e.name === 'parameter' && e.attrs.name === 'IP');
  }
};

/** Points a disk at a volume of a pool (replacing a file source, and any stale backing chain description). */
export const setDiskVolume = (disk: DiskSpec): DomainMutator => (domain) => {
  const devices = ensureChild(domain, 'devices');
  const existing = childElements(devices, 'disk').find((d) => child(d, 'target')?.attrs.dev === disk.target);
  if (!existing) throw new Error(`The domain has no disk ${disk.target}.`);
  const replacement = diskElement(disk);
  // Keep what the user may have tuned (driver options, address, boot order); take type and source anew.
  existing.attrs = { ...existing.attrs, type: 'volume' };
  removeChildren(existing, (e) => e.name === 'source' || e.name === 'backingStore');
  existing.children.splice(0, 0, ...replacement.children.filter((c): c is XmlElement => typeof c === 'object' && c.name === 'source'));
};

export const removeDisk = (target: string): DomainMutator => (domain) => {
  removeChildren(ensureChild(domain, 'devices'), (e) => e.name === 'disk' && child(e, 'target')?.attrs.dev === target);
};

export const setNvramPath = (path: string): DomainMutator => (domain) => {
  setText(ensureChild(ensureChild(domain, 'os'), 'nvram'), path);
};

export const setConsoleLog = (path: string): DomainMutator => (domain) => {
  for (const serial of childElements(ensureChild(domain, 'devices'), 'serial')) {
    const log = child(serial, 'log');
    if (log) log.attrs.file = path;
  }
};

export const setClipboard = (enabled: boolean): DomainMutator => (domain) => {
  const devices = ensureChild(domain, 'devices');
  const graphics = childElements(devices, 'graphics').find((g) => g.attrs.type === 'spice');
  if (!graphics) {
    devices.children.push(graphicsElement(enabled));
    return;
  }
  removeChildren(graphics, (e) => e.name === 'clipboard');
  graphics.children.push(graphicsElement(enabled).children.find((c) => typeof c === 'object' && c.name === 'clipboard')!);
};

/** Points the virtiofs folder with this mount tag at another host folder (no-op when there is none). */
export const setSharedFolderSource = (tag: string, dir: string): DomainMutator => (domain) => {
  for (const fs of childElements(ensureChild(domain, 'devices'), 'filesystem')) {
    if (child(fs, 'target')?.attrs.dir === tag) ensureChild(fs, 'source').attrs = { dir };
  }
};

/** Replaces the VM's first NIC (or adds one); it keeps its MAC unless the new one names one. */
export const setNetwork = (network: NetworkSpec): DomainMutator => (domain) => {
  const devices = ensureChild(domain, 'devices');
  const replacement = interfaceElement(network);
  const existing = childElements(devices, 'interface')[0];
  if (existing) {
    const mac = child(existing, 'mac');
    if (replacement && mac && !child(replacement, 'mac')) replacement.children.unshift(mac);
    const index = devices.children.indexOf(existing);
    if (replacement) devices.children[index] = replacement;
    else devices.children.splice(index, 1);
  } else if (replacement) {
    devices.children.push(replacement);
  }
};

export function nvramPathOf(domain: XmlElement): string | undefined {
  const nvram = find(domain, 'os', 'nvram');
  return nvram ? nvram.children.filter((c): c is string => typeof c === 'string').join('') : undefined;
}
