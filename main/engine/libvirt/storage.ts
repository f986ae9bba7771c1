import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildDirPoolXml, buildVolumeXml, poolAvailableOf, poolTargetPathOf, readVolumeXml, type VolumeInfo, type VolumeSpec } from '../xml/storage-xml.js';
import type { Libvirt } from './connection.js';
import { isLibvirtError } from './errors.js';

/**
 * Storage pools and volumes: every disk, NVRAM store, console log and pacman cache folder vms uses is a
 * libvirt volume or pool, so libvirtd (root) does the file work and vms itself needs no rights on
 * libvirt's folders, locally or over qemu+ssh://.
 */

export interface PoolState {
  active: boolean;
  path: string;
  /** Free bytes on the pool's filesystem, as of libvirt's last look. */
  available: number;
}

/** The pool's state and folder, or undefined when there is no such pool. */
export async function poolState(lv: Libvirt, pool: string): Promise<PoolState | undefined> {
  const [info, xml] = await lv.batch([['pool-info', pool], ['pool-dumpxml', pool]]);
  if (info.error) {
    if (isLibvirtError(info.error, 'not-found')) return undefined;
    throw info.error;
  }
  return { active: /^State:\s*running/m.test(info.stdout), path: poolTargetPathOf(xml.stdout) ?? '', available: poolAvailableOf(xml.stdout) };
}

/**
 * Makes sure a directory pool exists and runs: defines, builds (mkdir by libvirtd) and starts it, and
 * marks it to start with libvirtd. Two callers at once are fine: "already exists" is success.
 */
export async function ensureDirPool(lv: Libvirt, pool: string, path: string, owner?: { uid: number; gid: number; mode: string }): Promise<PoolState> {
  const state = await poolState(lv, pool);
  if (state?.active) return state;
  await createDirPool(lv, pool, path, owner);
  return (await poolState(lv, pool))!;
}

/**
 * Defines, builds, starts and autostarts a directory pool in one virsh process; one that exists or runs
 * already is fine.
 */
export async function createDirPool(lv: Libvirt, pool: string, path: string, owner?: { uid: number; gid: number; mode: string }): Promise<void> {
  await lv.withXmlFile(buildDirPoolXml(pool, path, owner), async (file) => {
    const results = await lv.batch([['pool-define', file], ['pool-build', pool], ['pool-start', pool], ['pool-autostart', pool]]);
    const failed = results.find((r) => r.error && !isLibvirtError(r.error, 'exists') && !isLibvirtError(r.error, 'active'));
    if (failed) throw failed.error;
  });
}

/** Every storage pool's name. */
export async function listPools(lv: Libvirt): Promise<string[]> {
  return (await lv.run(['pool-list', '--all', '--name'])).split('\n').map((n) => n.trim()).filter(Boolean);
}

const owners = new WeakMap<Libvirt, Promise<{ uid: number; gid: number }>>();

/** The user and group QEMU runs as on the libvirt host (its DAC base label), for folders QEMU writes. */
export function qemuProcessOwner(lv: Libvirt): Promise<{ uid: number; gid: number }> {
  let owner = owners.get(lv);
  if (!owner) {
    owner = lv.run(['capabilities']).then((xml) => {
      const label = /<baselabel type='(?:kvm|qemu)'>\+(\d+):\+(\d+)<\/baselabel>/.exec(xml);
      // Without a DAC label QEMU runs as root (qemu.conf user = "root").
      return label ? { uid: Number(label[1]), gid: Number(label[2]) } : { uid: 0, gid: 0 };
    });
    owner.catch(() => owners.delete(lv));
    owners.set(lv, owner);
  }
  return owner;
}

/** Removes a directory pool whose volumes are all gone: stops it, removes its folder and its definition. */
export async function deleteDirPool(lv: Libvirt, pool: string): Promise<void> {
  const results = await lv.batch([['pool-destroy', pool], ['pool-delete', pool], ['pool-undefine', pool]]);
  const failed = results.find((r) => r.error && !isLibvirtError(r.error, 'not-found') && !isLibvirtError(r.error, 'inactive'));
  if (failed) throw failed.error;
}

/**
 * Re-reads the pool's folder, so files libvirt itself made outside the volume API (NVRAM, logs) show as
 * volumes. While libvirtd still writes a volume (a copy, even one whose command was killed) it refuses
 * refreshes: then the pool stays as libvirt last saw it, and what is missed shows next time.
 */
export async function refreshPool(lv: Libvirt, pool: string): Promise<void> {
  try {
    await lv.run(['pool-refresh', pool]);
  } catch (error) {
    if (!isLibvirtError(error, 'busy')) throw error;
  }
}

/** Every volume of a pool with its backing file, from libvirt's volume XML (two calls). */
export async function listVolumes(lv: Libvirt, pool: string): Promise<VolumeInfo[]> {
  const names = parseVolumeList(await lv.run(['vol-list', pool])).map((v) => v.name);
  const xmls = await lv.batch(names.map((n) => ['vol-dumpxml', '--pool', pool, n]));
  return xmls.flatMap((r) => (r.error ? [] : [readVolumeXml(r.stdout)]));
}

/** Parses `virsh vol-list POOL` lines: ` NAME   PATH` (virsh has no --name for volumes). Pure. */
export function parseVolumeList(text: string): Array<{ name: string; path: string }> {
  return text.split('\n').flatMap((line) => {
    const match = /^\s*(.+?)\s+(\/.*?)\s*$/.exec(line);
    return match && match[1] !== 'Name' ? [{ name: match[1], path: match[2] }] : [];
  });
}

export async function volumeInfo(lv: Libvirt, pool: string, name: string): Promise<VolumeInfo | undefined> {
  try {
    return readVolumeXml(await lv.run(['vol-dumpxml', '--pool', pool, name]));
  } catch (error) {
    if (isLibvirtError(error, 'not-found')) return undefined;
    throw error;
  }
}

/** Creates volumes (empty ones, or overlays on a backing volume) in one virsh process; all or none. */
export async function createVolumes(lv: Libvirt, pool: string, specs: VolumeSpec[]): Promise<void> {
  await lv.withXmlFiles(specs.map(buildVolumeXml), async (files) => {
    const results = await lv.batch(files.map((file) => ['vol-create', pool, file]));
    const failed = results.findIndex((r) => r.error);
    if (failed >= 0) {
      // Undo the ones that were made, so a failed operation leaves nothing behind.
      await lv.batch(specs.slice(0, failed).map((s) => ['vol-delete', '--pool', pool, s.name]));
      throw results[failed].error;
    }
  });
}

/** An independent copy of a volume (its whole backing chain flattened), made by libvirtd. */
export async function copyVolume(lv: Libvirt, pool: string, source: string, spec: Omit<VolumeSpec, 'capacity' | 'backingPath'>, onProgress?: (percent: number) => void): Promise<void> {
  const total = onProgress ? (await volumeInfo(lv, pool, source))?.allocation ?? 0 : 0;
  // virsh shows no progress for vol-create-from; the new volume's allocation, read through libvirt, does.
  const timer = onProgress && total > 0 ? setInterval(() => {
    void volumeInfo(lv, pool, spec.name).then((v) => v && onProgress(Math.min(99, (v.allocation / total) * 100)), () => undefined);
  }, 500) : undefined;
  try {
    await lv.withXmlFile(buildVolumeXml({ ...spec, capacity: 0 }), (file) => lv.run(['vol-create-from', pool, file, source, '--inputpool', pool], { ownProcess: true }));
    onProgress?.(100);
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** Deletes volumes; ones that are already gone are fine. */
export async function deleteVolumes(lv: Libvirt, pool: string, names: string[]): Promise<void> {
  const results = await lv.batch(names.map((n) => ['vol-delete', '--pool', pool, n]));
  const failed = results.find((r) => r.error && !isLibvirtError(r.error, 'not-found'));
  if (failed) throw failed.error;
}

/**
 * Writes a local file into a volume through libvirt's stream (works over qemu+ssh:// too). virsh reads
 * the file itself (it refuses a pipe); progress comes from the volume's allocation, read through libvirt.
 */
export async function uploadVolume(lv: Libvirt, pool: string, name: string, file: string, onProgress?: (percent: number) => void): Promise<void> {
  const size = (await stat(file)).size;
  const timer = onProgress && size > 0 ? setInterval(() => {
    void volumeInfo(lv, pool, name).then((v) => v && onProgress(Math.min(99, (v.allocation / size) * 100)), () => undefined);
  }, 500) : undefined;
  try {
    await lv.run(['vol-upload', '--pool', pool, name, file], { ownProcess: true });
    onProgress?.(100);
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** A volume's content (a console log, say), read through libvirt's stream into a private temporary file. */
export async function downloadVolume(lv: Libvirt, pool: string, name: string): Promise<Buffer> {
  // virsh writes only to a file it can create (not to a pipe).
  const dir = await mkdtemp(join(tmpdir(), 'vms-download-'));
  try {
    const file = join(dir, 'volume');
    await lv.run(['vol-download', '--pool', pool, name, file]);
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
