import { chmod, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { EngineContext } from './context.js';
import { backingUsers, independentCopy, replaceWithOverlay } from './disk-store.js';
import { VmsError } from './errors.js';
import { findVm, getVm, vmFromSnapshot } from './inventory.js';
import { withNameLock } from './name-lock.js';
import { assertLabel, assertVmName } from './names.js';
import { retireStalePreloaded } from './disposable-pool.js';
import { ensureVmCache, pkgLayout, pkgSharedFolders } from './pkg-cache.js';
import { templateVersionOf } from './storage-layout.js';
import { defineAndRead, defineDomain, domainStatus, dumpXml, type DomainSnapshot } from './tools/virsh.js';
import { convertToQcow2, imageInfo } from './tools/qemu-img.js';
import { readBackingChain } from './qcow2-header.js';
import type { VmInfo } from './types.js';
import { buildDomainXml } from './xml/domain-build.js';
import { editDomainXml, setDiskSource, setMetadata } from './xml/domain-edit.js';

/**
 * Templates are versioned. `root-v<N>.qcow2` is published and read-only: children start from it. The
 * template domain itself runs on `root-v<N+1>.qcow2`, an overlay on the published version, so updating a
 * template never changes what a running child sees. When the template shuts down, v<N+1> is published and
 * a new work overlay is made; old versions stay while any disk is built on them.
 */

/** How many layers a template image may have before a publish flattens it. */
const MAX_CHAIN_LENGTH = 4;

export function publishedImage(ctx: EngineContext, template: VmInfo): string {
  if (template.meta.kind !== 'template' || !template.meta.imageVersion) {
    throw new VmsError(`"${template.name}" is not a template with a published image: see \`vms info ${template.name}\`.`);
  }
  return ctx.layout.templateVersion(template.name, template.meta.imageVersion);
}

/** Registers an existing disk image as a template (copied in and made read-only). */
export async function importTemplate(ctx: EngineContext, name: string, image: string, options: { label?: string } = {}): Promise<VmInfo> {
  assertVmName(name);
  const label = options.label ?? 'template';
  assertLabel(label);
  let info;
  try {
    info = await imageInfo(image);
  } catch (error) {
    throw new VmsError(`Cannot read the disk image "${image}": check the path and that it is a disk image.`, { cause: error });
  }
  if (info.format !== 'qcow2' && info.format !== 'raw') {
    throw new VmsError(`"${image}" is a ${info.format} image: convert it to qcow2 or raw first (qemu-img convert).`);
  }
  return createVmFolder(ctx, name, async () => {
    const v1 = ctx.layout.templateVersion(name, 1);
    await independentCopy(image, v1);
    await chmod(v1, 0o444);
    const work = ctx.layout.templateVersion(name, 2);
    await replaceWithOverlay(work, v1);
    await ensureVmCache(ctx, name);
    return defineAndRead(ctx.config.uri, buildDomainXml({
      name,
      meta: { kind: 'template', label, imageVersion: 1, created: new Date().toISOString() },
      memoryMiB: ctx.config.defaultMemoryMiB,
      vcpus: ctx.config.defaultVcpus,
      accel: ctx.config.accel,
      disks: [{ target: 'vda', path: work }],
      nvramPath: ctx.layout.nvram(name),
      consoleLogPath: ctx.layout.consoleLog(name),
      network: { type: 'user' },
      clipboard: true,
      sharedFolders: pkgSharedFolders(pkgLayout(ctx), name),
    }), name);
  });
}

/**
 * Makes a VM's folder under the name lock, marked pending until `fill` has defined the domain; any
 * failure removes the folder again. A kill -9 in between leaves the marker, and `repair` finishes the job.
 */
export async function createVmFolder(ctx: EngineContext, name: string, fill: () => Promise<DomainSnapshot>): Promise<VmInfo> {
  return withNameLock(ctx.layout.lock(name), name, async () => {
    if (await domainStatus(ctx.config.uri, name)) throw new VmsError(`A VM named "${name}" already exists: choose another name.`);
    const dir = ctx.layout.vmDir(name);
    try {
      await mkdir(dir, { recursive: false });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new VmsError(`The folder ${dir} already exists but no VM uses it: move it away (or run any vms command to repair) and try again.`);
      }
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(ctx.layout.root, { recursive: true });
        await mkdir(dir);
      } else throw error;
    }
    await writeFile(ctx.layout.pendingMarker(name), String(process.pid));
    let snapshot: DomainSnapshot;
    try {
      snapshot = await fill();
    } catch (error) {
      if (!(await domainStatus(ctx.config.uri, name))) await rm(dir, { recursive: true, force: true });
      throw error;
    }
    await rm(ctx.layout.pendingMarker(name), { force: true });
    return vmFromSnapshot(snapshot)!;
  });
}

/** Publishes the version a template ran on, after it shut down; a no-op unless it was updating. */
export async function publishTemplate(ctx: EngineContext, name: string): Promise<boolean> {
  const template = await getVm(ctx, name);
  if (template.meta.kind !== 'template' || template.state !== 'shut off') return false;
  if (!template.meta.updating) {
    await rm(ctx.layout.updatingMarker(name), { force: true });
    return false;
  }
  const next = (template.meta.imageVersion ?? 1) + 1;
  const image = ctx.layout.templateVersion(name, next);
  if ((await readBackingChain(image)).length > MAX_CHAIN_LENGTH) {
    // Every update adds a layer; flattening now and then keeps reads fast and lets old versions go
    // once no running child holds them.
    const flat = `${image}.flat`;
    await rm(flat, { force: true });
    await convertToQcow2(image, flat);
    await rename(flat, image);
  }
  await chmod(image, 0o444);
  const work = ctx.layout.templateVersion(name, next + 1);
  await replaceWithOverlay(work, image);
  const xml = await dumpXml(ctx.config.uri, name, { inactive: true });
  await defineDomain(ctx.config.uri, editDomainXml(xml,
    setDiskSource('vda', work),
    setMetadata({ ...template.meta, imageVersion: next, updating: false })));
  await rm(ctx.layout.updatingMarker(name), { force: true });
  // Preloaded disposables of the old version would hand out an outdated system: they go.
  await retireStalePreloaded(ctx, name);
  await pruneTemplateVersions(ctx, name);
  return true;
}

/** Marks a template as updating before it starts, so its shutdown publishes what changed. */
export async function markTemplateUpdating(ctx: EngineContext, template: VmInfo): Promise<void> {
  await writeFile(ctx.layout.updatingMarker(template.name), '');
  if (template.meta.updating) return;
  const xml = await dumpXml(ctx.config.uri, template.name, { inactive: true });
  await defineDomain(ctx.config.uri, editDomainXml(xml, setMetadata({ ...template.meta, updating: true })));
}

/** Removes old versions of a template that no disk is built on any more. */
export async function pruneTemplateVersions(ctx: EngineContext, name: string): Promise<string[]> {
  const template = await findVm(ctx, name);
  if (!template || template.meta.kind !== 'template') return [];
  const current = template.meta.imageVersion ?? 1;
  const users = await backingUsers(ctx);
  const dir = ctx.layout.vmDir(name);
  const removed: string[] = [];
  for (const file of await readdir(dir)) {
    const version = templateVersionOf(file);
    // Keep the published version and the work overlay above it.
    if (version === undefined || version >= current) continue;
    const path = `${dir}/${file}`;
    if (users.has(path)) continue;
    await rm(path, { force: true });
    removed.push(basename(path));
  }
  return removed;
}
