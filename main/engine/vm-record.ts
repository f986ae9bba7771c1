import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { vmFromSnapshot } from './inventory.js';
import { domainStatus, type DomainSnapshot } from './libvirt/domains.js';
import { withNameLock } from './name-lock.js';
import { removeVmNetworking } from './network/vm-network.js';
import { removeVmCache } from './storage/pkg-cache.js';
import { collectGarbage } from './storage/garbage.js';
import { ownerOfVolume } from './storage/layout.js';
import { addJournalEntry, removeJournalEntry } from './storage/journal.js';
import { ensureVmsPool } from './storage/pool.js';
import type { VmInfo } from './types.js';

/**
 * Makes a new VM under its name lock: `fill` makes its volumes and defines its domain. Until the domain
 * exists the name is in the journal as pending; a failure removes what `fill` made, and a kill -9 in
 * between is finished by the next command's repair (the volumes of a name with no domain go).
 */
export async function createVmRecord(ctx: EngineContext, name: string, fill: () => Promise<DomainSnapshot>, options: { journal?: 'disposable' } = {}): Promise<VmInfo> {
  return withNameLock(ctx.layout.lock(name), name, async () => {
    await ensureVmsPool(ctx);
    if (await domainStatus(ctx.libvirt, name)) throw new VmsError(`A VM named "${name}" already exists: choose another name.`);
    await addJournalEntry(ctx, 'pending', name, String(process.pid));
    if (options.journal) await addJournalEntry(ctx, options.journal, name);
    let snapshot: DomainSnapshot;
    try {
      snapshot = await fill();
    } catch (error) {
      // Undone here only when libvirt says there is no domain and lets everything go; libvirtd gone or
      // restarting (it cannot tell), the journal entries stay and the next command's repair finishes it.
      if (await undoHalfMade(ctx, name)) {
        if (options.journal) await removeJournalEntry(ctx, options.journal, name);
        await removeJournalEntry(ctx, 'pending', name);
      }
      throw error;
    }
    await removeJournalEntry(ctx, 'pending', name);
    return vmFromSnapshot(snapshot)!;
  });
}

/** Removes what a failed create made, if its domain surely does not exist; true when all of it is gone. */
async function undoHalfMade(ctx: EngineContext, name: string): Promise<boolean> {
  try {
    if (await domainStatus(ctx.libvirt, name)) return false;
    const garbage = await collectGarbage(ctx, { releasing: name });
    await removeHalfMadeExtras(ctx, name);
    return !garbage.kept.some((volume) => ownerOfVolume(volume) === name);
  } catch {
    return false;
  }
}

/** What making a VM creates outside the pool before its domain exists (its package cache, its network filters and fixed address): gone with a failed or killed create. */
export async function removeHalfMadeExtras(ctx: EngineContext, name: string): Promise<void> {
  await removeVmCache(ctx, name);
  await removeVmNetworking(ctx, name);
}
