import { join } from 'node:path';
import type { EngineContext } from '../context.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { createDirPool, deleteDirPool, deleteVolumes, ensureDirPool, listPools, listVolumes, qemuProcessOwner, refreshPool } from '../libvirt/storage.js';
import { isLockHeld } from '../name-lock.js';
import { vmNameProblem } from '../names.js';
import { planPrune } from '../pkg-versions.js';
import type { SharedFolderSpec } from '../xml/domain-build.js';

/**
 * The pacman package caches every VM mounts over virtio-9p:
 *
 *   <pkgCacheDir>/shared/   the host's shared cache: tag `pkg-shared`, read-only in every guest (libvirt
 *                           enforces it), written by template builds on the host
 *   <pkgCacheDir>/<vm>/     the VM's own cache: tag `pkg-vm`, writable; disposables have none
 *
 * Each folder is a libvirt directory pool (`<pool>-pkg-shared`, `<pool>-pkg-<vm>`), so libvirtd makes,
 * lists and removes them, with the QEMU user as owner of the writable ones: vms itself needs no rights on
 * them, and `vms cache` works as the desktop user. A pool per VM is the simplest way to have libvirt make
 * and remove a folder; the price is one pool per VM in virt-manager's storage list.
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

/** The shared folders a VM's domain gets: the shared cache, and its own unless it has none. Pure. */
export function pkgSharedFolders(layout: PkgCacheLayout, name?: string): SharedFolderSpec[] {
  return [
    { source: layout.shared(), tag: SHARED_TAG, readOnly: true },
    ...(name ? [{ source: layout.vmDir(name), tag: VM_TAG }] : []),
  ];
}

function sharedPool(ctx: EngineContext): string { return `${ctx.layout.pool}-pkg-shared`; }
function vmPool(ctx: EngineContext, name: string): string { return `${ctx.layout.pool}-pkg-${name}`; }

const sharedReady = new WeakMap<EngineContext, Promise<unknown>>();

/** The shared cache's pool (root-owned, readable by all: template builds write it as root, guests read it). */
function ensureSharedCache(ctx: EngineContext): Promise<unknown> {
  let ready = sharedReady.get(ctx);
  if (!ready) {
    ready = ensureDirPool(ctx.libvirt, sharedPool(ctx), pkgLayout(ctx).shared(), { uid: 0, gid: 0, mode: '0755' });
    ready.catch(() => sharedReady.delete(ctx));
    sharedReady.set(ctx, ready);
  }
  return ready;
}

/** The VM's own cache (and the shared one), made when missing; the QEMU process writes the VM's own. */
export async function ensureVmCache(ctx: EngineContext, name: string): Promise<void> {
  await ensureSharedCache(ctx);
  const owner = await qemuProcessOwner(ctx.libvirt);
  await createDirPool(ctx.libvirt, vmPool(ctx, name), pkgLayout(ctx).vmDir(name), { ...owner, mode: '0755' });
}

/** Everything a VM's shared folders need before it starts (after a host reboot, pools autostart anyway). */
export async function prepareVmCacheForStart(ctx: EngineContext, name?: string): Promise<void> {
  if (name) await ensureVmCache(ctx, name);
  else await ensureSharedCache(ctx);
}

/** Removes a VM's own cache: its files, its folder and its pool. */
export async function removeVmCache(ctx: EngineContext, name: string): Promise<void> {
  await removeCachePool(ctx, vmPool(ctx, name));
}

async function removeCachePool(ctx: EngineContext, pool: string): Promise<void> {
  try {
    await refreshPool(ctx.libvirt, pool);
    await deleteVolumes(ctx.libvirt, pool, (await listVolumes(ctx.libvirt, pool)).map((v) => v.name));
  } catch (error) {
    if (!isLibvirtError(error, 'not-found') && !isLibvirtError(error, 'inactive')) throw error;
  }
  await deleteDirPool(ctx.libvirt, pool);
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

/** The cache pools: shared first, then one per VM, sorted. */
async function cachePools(ctx: EngineContext): Promise<Array<{ name: string; pool: string; path: string }>> {
  const prefix = `${ctx.layout.pool}-pkg-`;
  const vms = (await listPools(ctx.libvirt)).filter((p) => p.startsWith(prefix) && p !== sharedPool(ctx)).map((p) => p.slice(prefix.length)).filter((n) => !vmNameProblem(n)).sort();
  const layout = pkgLayout(ctx);
  return [{ name: 'shared', pool: sharedPool(ctx), path: layout.shared() }, ...vms.map((name) => ({ name, pool: vmPool(ctx, name), path: layout.vmDir(name) }))];
}

/** The package files of a cache pool, as libvirt sees them now. */
async function cacheFiles(ctx: EngineContext, pool: string) {
  try {
    await refreshPool(ctx.libvirt, pool);
    return await listVolumes(ctx.libvirt, pool);
  } catch (error) {
    if (isLibvirtError(error, 'not-found') || isLibvirtError(error, 'inactive')) return [];
    throw error;
  }
}

/** Sizes of the shared cache and of each VM's cache. */
export async function cacheUsage(ctx: EngineContext, vmNames: ReadonlySet<string>): Promise<FolderUsage[]> {
  await ensureSharedCache(ctx);
  return Promise.all((await cachePools(ctx)).map(async (folder) => {
    const files = await cacheFiles(ctx, folder.pool);
    return {
      name: folder.name,
      path: folder.path,
      bytes: files.reduce((sum, f) => sum + f.allocation, 0),
      files: files.length,
      ...(folder.name === 'shared' ? {} : { hasVm: vmNames.has(folder.name) }),
    };
  }));
}

export interface PruneResult {
  folder: string;
  removed: string[];
  freedBytes: number;
}

/**
 * Keeps the newest `keep` versions of each package in every cache (like `paccache -rk N`). The guests only
 * read the shared one, so removing from it is safe while VMs run.
 */
export async function pruneCaches(ctx: EngineContext, keep: number, options: { dryRun?: boolean } = {}): Promise<PruneResult[]> {
  const results: PruneResult[] = [];
  for (const folder of await cachePools(ctx)) {
    const files = await cacheFiles(ctx, folder.pool);
    const { remove } = planPrune(files.map((f) => f.name), keep);
    if (remove.length === 0) continue;
    const removing = new Set(remove);
    const freedBytes = files.filter((f) => removing.has(f.name)).reduce((sum, f) => sum + f.allocation, 0);
    if (!options.dryRun) await deleteVolumes(ctx.libvirt, folder.pool, remove);
    results.push({ folder: folder.name, removed: remove, freedBytes });
  }
  return results;
}

/** Removes the caches of VMs that are gone (a crash between create and define, or a pool left by hand). */
export async function removeOrphanCaches(ctx: EngineContext, vmNames: ReadonlySet<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const folder of await cachePools(ctx)) {
    if (folder.name === 'shared' || vmNames.has(folder.name)) continue;
    // A VM being made right now has its cache before its domain.
    if (await isLockHeld(ctx.layout.lock(folder.name))) continue;
    await removeCachePool(ctx, folder.pool);
    removed.push(folder.name);
  }
  return removed;
}
