import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { getVm } from './inventory.js';
import { destroyDomain, listDomainsWithXml, undefineDomain } from './libvirt/domains.js';
import { listVolumes } from './libvirt/storage.js';
import { withNameLock } from './name-lock.js';
import { removeVmNetworking } from './network/vm-network.js';
import { removeVmCache } from './storage/pkg-cache.js';
import { collectGarbage, neededVolumes } from './storage/garbage.js';
import { ownerOfVolume } from './storage/layout.js';
import { addJournalEntry, removeJournalEntry } from './storage/journal.js';
import { ensureVmsPool } from './storage/pool.js';
import { readDomain } from './xml/domain-read.js';

/**
 * The VMs built on a template: its children, and VMs whose disks are built on its versions. (A VM's disk
 * frozen for a linked clone is different: the VM can go, and the frozen disk stays while the clone uses it.)
 */
export async function dependentsOf(ctx: EngineContext, name: string): Promise<string[]> {
  await ensureVmsPool(ctx);
  const [domains, volumes] = await Promise.all([listDomainsWithXml(ctx.libvirt), listVolumes(ctx.libvirt, ctx.layout.pool)]);
  const dependents = new Set<string>();
  for (const domain of domains) {
    if (domain.name === name) continue;
    const meta = readDomain(domain.xml)?.meta;
    if (meta && meta.template === name && meta.kind !== 'standalone') dependents.add(domain.name);
    const chain = neededVolumes(volumes, [domain], ctx.layout.pool);
    if ([...chain].some((volume) => ownerOfVolume(volume) === name)) dependents.add(domain.name);
  }
  return [...dependents].sort();
}

/** Deletes a VM: its domain, volumes (those no other VM is built on), NVRAM, package cache, filters and fixed address. A template others are built on is refused. */
export async function deleteVm(ctx: EngineContext, name: string): Promise<void> {
  const vm = await getVm(ctx, name);
  await withNameLock(ctx.layout.lock(name), name, async () => {
    const dependents = vm.meta.kind === 'template' ? await dependentsOf(ctx, name) : [];
    if (dependents.length > 0) {
      throw new VmsError(`"${name}" cannot be deleted: ${dependents.join(', ')} ${dependents.length === 1 ? 'is' : 'are'} built on it; delete ${dependents.length === 1 ? 'it' : 'them'} first.`);
    }
    // Journalled like a creation: killed once the domain is gone, the next command's repair removes the rest.
    await addJournalEntry(ctx, 'pending', name, String(process.pid));
    if (vm.state !== 'shut off') await destroyDomain(ctx.libvirt, name);
    if (vm.persistent) await undefineDomain(ctx.libvirt, name);
    await removeVmCache(ctx, name);
    await removeVmNetworking(ctx, name);
    await collectGarbage(ctx, { releasing: name });
    await removeJournalEntry(ctx, 'pending', name);
  });
}
