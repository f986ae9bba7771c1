import { rm } from 'node:fs/promises';
import { relative, sep } from 'node:path';
import type { EngineContext } from './context.js';
import { backingUsers, pruneBases } from './disk-store.js';
import { VmsError } from './errors.js';
import { getVm, listVms } from './inventory.js';
import { withNameLock } from './name-lock.js';
import { removeVmFilters } from './network/vm-network.js';
import { removeVmCache } from './pkg-cache.js';
import { pruneTemplateVersions } from './templates.js';
import { destroyDomain, undefineDomain } from './tools/virsh.js';

/** The VMs that would break if `name` went: children of a template, and VMs whose disks are built on its files. */
export async function dependentsOf(ctx: EngineContext, name: string): Promise<string[]> {
  const dependents = new Set((await listVms(ctx)).filter((vm) => vm.name !== name && vm.meta.template === name && vm.meta.kind !== 'standalone').map((vm) => vm.name));
  const dir = ctx.layout.vmDir(name);
  for (const [file, users] of await backingUsers(ctx)) {
    if (!file.startsWith(dir + sep)) continue;
    for (const user of users) {
      const owner = relative(ctx.layout.root, user).split(sep)[0];
      if (owner !== name && !owner.startsWith('.')) dependents.add(owner);
    }
  }
  return [...dependents].sort();
}

/** Deletes a VM: its domain, disks and NVRAM. A template that others are built on is refused. */
export async function deleteVm(ctx: EngineContext, name: string): Promise<void> {
  const vm = await getVm(ctx, name);
  await withNameLock(ctx.layout.lock(name), name, async () => {
    const dependents = await dependentsOf(ctx, name);
    if (dependents.length > 0) {
      throw new VmsError(`"${name}" cannot be deleted: ${dependents.join(', ')} ${dependents.length === 1 ? 'is' : 'are'} built on it; delete ${dependents.length === 1 ? 'it' : 'them'} first.`);
    }
    if (vm.state !== 'shut off') await destroyDomain(ctx.config.uri, name);
    if (vm.persistent) await undefineDomain(ctx.config.uri, name);
    await rm(ctx.layout.vmDir(name), { recursive: true, force: true });
    await removeVmCache(ctx, name);
    await removeVmFilters(ctx, name);
  });
  await pruneBases(ctx);
  if (vm.meta.template) await pruneTemplateVersions(ctx, vm.meta.template);
}
