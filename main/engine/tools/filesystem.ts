import { rm } from 'node:fs/promises';
import { runTool } from './run.js';
import { convertToQcow2 } from './qemu-img.js';

/** The label the guest's fstab mounts on /home (with nofail). */
export const PRIVATE_DISK_LABEL = 'vms-private';

/**
 * A new private disk, formatted ext4 on the host so every guest finds a filesystem with a known label.
 * mkfs on a sparse file takes about 0.1 s for 10 GiB; qemu-img keeps only the written blocks.
 */
export async function createPrivateDisk(path: string, size: string): Promise<void> {
  const raw = `${path}.raw`;
  try {
    await runTool('truncate', ['-s', size, raw]);
    await runTool('mkfs.ext4', ['-q', '-F', '-L', PRIVATE_DISK_LABEL, '-E', 'lazy_itable_init=1,lazy_journal_init=1', raw]);
    await convertToQcow2(raw, path);
  } finally {
    await rm(raw, { force: true });
  }
}

/**
 * Copies a file with reflink where the filesystem has it (btrfs, XFS: instant), an ordinary copy elsewhere.
 */
export async function copyFile(source: string, target: string): Promise<void> {
  await runTool('cp', ['--reflink=auto', '--sparse=always', source, target]);
}

/** True when the filesystem can clone this file instantly. */
export async function canReflink(source: string, probeTarget: string): Promise<boolean> {
  try {
    await runTool('cp', ['--reflink=always', source, probeTarget]);
    return true;
  } catch {
    return false;
  } finally {
    await rm(probeTarget, { force: true });
  }
}
