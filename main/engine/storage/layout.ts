import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/**
 * Names of everything vms keeps, pure: no I/O here.
 *
 * Disks, UEFI variables and console logs are volumes of one libvirt directory pool (`vms` by default,
 * folder <imagesDir>/vms), flat, each named after the VM it belongs to:
 *
 *   NAME.root.qcow2          appvm and disposable root: an overlay on the template, remade at every start
 *   NAME.root.<id>.qcow2     standalone root (its own)
 *   NAME.home.<id>.qcow2     the private disk (/home); `<id>` changes when a linked clone freezes the old one
 *   NAME.v<N>.qcow2          template version N: published, read-only (mode 0444), flattened
 *   NAME.work.qcow2          a template's running disk: an overlay on its published version
 *   NAME.nvram.fd            UEFI variables (libvirt fills it from the firmware's template at first start)
 *   NAME.console.log         the serial console's log (virtlogd writes it)
 *   _home-<bytes>.qcow2      an empty ext4 filesystem of that size: every private disk starts as an overlay on it
 *
 * A frozen disk keeps its name: when a linked clone is made, both VMs go on with new overlays on it,
 * and it stays as long as any volume is built on it. Names never contain a second VM's name, so
 * "NAME." selects exactly one VM's volumes (VM names hold no dot).
 *
 * What is under way lives in the user's state folder, not in libvirt's: name locks, and journal
 * entries of creations, disposables and template updates that the next command's repair finishes.
 */
export class StorageLayout {
  /** `poolDir` is corrected to the pool's real folder once libvirt has been asked (storage/pool.ts). */
  constructor(readonly pool: string, public poolDir: string, readonly stateDir: string) {}

  rootVolume(name: string): string { return `${name}.root.qcow2`; }
  standaloneRootVolume(name: string, id = newVolumeId()): string { return `${name}.root.${id}.qcow2`; }
  homeVolume(name: string, id = newVolumeId()): string { return `${name}.home.${id}.qcow2`; }
  templateVersionVolume(name: string, version: number): string { return templateVersionVolume(name, version); }
  templateWorkVolume(name: string): string { return `${name}.work.qcow2`; }
  nvramVolume(name: string): string { return `${name}.nvram.fd`; }
  consoleLogVolume(name: string): string { return `${name}.console.log`; }
  emptyHomeVolume(bytes: number): string { return `_home-${bytes}.qcow2`; }

  /** A volume's path on the libvirt host (for XML that takes a path: NVRAM, log, backing files). */
  volumePath(volume: string): string { return join(this.poolDir, volume); }

  locksDir(): string { return join(this.stateDir, 'locks'); }
  lock(name: string): string { return join(this.locksDir(), `${name}.lock`); }
  /** Journal entries: `pending` (a create, clone, import or delete under way), `disposable`, `updating` (a template). */
  journalDir(kind: JournalKind): string { return join(this.stateDir, kind); }
  journalEntry(kind: JournalKind, name: string): string { return join(this.journalDir(kind), name); }
}

export type JournalKind = 'pending' | 'disposable' | 'updating';

export function newVolumeId(): string {
  return randomBytes(3).toString('hex');
}

/** The VM a volume belongs to (`work.home.a1b2c3.qcow2` → `work`); undefined for shared ones (`_home-…`). */
export function ownerOfVolume(volume: string): string | undefined {
  const dot = volume.indexOf('.');
  return dot > 0 && !volume.startsWith('_') ? volume.slice(0, dot) : undefined;
}

export function templateVersionVolume(name: string, version: number): string {
  return `${name}.v${version}.qcow2`;
}

/** Parses `NAME.v<N>.qcow2`. */
export function templateVersionOf(volume: string): { name: string; version: number } | undefined {
  const match = /^([^.]+)\.v(\d+)\.qcow2$/.exec(volume);
  return match ? { name: match[1], version: Number(match[2]) } : undefined;
}
