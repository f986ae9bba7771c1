import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { EngineContext } from './context.js';
import { pathExists } from './file-exists.js';
import { pruneBases } from './disk-store.js';
import { isLockHeld } from './name-lock.js';
import { removeVmCache } from './pkg-cache.js';
import { publishTemplate } from './templates.js';
import { listDomains } from './tools/virsh.js';

export interface RepairReport {
  /** VM folders removed: disposables whose domain is gone, and creations that never finished. */
  removed: string[];
  /** Templates whose update was published. */
  published: string[];
}

/** Lock files whose process is gone (it was killed) are dropped. */
async function removeStaleLocks(ctx: EngineContext): Promise<void> {
  let locks: string[];
  try {
    locks = await readdir(ctx.layout.locksDir());
  } catch {
    return;
  }
  for (const lock of locks.filter((l) => l.endsWith('.lock'))) {
    const path = join(ctx.layout.locksDir(), lock);
    if (!(await isLockHeld(path))) await rm(path, { force: true });
  }
}


/**
 * Finishes what an interrupted or unwatched command left: runs before every command, so a kill -9 or a
 * disposable that shut down while nothing watched it leaves nothing behind for long.
 */
export async function repair(ctx: EngineContext): Promise<RepairReport> {
  const report: RepairReport = { removed: [], published: [] };
  await removeStaleLocks(ctx);
  let entries: string[];
  try {
    entries = (await readdir(ctx.layout.root)).filter((e) => !e.startsWith('.'));
  } catch {
    return report;
  }
  // Only marked folders need libvirt's word; most of the time there are none and no virsh runs at all.
  const marked = [];
  for (const name of entries) {
    const [pending, disposable, updating] = await Promise.all([
      pathExists(ctx.layout.pendingMarker(name)), pathExists(ctx.layout.disposableMarker(name)), pathExists(ctx.layout.updatingMarker(name))]);
    if (pending || disposable || updating) marked.push({ name, pending, disposable, updating });
  }
  if (marked.length === 0) return report;
  const domains = new Map((await listDomains(ctx.config.uri)).map((d) => [d.name, d]));
  for (const { name, pending, disposable, updating } of marked) {
    if (await isLockHeld(ctx.layout.lock(name))) continue;
    const domain = domains.get(name);
    if (domain) {
      if (pending) await rm(ctx.layout.pendingMarker(name), { force: true });
      if (updating && domain.state === 'shut off' && (await publishTemplate(ctx, name))) report.published.push(name);
    } else if (pending || disposable) {
      await rm(ctx.layout.vmDir(name), { recursive: true, force: true });
      await removeVmCache(ctx, name);
      report.removed.push(name);
    }
  }
  if (report.removed.length > 0) await pruneBases(ctx);
  return report;
}
