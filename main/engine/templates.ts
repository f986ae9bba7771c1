import type { EngineContext } from './context.js';
import { retireStalePreloaded } from './disposable-pool.js';
import { VmsError } from './errors.js';
import { getVm } from './inventory.js';
import { defineAndRead, defineDomain, dumpXml } from './libvirt/domains.js';
import { createVolumes, deleteVolumes, volumeInfo } from './libvirt/storage.js';
import { assertLabel, assertVmName } from './names.js';
import { ensureVmCache, pkgLayout, pkgSharedFolders } from './storage/pkg-cache.js';
import { copyDisk, overlaySpec, remakeOverlay, uploadImage } from './storage/disks.js';
import { collectGarbage } from './storage/garbage.js';
import { addJournalEntry, removeJournalEntry } from './storage/journal.js';
import { imageInfo } from './tools/qemu-img.js';
import type { VmInfo } from './types.js';
import { createVmRecord } from './vm-record.js';
import { buildDomainXml } from './xml/domain-build.js';
import { editDomainXml, setMetadata } from './xml/domain-edit.js';

/**
 * Templates are versioned. `NAME.v<N>.qcow2` is published: a flattened, read-only (0444) volume that
 * children start from. The template domain itself runs on `NAME.work.qcow2`, an overlay on the published
 * version, so updating a template never changes what a running child sees. When a template that was
 * started for an update shuts down, libvirt copies its work disk into `NAME.v<N+1>.qcow2` (flattened, so
 * chains never grow) and the work disk starts over on it; an old version stays while any disk is built on
 * it, and the garbage collection removes it after.
 */

export function publishedVolume(ctx: EngineContext, template: VmInfo): string {
  if (template.meta.kind !== 'template' || !template.meta.imageVersion) {
    throw new VmsError(`"${template.name}" is not a template with a published image: see \`vms info ${template.name}\`.`);
  }
  return ctx.layout.templateVersionVolume(template.name, template.meta.imageVersion);
}

export interface ImportOptions {
  label?: string;
  onProgress?: (percent: number) => void;
}

/** Registers an existing disk image as a template: uploaded through libvirt as version 1, read-only. */
export async function importTemplate(ctx: EngineContext, name: string, image: string, options: ImportOptions = {}): Promise<VmInfo> {
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
  if (info.backingFile) throw new VmsError(`"${image}" is an overlay on ${info.backingFile}: flatten it first (qemu-img convert -O qcow2 ${image} flat.qcow2).`);
  return createVmRecord(ctx, name, async () => {
    const v1 = ctx.layout.templateVersionVolume(name, 1);
    const work = ctx.layout.templateWorkVolume(name);
    await uploadImage(ctx, image, info.format, v1, { readOnly: true, onProgress: options.onProgress });
    await createVolumes(ctx.libvirt, ctx.layout.pool, [overlaySpec(ctx, work, v1)]);
    await ensureVmCache(ctx, name);
    return defineAndRead(ctx.libvirt, buildDomainXml({
      name,
      meta: { kind: 'template', label, imageVersion: 1, created: new Date().toISOString() },
      memoryMiB: ctx.config.defaultMemoryMiB,
      vcpus: ctx.config.defaultVcpus,
      accel: ctx.config.accel,
      disks: [{ target: 'vda', pool: ctx.layout.pool, volume: work }],
      nvramPath: ctx.layout.volumePath(ctx.layout.nvramVolume(name)),
      consoleLogPath: ctx.layout.volumePath(ctx.layout.consoleLogVolume(name)),
      network: { type: 'user' },
      clipboard: false,
      sharedFolders: pkgSharedFolders(pkgLayout(ctx), name),
    }), name);
  });
}

/**
 * Publishes what a template changed while it ran for an update, after it shut down; a no-op unless it was
 * updating. Crash-safe: the domain's metadata is the commit point. Until it names version N+1, a rerun
 * makes the copy again; after it, the work disk is remade at the template's next start.
 */
export async function publishTemplate(ctx: EngineContext, name: string): Promise<boolean> {
  const template = await getVm(ctx, name);
  if (template.meta.kind !== 'template' || template.state !== 'shut off') return false;
  if (!template.meta.updating) {
    // A publish killed after its commit point: the work disk moves onto the new version (killed between
    // deleting and remaking it), and the old version goes.
    const work = ctx.layout.templateWorkVolume(name);
    if (!(await volumeInfo(ctx.libvirt, ctx.layout.pool, work))) await remakeOverlay(ctx, work, publishedVolume(ctx, template));
    // The version it left behind.
    await collectGarbage(ctx);
    await removeJournalEntry(ctx, 'updating', name);
    return false;
  }
  const next = (template.meta.imageVersion ?? 1) + 1;
  const version = ctx.layout.templateVersionVolume(name, next);
  const work = ctx.layout.templateWorkVolume(name);
  // A copy an interrupted publish left half-made.
  await deleteVolumes(ctx.libvirt, ctx.layout.pool, [version]);
  await copyDisk(ctx, work, version, { readOnly: true });
  const xml = await dumpXml(ctx.libvirt, name, { inactive: true });
  await defineDomain(ctx.libvirt, editDomainXml(xml, setMetadata({ ...template.meta, imageVersion: next, updating: false })));
  await remakeOverlay(ctx, work, version);
  // Preloaded disposables of the old version would hand out an outdated system: they go.
  await retireStalePreloaded(ctx, name);
  await collectGarbage(ctx);
  // Last: killed before this, the next command's repair finishes the publish.
  await removeJournalEntry(ctx, 'updating', name);
  return true;
}

/**
 * Prepares a template to start for an update: its work disk starts over on the published version (what it
 * held was published, or was never meant to be), and it is marked so that its shutdown publishes.
 */
export async function prepareTemplateStart(ctx: EngineContext, template: VmInfo): Promise<void> {
  const published = publishedVolume(ctx, template);
  const work = ctx.layout.templateWorkVolume(template.name);
  const current = await volumeInfo(ctx.libvirt, ctx.layout.pool, work);
  if (!template.meta.updating && current?.backingPath !== ctx.layout.volumePath(published)) await remakeOverlay(ctx, work, published);
  await addJournalEntry(ctx, 'updating', template.name);
  if (template.meta.updating) return;
  const xml = await dumpXml(ctx.libvirt, template.name, { inactive: true });
  await defineDomain(ctx.libvirt, editDomainXml(xml, setMetadata({ ...template.meta, updating: true })));
}
