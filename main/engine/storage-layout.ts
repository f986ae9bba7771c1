import { join } from 'node:path';

/**
 * Where vms keeps each file. Pure: no I/O here.
 *
 *   <imagesDir>/vms/<name>/root.qcow2        appvm and disposable: overlay on the template, remade at start;
 *                                             standalone: its own root
 *   <imagesDir>/vms/<name>/private.qcow2     the VM's /home, kept across starts
 *   <imagesDir>/vms/<name>/root-v<N>.qcow2   template versions (published ones are read-only)
 *   <imagesDir>/vms/<name>/nvram.fd          UEFI variables
 *   <imagesDir>/vms/<name>/console.log       serial console log
 *   <imagesDir>/vms/.bases/                  frozen images shared by linked clones
 *   <imagesDir>/vms/.locks/<name>.lock       one command at a time per name
 */
export class StorageLayout {
  readonly root: string;

  constructor(imagesDir: string) {
    this.root = join(imagesDir, 'vms');
  }

  vmDir(name: string): string { return join(this.root, name); }
  rootDisk(name: string): string { return join(this.vmDir(name), 'root.qcow2'); }
  privateDisk(name: string): string { return join(this.vmDir(name), 'private.qcow2'); }
  templateVersion(name: string, version: number): string { return join(this.vmDir(name), `root-v${version}.qcow2`); }
  nvram(name: string): string { return join(this.vmDir(name), 'nvram.fd'); }
  consoleLog(name: string): string { return join(this.vmDir(name), 'console.log'); }
  /** Present while a create, clone or import is under way; the repair step removes what it marks. */
  pendingMarker(name: string): string { return join(this.vmDir(name), '.vms-pending'); }
  /** Marks a disposable's folder: it goes as soon as its domain is gone. */
  disposableMarker(name: string): string { return join(this.vmDir(name), '.vms-disposable'); }
  /** Set on a template while it runs for an update; its shutdown publishes a new version. */
  updatingMarker(name: string): string { return join(this.vmDir(name), '.vms-updating'); }
  basesDir(): string { return join(this.root, '.bases'); }
  locksDir(): string { return join(this.root, '.locks'); }
  lock(name: string): string { return join(this.locksDir(), `${name}.lock`); }
}

/** Parses `root-v<N>.qcow2`. */
export function templateVersionOf(fileName: string): number | undefined {
  const match = /^root-v(\d+)\.qcow2$/.exec(fileName);
  return match ? Number(match[1]) : undefined;
}
