import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EngineContext } from '../context.js';
import { VmsError } from '../errors.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { copyVolume, createVolumes, deleteVolumes, poolState, refreshPool, uploadVolume, volumeInfo } from '../libvirt/storage.js';
import { formatBytes } from '../units.js';
import { convertToQcow2 } from '../tools/qemu-img.js';
import { runTool } from '../tools/run.js';
import type { VolumeSpec } from '../xml/storage-xml.js';
import { ensureVmsPool } from './pool.js';

/**
 * Disks as libvirt volumes: overlays, frozen disks shared by linked clones, independent copies, images
 * uploaded from the user's files. libvirtd makes and removes every file; vms only says which.
 */

/** The label the guest's fstab mounts on /home (with nofail). */
export const PRIVATE_DISK_LABEL = 'vms-private';

/** A copy-on-write overlay on another volume of the pool: instant, whatever the backing volume's size. */
export function overlaySpec(ctx: EngineContext, name: string, backingVolume: string, options: { readOnly?: boolean; capacity?: number } = {}): VolumeSpec {
  return { name, format: 'qcow2', capacity: options.capacity ?? 0, backingPath: ctx.layout.volumePath(backingVolume), readOnly: options.readOnly };
}

/** Replaces a volume with a fresh overlay on `backingVolume` (an appvm's root at start, a template's work disk after a publish). */
export async function remakeOverlay(ctx: EngineContext, volume: string, backingVolume: string): Promise<void> {
  await ensureVmsPool(ctx);
  await deleteVolumes(ctx.libvirt, ctx.layout.pool, [volume]);
  await createVolumes(ctx.libvirt, ctx.layout.pool, [overlaySpec(ctx, volume, backingVolume)]);
}

/** An independent, flattened copy of a volume (and its backing chain), made by libvirtd. */
export async function copyDisk(ctx: EngineContext, source: string, target: string, options: { readOnly?: boolean; onProgress?: (percent: number) => void } = {}): Promise<void> {
  await copyVolume(ctx.libvirt, ctx.layout.pool, source, { name: target, format: 'qcow2', readOnly: options.readOnly }, options.onProgress);
}

/** Uploads a local disk image (qcow2 or raw, converted to qcow2 here first) as a new volume. */
export async function uploadImage(ctx: EngineContext, file: string, format: string, volume: string, options: { readOnly?: boolean; onProgress?: (percent: number) => void } = {}): Promise<void> {
  await ensureVmsPool(ctx);
  const work = await mkdtemp(join(tmpdir(), 'vms-upload-'));
  try {
    let upload = file;
    if (format !== 'qcow2') {
      upload = join(work, 'image.qcow2');
      await convertToQcow2(file, upload);
    }
    await assertRoomFor(ctx, (await stat(upload)).size);
    // Created raw and empty, then filled: libvirt reads the uploaded qcow2 header and reports it as qcow2.
    await createVolumes(ctx.libvirt, ctx.layout.pool, [{ name: volume, format: 'raw', capacity: 0, readOnly: options.readOnly }]);
    try {
      await uploadVolume(ctx.libvirt, ctx.layout.pool, volume, upload, options.onProgress);
    } catch (error) {
      await deleteVolumes(ctx.libvirt, ctx.layout.pool, [volume]).catch(() => undefined);
      throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Refuses an upload the pool has no room for, before it starts: libvirtd 11.3 itself dies when an upload
 * stream hits a full disk (measured here: vol-upload onto a full tmpfs ends the daemon), so this is the
 * only place the user can be told.
 */
async function assertRoomFor(ctx: EngineContext, bytes: number): Promise<void> {
  await refreshPool(ctx.libvirt, ctx.layout.pool);
  const state = await poolState(ctx.libvirt, ctx.layout.pool);
  if (state && bytes > state.available) {
    throw new VmsError(`The disk is full: the image needs ${formatBytes(bytes)} but ${state.path} has ${formatBytes(state.available)} free; free some space (or set another images folder) and try again.`);
  }
}

/**
 * The base every private disk of this size starts from: an empty ext4 filesystem labelled vms-private.
 * Made once per size on the user's side (mkfs on a sparse file in the user's temp folder, no root, no
 * loop device) and uploaded; each VM's /home is then an overlay on it, so a create costs one volume.
 * The guest could format /home itself at first boot (x-systemd.makefs), but then an imported image
 * without that fstab option, or the busybox test guest, would find no filesystem; formatting once here
 * works with every guest. All private disks of a size share the filesystem UUID, which is harmless: each
 * VM sees only its own, and fstab mounts it by label.
 */
export async function emptyHomeVolume(ctx: EngineContext, bytes: number): Promise<string> {
  await ensureVmsPool(ctx);
  const volume = ctx.layout.emptyHomeVolume(bytes);
  // While another command uploads it, libvirt still reports it as raw; it turns qcow2 when complete.
  for (let waited = 0; ; waited += 200) {
    const existing = await volumeInfo(ctx.libvirt, ctx.layout.pool, volume);
    if (!existing) break;
    if (existing.format === 'qcow2') return volume;
    if (waited > 60_000) {
      // An upload that was killed half-way: make it again.
      await deleteVolumes(ctx.libvirt, ctx.layout.pool, [volume]);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const work = await mkdtemp(join(tmpdir(), 'vms-home-'));
  try {
    const raw = join(work, 'home.raw');
    const image = join(work, 'home.qcow2');
    await runTool('truncate', ['-s', String(bytes), raw]);
    await runTool('mkfs.ext4', ['-q', '-F', '-L', PRIVATE_DISK_LABEL, '-E', 'lazy_itable_init=1,lazy_journal_init=1', raw]);
    await convertToQcow2(raw, image);
    try {
      await createVolumes(ctx.libvirt, ctx.layout.pool, [{ name: volume, format: 'raw', capacity: 0, readOnly: true }]);
    } catch (error) {
      // Another command began making it at the same moment: use theirs once it is complete.
      if (isLibvirtError(error, 'exists')) return emptyHomeVolume(ctx, bytes);
      throw error;
    }
    await uploadVolume(ctx.libvirt, ctx.layout.pool, volume, image);
    return volume;
  } catch (error) {
    if (error instanceof VmsError) throw error;
    throw new VmsError(`Cannot make an empty /home disk of ${bytes} bytes: ${(error as Error).message}`, { cause: error });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
