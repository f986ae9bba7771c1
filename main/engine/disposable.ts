import { randomInt } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { currentAccel } from './accel.js';
import type { EngineContext } from './context.js';
import { pathExists } from './file-exists.js';
import { replaceWithOverlay } from './disk-store.js';
import { getTemplate } from './inventory.js';
import { chooseTemplate } from './template-choice.js';
import { isLockHeld } from './name-lock.js';
import { assertLabel } from './names.js';
import { prepareVmNetwork, pruneDisposableFilters, removeVmFilters } from './network/vm-network.js';
import { prepareVmCacheForStart, removeVmCache } from './pkg-cache.js';
import { createVmFolder, publishedImage } from './templates.js';
import { defineAndRead, domainStatus } from './tools/virsh.js';
import type { VmInfo } from './types.js';
import { buildDomainXml } from './xml/domain-build.js';
import { vmDomainSpec } from './vm-create.js';
import { VmsError } from './errors.js';

export interface DisposableOptions {
  template?: string;
  label?: string;
  memoryMiB?: number;
  /** Start paused (a preloaded disposable waiting in the pool). */
  paused?: boolean;
  preloaded?: boolean;
}

async function freeDisposableName(ctx: EngineContext): Promise<string> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const name = `disp${randomInt(1000, 10000)}`;
    if (!(await domainStatus(ctx.config.uri, name)) && !(await pathExists(ctx.layout.vmDir(name)))) return name;
  }
  throw new VmsError('Could not find a free disposable name: delete some disposables and try again.');
}


/**
 * Starts a new disposable: a transient libvirt domain (libvirt forgets it when it stops) on an overlay of
 * the template. Its folder is marked, so its disk and NVRAM go when the domain is gone — through
 * `reapDisposable`, called by whoever sees it stop, or by the next command's repair.
 */
export async function createDisposable(ctx: EngineContext, options: DisposableOptions = {}): Promise<VmInfo> {
  const label = options.label ?? 'disposable';
  assertLabel(label);
  const templateName = await chooseTemplate(ctx, options.template);
  const template = await getTemplate(ctx, templateName);
  const image = publishedImage(ctx, template);
  const name = await freeDisposableName(ctx);
  await pruneDisposableFilters(ctx).catch(() => undefined);
  return createVmFolder(ctx, name, async () => {
    await writeFile(ctx.layout.disposableMarker(name), template.name);
    await replaceWithOverlay(ctx.layout.rootDisk(name), image);
    const net = await prepareVmNetwork(ctx, name, label);
    const spec = vmDomainSpec(ctx, name, { kind: 'disposable', label, template: template.name, preloaded: options.preloaded, created: new Date().toISOString() }, {
      memoryMiB: options.memoryMiB ?? ctx.config.defaultMemoryMiB,
      vcpus: ctx.config.defaultVcpus,
      withPrivate: false,
      network: net?.network,
      clipboard: net?.clipboard,
    });
    await prepareVmCacheForStart(ctx, name);
    return defineAndRead(ctx.config.uri, buildDomainXml({ ...spec, accel: await currentAccel(ctx) }), name, { transient: true, paused: options.paused });
  });
}

/** Removes a disposable's files once its domain is gone; true when it did. */
export async function reapDisposable(ctx: EngineContext, name: string): Promise<boolean> {
  if (!(await pathExists(ctx.layout.disposableMarker(name)))) return false;
  if (await domainStatus(ctx.config.uri, name)) return false;
  if (await isLockHeld(ctx.layout.lock(name))) return false;
  await rm(ctx.layout.vmDir(name), { recursive: true, force: true });
  await removeVmCache(ctx, name);
  await removeVmFilters(ctx, name).catch(() => undefined);
  return true;
}

/**
 * Waits for a disposable's domain to go (it shut down, from inside the guest too) and reaps its files.
 * Follows libvirt's lifecycle events rather than polling.
 */
export async function watchDisposable(ctx: EngineContext, name: string): Promise<void> {
  const events = execa('virsh', ['-c', ctx.config.uri, 'event', '--domain', name, '--event', 'lifecycle', '--loop'], { reject: false, buffer: false });
  const stopped = new Promise<void>((resolve) => {
    events.stdout?.on('data', (chunk: Buffer) => {
      if (/Stopped|Undefined|Shutdown Finished/.test(chunk.toString())) resolve();
    });
    void events.then(() => resolve());
  });
  // The domain may have gone before the watch began.
  if (await domainStatus(ctx.config.uri, name)) await stopped;
  events.kill();
  for (let attempt = 0; attempt < 50 && !(await reapDisposable(ctx, name)); attempt++) {
    if (!(await pathExists(ctx.layout.vmDir(name)))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
