import { randomUUID } from 'node:crypto';
import { chmod, link, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { readBackingChain, readBackingFile } from './qcow2-header.js';
import { canReflink, copyFile } from './tools/filesystem.js';
import { convertToQcow2, createOverlay } from './tools/qemu-img.js';

/**
 * Disk files shared between VMs: overlays, frozen bases for linked clones, independent copies, and
 * the reference scan that decides which shared files are still needed.
 */

/** Replaces `path` with a fresh overlay on `backing`, atomically (a crash leaves the old file). */
export async function replaceWithOverlay(path: string, backing: string): Promise<void> {
  const fresh = `${path}.new`;
  await rm(fresh, { force: true });
  await createOverlay(fresh, backing);
  await rename(fresh, path);
}

/**
 * Freezes a disk's current content into a read-only base in the shared store and puts the disk itself on
 * an overlay of it; returns the base. A linked clone then gets its own overlay on the same base, so the
 * source and the clone never see each other's writes. Crash-safe: until the final rename the source
 * disk is untouched, and an unreferenced base is removed by the next reference scan.
 */
export async function freezeIntoBase(ctx: EngineContext, diskPath: string): Promise<string> {
  const base = join(ctx.layout.basesDir(), `${randomUUID()}.qcow2`);
  await mkdir(ctx.layout.basesDir(), { recursive: true });
  await link(diskPath, base);
  await replaceWithOverlay(diskPath, base);
  await chmod(base, 0o444);
  return base;
}

/**
 * An independent copy: reflink (instant on btrfs and XFS) when the disk has no backing file and the
 * filesystem allows it, otherwise a flattening `qemu-img convert` with progress.
 */
export async function independentCopy(source: string, target: string, onProgress?: (percent: number) => void): Promise<'reflink' | 'copy'> {
  if (!(await readBackingFile(source)) && (await canReflink(source, `${target}.reflink-probe`))) {
    await copyFile(source, target);
    onProgress?.(100);
    return 'reflink';
  }
  await convertToQcow2(source, target, onProgress);
  return 'copy';
}

async function qcow2FilesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.qcow2')).map((f) => join(dir, f));
  } catch {
    return [];
  }
}

/** Every disk file of every VM folder, and every shared base. */
export async function allDiskFiles(ctx: EngineContext): Promise<string[]> {
  let entries: string[] = [];
  try {
    entries = (await readdir(ctx.layout.root)).filter((e) => !e.startsWith('.'));
  } catch {
    return [];
  }
  const perVm = await Promise.all(entries.map((e) => qcow2FilesIn(ctx.layout.vmDir(e))));
  return [...perVm.flat(), ...(await qcow2FilesIn(ctx.layout.basesDir()))];
}

/** Maps each file that some other disk is built on to the disks built on it. */
export async function backingUsers(ctx: EngineContext, files?: string[]): Promise<Map<string, string[]>> {
  const users = new Map<string, string[]>();
  for (const file of files ?? (await allDiskFiles(ctx))) {
    for (const below of (await readBackingChain(file)).slice(1)) {
      users.set(below, [...(users.get(below) ?? []), file]);
    }
  }
  return users;
}

/** Removes shared bases that no disk is built on any more. */
export async function pruneBases(ctx: EngineContext): Promise<string[]> {
  const users = await backingUsers(ctx);
  const unused = (await qcow2FilesIn(ctx.layout.basesDir())).filter((base) => !users.has(base));
  await Promise.all(unused.map((base) => rm(base, { force: true })));
  return unused;
}
