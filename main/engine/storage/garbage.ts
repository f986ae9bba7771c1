import type { EngineContext } from '../context.js';
import { listDomainsWithXml } from '../libvirt/domains.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { listVolumes, refreshPool } from '../libvirt/storage.js';
import { namesLocked } from '../name-lock.js';
import type { VolumeInfo } from '../xml/storage-xml.js';
import { disksOf } from '../xml/domain-read.js';
import { readMetadata } from '../xml/metadata.js';
import { child, childElements, find, parseXml, textOf } from '../xml/tree.js';
import { ownerOfVolume, templateVersionVolume } from './layout.js';
import { ensureVmsPool } from './pool.js';

/**
 * Which volumes of the pool are still needed: every disk of every domain (vms's or not, by pool volume
 * or by path), everything below them in their backing chains, and the NVRAM stores and console logs of
 * VMs that exist. Pure.
 */
export function neededVolumes(volumes: readonly VolumeInfo[], domains: ReadonlyArray<{ name: string; xml: string }>, pool: string): Set<string> {
  const byPath = new Map(volumes.map((v) => [v.path, v]));
  const byName = new Map(volumes.map((v) => [v.name, v]));
  const domainNames = new Set(domains.map((d) => d.name));
  const needed = new Set<string>();
  const keep = (volume: VolumeInfo | undefined) => {
    // Follow the chain down; libvirt's volume XML names the next layer by path.
    for (let layer = volume; layer && !needed.has(layer.name); layer = layer.backingPath ? byPath.get(layer.backingPath) : undefined) {
      needed.add(layer.name);
    }
  };
  for (const domain of domains) {
    const root = parseXml(domain.xml);
    // A template's metadata names its published version: needed even while no disk is built on it yet (a
    // publish killed after its commit point, before the work disk moved onto the new version).
    const meta = readMetadata(child(root, 'metadata'));
    if (meta?.kind === 'template' && meta.imageVersion) keep(byName.get(templateVersionVolume(domain.name, meta.imageVersion)));
    for (const disk of disksOf(root)) {
      keep(disk.pool === pool && disk.volume ? byName.get(disk.volume) : disk.path ? byPath.get(disk.path) : undefined);
    }
    // By path too: a domain renamed outside vms (virsh domrename) keeps its NVRAM and log under the old name.
    keep(byPath.get(textOf(find(root, 'os', 'nvram')) ?? ''));
    for (const serial of childElements(find(root, 'devices') ?? root, 'serial')) keep(byPath.get(find(serial, 'log')?.attrs.file ?? ''));
  }
  for (const volume of volumes) {
    const owner = ownerOfVolume(volume.name);
    if (owner && domainNames.has(owner) && /\.(nvram\.fd|console\.log(\.\d+)?)$/.test(volume.name)) needed.add(volume.name);
  }
  return needed;
}

/**
 * Removes the volumes nothing needs any more: those of deleted VMs and disposables, half-made ones of a
 * killed command, frozen disks no clone uses, template versions no VM is built on. Volumes of a VM that a
 * live command is working on (its name lock is held) are left alone, but for `releasing`, whose lock the
 * caller holds; the shared `_` bases stay.
 */
export async function collectGarbage(ctx: EngineContext, options: { releasing?: string } = {}): Promise<GarbageReport> {
  await ensureVmsPool(ctx);
  // Which names are busy is read before and after what exists, volumes first, then domains. A command
  // that held its lock across the first read: its domain is defined before it lets go, so a volume listed
  // without its domain still shows as busy at the second read. One that took its lock after the first
  // read and made a volume before the listing still holds it at the second (seen in the parallel test:
  // a disposable's new root deleted by another command's collection).
  const busy = await namesLocked(ctx);
  // NVRAM stores and console logs are made by libvirt outside the volume API: a refresh lists them.
  await refreshPool(ctx.libvirt, ctx.layout.pool);
  const volumes = await listVolumes(ctx.libvirt, ctx.layout.pool);
  const domains = await listDomainsWithXml(ctx.libvirt);
  for (const name of await namesLocked(ctx)) busy.add(name);
  // The caller holds this name's lock and is letting its volumes go (a failed create, a delete).
  if (options.releasing) busy.delete(options.releasing);
  const needed = neededVolumes(volumes, domains, ctx.layout.pool);
  const unused = volumes.filter((v) => !needed.has(v.name) && ownerOfVolume(v.name) && !busy.has(ownerOfVolume(v.name)!)).map((v) => v.name);
  // One at a time in one process: a volume libvirtd is still copying (a killed full clone's) refuses
  // and stays for the next collection, the others go.
  const results = await ctx.libvirt.batch(unused.map((name) => ['vol-delete', '--pool', ctx.layout.pool, name]));
  return { removed: unused.filter((_, i) => !results[i].error || isLibvirtError(results[i].error, 'not-found')), kept: unused.filter((_, i) => results[i].error && !isLibvirtError(results[i].error, 'not-found')) };
}

export interface GarbageReport {
  removed: string[];
  /** Unused volumes libvirt would not delete yet (being written); the next collection tries again. */
  kept: string[];
}
