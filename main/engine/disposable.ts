import { randomInt } from 'node:crypto';
import { currentAccel } from './accel.js';
import type { EngineContext } from './context.js';
import { waitForDomainStop } from './domain-wait.js';
import { VmsError } from './errors.js';
import { getTemplate } from './inventory.js';
import { defineAndRead, domainStatus } from './libvirt/domains.js';
import { createVolumes, listVolumes } from './libvirt/storage.js';
import { chooseTemplate } from './template-choice.js';
import { isLockHeld } from './name-lock.js';
import { assertLabel } from './names.js';
import { prepareVmNetwork, removeVmNetworking } from './network/vm-network.js';
import { prepareVmCacheForStart } from './storage/pkg-cache.js';
import { overlaySpec } from './storage/disks.js';
import { collectGarbage } from './storage/garbage.js';
import { journalEntries, removeJournalEntry } from './storage/journal.js';
import { ownerOfVolume } from './storage/layout.js';
import { publishedVolume } from './templates.js';
import type { VmInfo } from './types.js';
import { vmDomainSpec } from './vm-create.js';
import { createVmRecord } from './vm-record.js';
import { buildDomainXml } from './xml/domain-build.js';

export interface DisposableOptions {
  template?: string;
  label?: string;
  memoryMiB?: number;
  /** Start paused (a preloaded disposable waiting in the pool). */
  paused?: boolean;
  preloaded?: boolean;
}

async function freeDisposableName(ctx: EngineContext): Promise<string> {
  const journaled = new Set(await journalEntries(ctx, 'disposable'));
  for (let attempt = 0; attempt < 50; attempt++) {
    const name = `disp${randomInt(1000, 10000)}`;
    if (!journaled.has(name) && !(await domainStatus(ctx.libvirt, name))) return name;
  }
  throw new VmsError('Could not find a free disposable name: delete some disposables and try again.');
}

/**
 * Starts a new disposable: a transient libvirt domain (libvirt forgets it when it stops) on an overlay of
 * the template. It is in the journal as a disposable, so its volumes go when the domain is gone — through
 * `reapDisposable`, called by whoever sees it stop, or by the next command's repair.
 */
export async function createDisposable(ctx: EngineContext, options: DisposableOptions = {}): Promise<VmInfo> {
  const label = options.label ?? 'disposable';
  assertLabel(label);
  const templateName = await chooseTemplate(ctx, options.template);
  const template = await getTemplate(ctx, templateName);
  const published = publishedVolume(ctx, template);
  const name = await freeDisposableName(ctx);
  return createVmRecord(ctx, name, async () => {
    const rootVolume = ctx.layout.rootVolume(name);
    await createVolumes(ctx.libvirt, ctx.layout.pool, [overlaySpec(ctx, rootVolume, published)]);
    const net = await prepareVmNetwork(ctx, name, label);
    // No private disk and no own package cache: nothing of a disposable outlives it.
    const spec = vmDomainSpec(ctx, name, { kind: 'disposable', label, template: template.name, preloaded: options.preloaded, created: new Date().toISOString() }, {
      memoryMiB: options.memoryMiB ?? ctx.config.defaultMemoryMiB,
      vcpus: ctx.config.defaultVcpus,
      rootVolume,
      network: net?.network,
      clipboard: net?.clipboard,
      pkgCache: false,
    });
    await prepareVmCacheForStart(ctx);
    return defineAndRead(ctx.libvirt, buildDomainXml({ ...spec, accel: await currentAccel(ctx) }), name, { transient: true, paused: options.paused });
  }, { journal: 'disposable' });
}

/**
 * Removes a disposable's volumes (root, NVRAM, console log), filters and fixed address once its domain is
 * gone; true when it did. A volume that stays (the collection passed it over this time) keeps its journal
 * entry, so the next try, or the next command's repair, removes it.
 */
export async function reapDisposable(ctx: EngineContext, name: string): Promise<boolean> {
  if (!(await journalEntries(ctx, 'disposable')).includes(name)) return false;
  if (await domainStatus(ctx.libvirt, name)) return false;
  if (await isLockHeld(ctx.layout.lock(name))) return false;
  await collectGarbage(ctx);
  if ((await listVolumes(ctx.libvirt, ctx.layout.pool)).some((volume) => ownerOfVolume(volume.name) === name)) return false;
  await removeVmNetworking(ctx, name).catch(() => undefined);
  await removeJournalEntry(ctx, 'disposable', name);
  return true;
}

/**
 * Waits for a disposable's domain to go (it shut down, from inside the guest too) and reaps its volumes.
 * Follows libvirt's lifecycle events through the one watch (with its ready handshake), not polling.
 */
export async function watchDisposable(ctx: EngineContext, name: string): Promise<void> {
  await waitForDomainStop(ctx, name, 2 ** 31 - 1);
  // The command that made it may still hold its lock for a moment.
  for (let attempt = 0; attempt < 50 && !(await reapDisposable(ctx, name)); attempt++) {
    if (!(await journalEntries(ctx, 'disposable')).includes(name)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
