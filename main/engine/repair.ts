import type { EngineContext } from './context.js';
import { reapDisposable } from './disposable.js';
import { listDomains } from './libvirt/domains.js';
import { isLockHeld, removeStaleLocks } from './name-lock.js';
import { collectGarbage } from './storage/garbage.js';
import { ownerOfVolume } from './storage/layout.js';
import { journalEntries, removeJournalEntry } from './storage/journal.js';
import { publishTemplate } from './templates.js';
import { removeHalfMadeExtras } from './vm-record.js';

export interface RepairReport {
  /** Names whose leftovers were removed: disposables whose domain is gone, and creations that never finished. */
  removed: string[];
  /** Templates whose update was published. */
  published: string[];
}

/**
 * Finishes what an interrupted or unwatched command left: runs before every command, so a kill -9 or a
 * disposable that shut down while nothing watched it leaves nothing behind for long. Cheap when there is
 * nothing to do: it reads the user's journal and asks libvirt only when an entry is there.
 */
export async function repair(ctx: EngineContext): Promise<RepairReport> {
  const report: RepairReport = { removed: [], published: [] };
  await removeStaleLocks(ctx);
  const [pending, disposables, updating] = await Promise.all([journalEntries(ctx, 'pending'), journalEntries(ctx, 'disposable'), journalEntries(ctx, 'updating')]);
  const idle = async (names: string[]) => (await Promise.all(names.map(async (n) => ((await isLockHeld(ctx.layout.lock(n))) ? [] : [n])))).flat();
  const [pendingIdle, disposablesIdle, updatingIdle] = await Promise.all([idle(pending), idle(disposables), idle(updating)]);
  if (pendingIdle.length + disposablesIdle.length + updatingIdle.length === 0) return report;

  const domains = new Map((await listDomains(ctx.libvirt)).map((d) => [d.name, d]));
  // Defined: the command finished but for its journal entry. Not defined: it died half-way.
  const halfMade = pendingIdle.filter((name) => !domains.has(name));
  const kept = halfMade.length > 0 ? (await collectGarbage(ctx)).kept : [];
  for (const name of pendingIdle) {
    // A volume libvirtd is still writing (a killed full copy) goes next time: the entry stays till then.
    if (kept.some((volume) => ownerOfVolume(volume) === name)) continue;
    if (halfMade.includes(name)) {
      await removeHalfMadeExtras(ctx, name);
      report.removed.push(name);
    }
    await removeJournalEntry(ctx, 'pending', name);
  }
  for (const name of disposablesIdle) {
    if (!domains.has(name) && (await reapDisposable(ctx, name)) && !report.removed.includes(name)) report.removed.push(name);
  }
  for (const name of updatingIdle) {
    const domain = domains.get(name);
    if (!domain) await removeJournalEntry(ctx, 'updating', name);
    else if (domain.state === 'shut off' && (await publishTemplate(ctx, name))) report.published.push(name);
  }
  return report;
}
