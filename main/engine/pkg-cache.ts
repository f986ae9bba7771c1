import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { vmNameProblem } from './names.js';
import { planPrune } from './pkg-versions.js';
import type { SharedFolderSpec } from './xml/domain-build.js';

/**
 * The pacman package caches every VM mounts over virtio-9p:
 *
 *   <pkgCacheDir>/shared/        the host's shared cache: tag `pkg-shared`, read-only in every guest
 *                                (`<readonly/>`: QEMU answers every write with EROFS)
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
  vmDir(name: string): string {
    // Never a path outside the root, and never the shared folder itself.
    if (vmNameProblem(name) || name === 'shared') throw new Error(`not a VM name: ${name}`);
    return join(this.root, name);
  }
}

export function pkgLayout(ctx: EngineContext): PkgCacheLayout {
  return new PkgCacheLayout(ctx.config.pkgCacheDir);
}

/** The 9p folders a VM's domain gets. Pure. */
export function pkgSharedFolders(layout: PkgCacheLayout, name: string): SharedFolderSpec[] {
  return [
    { source: layout.shared(), tag: SHARED_TAG, readonly: true },
    { source: layout.vmDir(name), tag: VM_TAG },
  ];
}

/** The VM's own cache folder (and the shared one), made when missing: QEMU refuses to start without them. */
export async function ensureVmCache(ctx: EngineContext, name: string): Promise<void> {
  const layout = pkgLayout(ctx);
  await mkdir(layout.shared(), { recursive: true });
  await mkdir(layout.vmDir(name), { recursive: true });
}

/** Prepares everything a VM's 9p folders need before it starts: only that they exist (no mount, no root). */
export async function prepareVmCacheForStart(ctx: EngineContext, name: string): Promise<void> {
  await ensureVmCache(ctx, name);
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
