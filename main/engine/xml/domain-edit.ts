import type { VmMeta } from '../types.js';
import { interfaceElement, graphicsElement, type NetworkSpec } from './domain-build.js';
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

/** Forgets what makes a domain unique, so libvirt assigns a new UUID and new MAC addresses. */
export const forgetIdentity: DomainMutator = (domain) => {
  removeChildren(domain, (e) => e.name === 'uuid');
  for (const iface of childElements(ensureChild(domain, 'devices'), 'interface')) removeChildren(iface, (e) => e.name === 'mac');
};

export const setDiskSource = (target: string, path: string): DomainMutator => (domain) => {
  const disk = childElements(ensureChild(domain, 'devices'), 'disk').find((d) => child(d, 'target')?.attrs.dev === target);
  if (!disk) throw new Error(`The domain has no disk ${target}.`);
  ensureChild(disk, 'source').attrs = { file: path };
  // A stale backing chain description would point at the source VM's files.
  removeChildren(disk, (e) => e.name === 'backingStore');
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

/** Replaces the VM's first NIC (or adds one). */
export const setNetwork = (network: NetworkSpec): DomainMutator => (domain) => {
  const devices = ensureChild(domain, 'devices');
  const replacement = interfaceElement(network);
  const existing = childElements(devices, 'interface')[0];
  if (existing) {
    const mac = child(existing, 'mac');
    if (replacement && mac) replacement.children.unshift(mac);
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
