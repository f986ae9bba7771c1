import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { getTemplate, getVm } from './inventory.js';
import { defineAndRead, defineDomain, dumpXml } from './libvirt/domains.js';
import { createVolumes } from './libvirt/storage.js';
import { withNameLock } from './name-lock.js';
import { assertVmName } from './names.js';
import { ensureVmCache, pkgLayout, VM_TAG } from './storage/pkg-cache.js';
import { copyDisk, overlaySpec } from './storage/disks.js';
import { publishedVolume } from './templates.js';
import type { VmDisk, VmInfo } from './types.js';
import { createVmRecord } from './vm-record.js';
import type { DiskSpec } from './xml/domain-build.js';
import { editDomainXml, forgetIdentity, setConsoleLog, setDiskVolume, setMetadata, setName, setNvramPath, setSharedFolderSource, type DomainMutator } from './xml/domain-edit.js';
import type { VolumeSpec } from './xml/storage-xml.js';
import { setHostname } from './xml/domain-settings.js';

export interface CloneOptions {
  /** An independent copy instead of a linked, copy-on-write clone. */
  full?: boolean;
  onProgress?: (percent: number) => void;
}

function volumeOf(disk: VmDisk, sourceName: string): string {
  if (!disk.volume) throw new VmsError(`"${sourceName}" has a disk (${disk.target}) outside vms's storage pool: clone it with virt-clone instead.`);
  return disk.volume;
}

/**
 * Clones a VM. Linked (the default) is instant whatever the disk size: each of the source's own disks is
 * frozen where it is, and the source and the clone both go on with a new overlay on it, so neither sees
 * the other's writes. Full makes independent, flattened copies (libvirt copies them).
 */
export async function cloneVm(ctx: EngineContext, sourceName: string, name: string, options: CloneOptions = {}): Promise<VmInfo> {
  assertVmName(name);
  const source = await getVm(ctx, sourceName);
  if (source.meta.kind === 'disposable') throw new VmsError(`"${sourceName}" is a disposable: it cannot be cloned; create a VM from its template instead.`);
  if (source.state !== 'shut off') throw new VmsError(`"${sourceName}" is ${source.state}: shut it down first (vms stop ${sourceName}), then clone it.`);

  return withNameLock(ctx.layout.lock(sourceName), sourceName, () => createVmRecord(ctx, name, async () => {
    const pool = ctx.layout.pool;
    const newOverlays: VolumeSpec[] = [];
    const sourceOverlays: VolumeSpec[] = [];
    const cloneDisks: DiskSpec[] = [];
    const sourceDisks: DiskSpec[] = [];
    const progress = splitProgress(source.disks.length, options.onProgress);
    for (const [index, disk] of source.disks.entries()) {
      const report = progress(index);
      const volume = volumeOf(disk, sourceName);
      if (source.meta.kind === 'template') {
        // A template clone starts its own version history from the source's published version.
        const published = publishedVolume(ctx, await getTemplate(ctx, sourceName));
        const v1 = ctx.layout.templateVersionVolume(name, 1);
        if (options.full) await copyDisk(ctx, published, v1, { readOnly: true, onProgress: report });
        else newOverlays.push(overlaySpec(ctx, v1, published, { readOnly: true }));
        const work = ctx.layout.templateWorkVolume(name);
        newOverlays.push(overlaySpec(ctx, work, v1));
        cloneDisks.push({ target: disk.target, pool, volume: work });
      } else if (source.meta.kind === 'appvm' && disk.target === 'vda') {
        // An appvm's root is remade from its template at every start: nothing to copy.
        const root = ctx.layout.rootVolume(name);
        newOverlays.push(overlaySpec(ctx, root, publishedVolume(ctx, await getTemplate(ctx, source.meta.template!))));
        cloneDisks.push({ target: disk.target, pool, volume: root });
      } else {
        const target = disk.target === 'vda' ? ctx.layout.standaloneRootVolume(name) : ctx.layout.homeVolume(name);
        if (options.full) {
          await copyDisk(ctx, volume, target, { onProgress: report });
        } else {
          // Frozen in place: the source goes on with a new overlay too.
          const sourceTop = disk.target === 'vda' ? ctx.layout.standaloneRootVolume(sourceName) : ctx.layout.homeVolume(sourceName);
          sourceOverlays.push(overlaySpec(ctx, sourceTop, volume));
          sourceDisks.push({ target: disk.target, pool, volume: sourceTop });
          newOverlays.push(overlaySpec(ctx, target, volume));
        }
        cloneDisks.push({ target: disk.target, pool, volume: target });
      }
      report(100);
    }
    await createVolumes(ctx.libvirt, pool, [...sourceOverlays, ...newOverlays]);
    await ensureVmCache(ctx, name);
    const sourceXml = await dumpXml(ctx.libvirt, sourceName, { inactive: true });
    // The source moves to its new overlays before the clone exists: from then on nothing writes to the
    // frozen disks. A crash before the clone is defined leaves the source whole on one more layer.
    if (sourceDisks.length > 0) await defineDomain(ctx.libvirt, editDomainXml(sourceXml, ...sourceDisks.map(setDiskVolume)));
    const meta = { ...source.meta, created: new Date().toISOString(), updating: false, preloaded: false, ...(source.meta.kind === 'template' ? { imageVersion: 1 } : {}) };
    const mutators: DomainMutator[] = [
      setName(name, meta.label),
      setHostname(name),
      forgetIdentity,
      setMetadata(meta),
      ...cloneDisks.map(setDiskVolume),
      setNvramPath(ctx.layout.volumePath(ctx.layout.nvramVolume(name))),
      setConsoleLog(ctx.layout.volumePath(ctx.layout.consoleLogVolume(name))),
      setSharedFolderSource(VM_TAG, pkgLayout(ctx).vmDir(name)),
    ];
    return defineAndRead(ctx.libvirt, editDomainXml(sourceXml, ...mutators), name);
  }));
}

/** Turns per-disk progress into one 0–100 figure. */
function splitProgress(parts: number, onProgress?: (percent: number) => void) {
  return (index: number) => (percent: number) => onProgress?.(Math.min(100, ((index + percent / 100) / Math.max(parts, 1)) * 100));
}
