import type { VmKind, VmMeta } from '../types.js';
import { VM_KINDS } from '../types.js';
import { child, childElements, el, textOf, type XmlElement } from './tree.js';

/** vms's namespace inside a domain's `<metadata>`; virsh and virt-manager keep it untouched. */
export const METADATA_NS = 'urn:vms:metadata:1';
export const METADATA_PREFIX = 'vms';
const TAG = `${METADATA_PREFIX}:vm`;

const FIELDS = ['kind', 'label', 'template', 'color', 'imageVersion', 'updating', 'preloaded', 'created', 'accel'] as const;

/** The `<vms:vm>` element for a VM's facts. */
export function metadataElement(meta: VmMeta): XmlElement {
  const fields = FIELDS.flatMap((field) => {
    const value = meta[field];
    if (value === undefined || value === false) return [];
    return [el(`${METADATA_PREFIX}:${field}`, {}, value === true ? 'yes' : String(value))];
  });
  return el(TAG, { [`xmlns:${METADATA_PREFIX}`]: METADATA_NS }, ...fields);
}

/** Finds vms's element in a `<metadata>` element, whatever prefix libvirt was given for our namespace. */
export function findMetadataElement(metadata: XmlElement | undefined): XmlElement | undefined {
  if (!metadata) return undefined;
  return childElements(metadata).find((e) => Object.entries(e.attrs).some(([k, v]) => k.startsWith('xmlns') && v === METADATA_NS));
}

/** Reads vms's facts, or undefined when the domain is not one of ours. */
export function readMetadata(metadata: XmlElement | undefined): VmMeta | undefined {
  const element = findMetadataElement(metadata);
  if (!element) return undefined;
  const prefix = element.name.includes(':') ? element.name.slice(0, element.name.indexOf(':') + 1) : '';
  const field = (name: string) => textOf(child(element, prefix + name));
  const kind = field('kind') as VmKind | undefined;
  if (!kind || !VM_KINDS.includes(kind)) return undefined;
  const version = field('imageVersion');
  const meta: VmMeta = { kind, label: field('label') ?? (kind === 'disposable' ? 'disposable' : 'personal') };
  if (field('template')) meta.template = field('template');
  if (field('color')) meta.color = field('color');
  if (version !== undefined && /^\d+$/.test(version)) meta.imageVersion = Number(version);
  if (field('updating') === 'yes') meta.updating = true;
  if (field('preloaded') === 'yes') meta.preloaded = true;
  if (field('created')) meta.created = field('created');
  const accel = field('accel');
  if (accel === 'kvm' || accel === 'tcg') meta.accel = accel;
  return meta;
}
