import { chmod, copyFile } from 'node:fs/promises';
import type { EngineContext } from './context.js';
import { setHostname } from './xml/domain-settings.js';
import { freezeIntoBase, independentCopy, replaceWithOverlay } from './disk-store.js';
import { VmsError } from './errors.js';
import { getTemplate, getVm } from './inventory.js';
import { withNameLock } from './name-lock.js';
import { assertVmName } from './names.js';
import { createVmFolder, publishedImage } from './templates.js';
import { defineAndRead, dumpXml } from './tools/virsh.js';
import type { VmInfo } from './types.js';
import { editDomainXml, forgetIdentity, setConsoleLog, setDiskSource, setMetadata, setName, setNvramPath, setSharedFolderSource } from './xml/domain-edit.js';
import { ensureVmCache, pkgLayout, VM_TAG } from './pkg-cache.js';

export interface CloneOptions {
  /** An independent copy (reflink where possible) instead of a linked, copy-on-write clone. */
  full?: boolean;
  onProgress?: (percent: number) => void;
}

/**
 * Clones a VM. Linked (the default) is instant whatever the disk size: the source's disks are frozen into
 * shared read-only bases and both VMs continue on their own overlays. Full makes independent copies.
 */
export async function cloneVm(ctx: EngineContext, sourceName: string, name: string, options: CloneOptions = {}): Promise<VmInfo> {
  assertVmName(name);
  const source = await getVm(ctx, sourceName);
  if (source.meta.kind === 'disposable') throw new VmsError(`"${sourceName}" is a disposable: it cannot be cloned; create a VM from its template instead.`);
  if (source.state !== 'shut off') throw new VmsError(`"${sourceName}" is ${source.state}: shut it down first (vms stop ${sourceName}), then clone it.`);

  return withNameLock(ctx.layout.lock(sourceName), sourceName, () => createVmFolder(ctx, name, async () => {
    const progress = splitProgress(source.disks.length, options.onProgress);
    const newPaths = new Map<string, string>();
    for (const [index, disk] of source.disks.entries()) {
      const report = progress(index);
      if (source.meta.kind === 'template') {
        // A template clone starts its own version history from the source's published image.
        const published = publishedImage(ctx, await getTemplate(ctx, sourceName));
        const v1 = ctx.layout.templateVersion(name, 1);
        if (options.full) await independentCopy(published, v1, report);
        else await replaceWithOverlay(v1, published);
        await chmod(v1, 0o444);
        const work = ctx.layout.templateVersion(name, 2);
        await replaceWithOverlay(work, v1);
        newPaths.set(disk.target, work);
        continue;
      }
      const target = disk.target === 'vda' ? ctx.layout.rootDisk(name) : ctx.layout.privateDisk(name);
      if (source.meta.kind === 'appvm' && disk.target === 'vda') {
        // An appvm's root is remade from its template at every start: nothing to copy.
        await replaceWithOverlay(target, publishedImage(ctx, await getTemplate(ctx, source.meta.template!)));
      } else if (options.full) {
        await independentCopy(disk.path, target, report);
      } else {
        await replaceWithOverlay(target, await freezeIntoBase(ctx, disk.path));
      }
      report(100);
      newPaths.set(disk.target, target);
    }
    await copyNvram(source.nvramPath, ctx.layout.nvram(name));
    await ensureVmCache(ctx, name);
    const meta = { ...source.meta, created: new Date().toISOString(), updating: false, preloaded: false, ...(source.meta.kind === 'template' ? { imageVersion: 1 } : {}) };
    const xml = await dumpXml(ctx.config.uri, sourceName, { inactive: true });
    return defineAndRead(ctx.config.uri, editDomainXml(xml,
      setName(name, meta.label),
      setHostname(name),
      forgetIdentity,
      setMetadata(meta),
      ...[...newPaths].map(([target, path]) => setDiskSource(target, path)),
      setNvramPath(ctx.layout.nvram(name)),
      setConsoleLog(ctx.layout.consoleLog(name)),
      setSharedFolderSource(VM_TAG, pkgLayout(ctx).vmDir(name))), name);
  }));
}

async function copyNvram(from: string | undefined, to: string): Promise<void> {
  if (!from) return;
  try {
    await copyFile(from, to);
  } catch (error) {
    // A VM that never started has no variable store yet; libvirt makes one from the template.
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Turns per-disk progress into one 0–100 figure. */
function splitProgress(parts: number, onProgress?: (percent: number) => void) {
  return (index: number) => (percent: number) => onProgress?.(Math.min(100, ((index + percent / 100) / Math.max(parts, 1)) * 100));
}
