import { lstat, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { vmNameProblem } from './names.js';
import { planPrune } from './pkg-versions.js';
import { runTool } from './tools/run.js';
import type { SharedFolderSpec } from './xml/domain-build.js';

/**
 * The pacman package caches every VM mounts over virtiofs:
 *
 *   <pkgCacheDir>/shared/        the host's shared cache: tag `pkg-shared`, read-only in every guest
 *   <pkgCacheDir>/.ro/shared     a read-only bind mount of shared/, which is what virtiofsd exports
 *                                (libvirt 9.0 refuses virtiofs `<readonly/>`); set up again before a start
 *                                when it is missing (after a host reboot)
 *   <pkgCacheDir>/<vm>/          the VM's own cache: tag `pkg-vm`, writable; made at create and clone,
 *                                removed at delete and with a disposable
 *
 * Templates mount them on /var/cache/pacman/shared (ro) and /var/cache/pacman/pkg (both CacheDir lines),
 * so a package any VM or the host already has is never downloaded again.
 */

export const SHARED_TAG = 'pkg-shared';
export const VM_TAG = 'pkg-vm';

/** Where each cache folder is. Pure. */
export class PkgCacheLayout {
  constructor(readonly root: string) {}
  shared(): string { return join(this.root, 'shared'); }
  /** The read-only bind mount of shared/ that guests get. */
  sharedExport(): string { return join(this.root, '.ro', 'shared'); }
  lockFile(): string { return join(this.root, '.ro', '.lock'); }
  vmDir(name: string): string {
    // Never a path outside the root, and never the shared folder itself.
    if (vmNameProblem(name) || name === 'shared') throw new Error(`not a VM name: ${name}`);
    return join(this.root, name);
  }
}

export function pkgLayout(ctx: EngineContext): PkgCacheLayout {
  return new PkgCacheLayout(ctx.config.pkgCacheDir);
}

/** The virtiofs folders a VM's domain gets. Pure. */
export function pkgSharedFolders(layout: PkgCacheLayout, name: string): SharedFolderSpec[] {
  return [
    { source: layout.sharedExport(), tag: SHARED_TAG },
    { source: layout.vmDir(name), tag: VM_TAG },
  ];
}

export interface MountEntry {
  mountPoint: string;
  /** The folder of the mounted filesystem that appears here (a bind mount's source, relative to its filesystem). */
  root: string;
  options: string[];
  fsType: string;
  source: string;
}

/** `\040` and friends in /proc/self/mountinfo. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses /proc/self/mountinfo. Pure. */
export function parseMountInfo(text: string): MountEntry[] {
  return text.split('\n').flatMap((line) => {
    const fields = line.trim().split(' ');
    const dash = fields.indexOf('-');
    if (fields.length < 10 || dash < 6) return [];
    return [{
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      options: fields[5].split(','),
      fsType: fields[dash + 1],
      source: unescapeMountField(fields[dash + 2]),
    }];
  });
}

/** The mount that is visible at `path` (the last one mounted there), if any. Pure. */
export function mountAt(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  return entries.filter((e) => e.mountPoint === path).at(-1);
}

async function sameFile(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** True when the export is a read-only mount of the shared folder. */
export async function sharedExportReady(layout: PkgCacheLayout): Promise<boolean> {
  const mount = mountAt(parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8')), layout.sharedExport());
  return Boolean(mount?.options.includes('ro')) && (await sameFile(layout.shared(), layout.sharedExport()));
}

// Runs under flock, so two starts at once do not stack two mounts; $1 = shared, $2 = export.
const MOUNT_SCRIPT = [
  'set -e',
  'if ! mountpoint -q "$2" || [ "$(stat -c %d:%i "$1")" != "$(stat -c %d:%i "$2")" ]; then mount --bind "$1" "$2"; fi',
  'mount -o remount,bind,ro "$2"',
].join('\n');

/**
 * Makes sure guests see the shared cache read-only: creates the folders and the read-only bind mount
 * when they are missing. Idempotent and cheap when all is in place (no process is started).
 */
export async function ensureSharedExport(ctx: EngineContext): Promise<void> {
  const layout = pkgLayout(ctx);
  await mkdir(layout.shared(), { recursive: true });
  await mkdir(layout.sharedExport(), { recursive: true });
  if (await sharedExportReady(layout)) return;
  try {
    await runTool('flock', [layout.lockFile(), 'sh', '-c', MOUNT_SCRIPT, 'sh', layout.shared(), layout.sharedExport()]);
  } catch (error) {
    throw new VmsError(`Cannot share the package cache read-only (a bind mount of ${layout.shared()} on ${layout.sharedExport()}): `
      + 'vms needs to run as root for this; try again as root.', { cause: error });
  }
  if (!(await sharedExportReady(layout))) throw new VmsError(`The package cache export ${layout.sharedExport()} is not read-only: check \`findmnt ${layout.sharedExport()}\`.`);
}

/** Undoes the bind mount (for tests and uninstalling); the folders stay. */
export async function releaseSharedExport(root: string): Promise<void> {
  const layout = new PkgCacheLayout(root);
  const entries = parseMountInfo(await readFile('/proc/self/mountinfo', 'utf8'));
  for (const _ of entries.filter((e) => e.mountPoint === layout.sharedExport())) {
    await runTool('umount', ['--lazy', layout.sharedExport()]);
  }
}

/** The VM's own cache folder (and the shared one), made when missing: virtiofsd refuses to start without them. */
export async function ensureVmCache(ctx: EngineContext, name: string): Promise<void> {
  const layout = pkgLayout(ctx);
  await mkdir(layout.shared(), { recursive: true });
  await mkdir(layout.vmDir(name), { recursive: true });
}

/** Prepares everything a VM's virtiofs folders need before it starts. */
export async function prepareVmCacheForStart(ctx: EngineContext, name: string): Promise<void> {
  await ensureVmCache(ctx, name);
  await ensureSharedExport(ctx);
}

export async function removeVmCache(ctx: EngineContext, name: string): Promise<void> {
  await rm(pkgLayout(ctx).vmDir(name), { recursive: true, force: true });
}

export interface FolderUsage {
  /** `shared`, or the VM's name. */
  name: string;
  path: string;
  bytes: number;
  files: number;
  /** For VM folders: false when no VM of that name exists any more. */
  hasVm?: boolean;
}

/** Disk usage of a folder tree (allocated blocks), not following symbolic links. */
export async function folderUsage(path: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  let entries;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return { bytes, files };
  }
  for (const entry of entries) {
    const full = join(path, entry.name);
    if (entry.isDirectory()) {
      const inner = await folderUsage(full);
      bytes += inner.bytes;
      files += inner.files;
    } else {
      const info = await lstat(full).catch(() => undefined);
      if (!info) continue;
      bytes += info.blocks * 512;
      files += 1;
    }
  }
  return { bytes, files };
}

/** The cache folders under the root: shared first, then one per VM name, sorted. */
export async function cacheFolders(layout: PkgCacheLayout): Promise<Array<{ name: string; path: string }>> {
  let entries: string[] = [];
  try {
    entries = (await readdir(layout.root, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [{ name: 'shared', path: layout.shared() }];
  }
  const vms = entries.filter((e) => e !== 'shared' && !vmNameProblem(e)).sort();
  return [{ name: 'shared', path: layout.shared() }, ...vms.map((name) => ({ name, path: layout.vmDir(name) }))];
}

/** Sizes of the shared cache and of each VM's cache. */
export async function cacheUsage(ctx: EngineContext, vmNames: ReadonlySet<string>): Promise<FolderUsage[]> {
  const layout = pkgLayout(ctx);
  const folders = await cacheFolders(layout);
  return Promise.all(folders.map(async (folder) => ({
    ...folder,
    ...(await folderUsage(folder.path)),
    ...(folder.name === 'shared' ? {} : { hasVm: vmNames.has(folder.name) }),
  })));
}

export interface PruneResult {
  folder: string;
  removed: string[];
  freedBytes: number;
}

/**
 * Keeps the newest `keep` versions of each package in every cache folder (like `paccache -rk N`). The
 * guests only read the shared folder, so removing from it is safe while VMs run.
 */
export async function pruneCaches(ctx: EngineContext, keep: number, options: { dryRun?: boolean } = {}): Promise<PruneResult[]> {
  const results: PruneResult[] = [];
  for (const folder of await cacheFolders(pkgLayout(ctx))) {
    let files: string[];
    try {
      files = (await readdir(folder.path, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    } catch {
      continue;
    }
    const { remove } = planPrune(files, keep);
    let freedBytes = 0;
    for (const file of remove) {
      const path = join(folder.path, file);
      const info = await lstat(path).catch(() => undefined);
      freedBytes += (info?.blocks ?? 0) * 512;
      if (!options.dryRun) await rm(path, { force: true });
    }
    if (remove.length > 0) results.push({ folder: folder.name, removed: remove, freedBytes });
  }
  return results;
}

/** Removes cache folders whose VM is gone (a crash between create and define, or a folder left by hand). */
export async function removeOrphanCaches(ctx: EngineContext, vmNames: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const folder of await cacheFolders(pkgLayout(ctx))) {
    if (folder.name === 'shared' || vmNames.has(folder.name)) continue;
    // A VM being created right now has its folder before its domain.
    const busy = await stat(ctx.layout.vmDir(folder.name)).then(() => true, () => false);
    if (busy) continue;
    await rm(folder.path, { recursive: true, force: true });
    removed.push(folder.name);
  }
  return removed;
}
