import { child, el, find, parseXml, serializeXml, textOf } from './tree.js';

/** Pure builders and readers for libvirt storage volume and pool XML. */

export interface VolumeSpec {
  name: string;
  format: 'qcow2' | 'raw';
  /** Bytes; 0 with a backing volume means "as large as the backing volume". */
  capacity: number;
  /** The path of the volume this one is a copy-on-write overlay of. */
  backingPath?: string;
  /** A published template version or a frozen base: nobody, not even QEMU by mistake, writes to it again. */
  readOnly?: boolean;
}

export function buildVolumeXml(spec: VolumeSpec): string {
  return serializeXml(el('volume', {},
    el('name', {}, spec.name),
    el('capacity', { unit: 'bytes' }, String(spec.capacity)),
    el('allocation', { unit: 'bytes' }, '0'),
    el('target', {},
      el('format', { type: spec.format }),
      el('permissions', {}, el('mode', {}, spec.readOnly ? '0444' : '0600'))),
    spec.backingPath && el('backingStore', {}, el('path', {}, spec.backingPath), el('format', { type: 'qcow2' }))));
}

export interface VolumeInfo {
  name: string;
  path: string;
  format: string;
  capacity: number;
  allocation: number;
  /** The path of the volume below this one in its backing chain (one level; libvirt reports no more). */
  backingPath?: string;
  readOnly: boolean;
}

function bytes(element: Parameters<typeof textOf>[0]): number {
  const value = Number(textOf(element) ?? 0);
  const unit = (element?.attrs.unit ?? 'bytes').toLowerCase();
  const factor: Record<string, number> = { bytes: 1, b: 1, kib: 1024, k: 1024, mib: 2 ** 20, m: 2 ** 20, gib: 2 ** 30, g: 2 ** 30, tib: 2 ** 40, t: 2 ** 40 };
  return value * (factor[unit] ?? 1);
}

export function readVolumeXml(xml: string): VolumeInfo {
  const volume = parseXml(xml);
  const mode = textOf(find(volume, 'target', 'permissions', 'mode')) ?? '0600';
  return {
    name: textOf(child(volume, 'name')) ?? '',
    path: textOf(find(volume, 'target', 'path')) ?? '',
    format: find(volume, 'target', 'format')?.attrs.type ?? 'raw',
    capacity: bytes(child(volume, 'capacity')),
    allocation: bytes(child(volume, 'allocation')),
    backingPath: textOf(find(volume, 'backingStore', 'path')),
    // Read-only for its owner (root): no write bit anywhere.
    readOnly: (parseInt(mode, 8) & 0o222) === 0,
  };
}

export function buildDirPoolXml(name: string, path: string, owner?: { uid: number; gid: number; mode: string }): string {
  return serializeXml(el('pool', { type: 'dir' },
    el('name', {}, name),
    el('target', {},
      el('path', {}, path),
      owner && el('permissions', {},
        el('mode', {}, owner.mode),
        el('owner', {}, String(owner.uid)),
        el('group', {}, String(owner.gid))))));
}

export function poolTargetPathOf(xml: string): string | undefined {
  return textOf(find(parseXml(xml), 'target', 'path'));
}

/** Free bytes in a pool's XML (`<available unit='bytes'>`). */
export function poolAvailableOf(xml: string): number {
  return bytes(child(parseXml(xml), 'available'));
}
