import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { VmsError } from './errors.js';
import { formatBytes } from './units.js';

/**
 * What an image must be to become a template (docs/imported-images.md): qcow2 or raw, big enough to hold
 * a system, with a GPT holding an EFI system partition (VMs boot UEFI only). `checkImage` is pure, over
 * the image's format, size and its first sectors as the guest sees them, so any import path can call it.
 */

const SECTOR = 512;
/** LBA 0 (protective MBR), LBA 1 (GPT header) and the 32 sectors of the usual 128 partition entries. */
export const HEAD_SECTORS = 34;
export const MIN_TEMPLATE_SIZE = 512 * 2 ** 20;
/** The ESP's type GUID C12A7328-F81F-11D2-BA4B-00A0C93EC93B as GPT stores it (mixed endian). */
const ESP_TYPE = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');

export interface ImageFacts {
  format: string;
  virtualSize: number;
  /** The first HEAD_SECTORS sectors of the guest-visible disk (raw bytes, not the qcow2 file's own). */
  head: Uint8Array;
}

/** Every reason the image cannot be a template, each a sentence that says what to do; empty when it can. */
export function checkImage(facts: ImageFacts): string[] {
  if (facts.format !== 'qcow2' && facts.format !== 'raw') {
    return [`it is a ${facts.format} image: convert it to qcow2 first (qemu-img convert -O qcow2 IN OUT)`];
  }
  if (facts.virtualSize < MIN_TEMPLATE_SIZE) {
    return [`its disk is ${formatBytes(facts.virtualSize)}, too small for a system: a template disk is at least ${formatBytes(MIN_TEMPLATE_SIZE)} (is it a disk image at all?)`];
  }
  const head = Buffer.from(facts.head);
  if (head.length < 2 * SECTOR || head.subarray(SECTOR, SECTOR + 8).toString('latin1') !== 'EFI PART') {
    return ['it has no GPT partition table: vms VMs boot with UEFI, so the disk needs a GPT with an EFI system partition'];
  }
  const entriesLba = Number(head.readBigUInt64LE(SECTOR + 72));
  const count = head.readUInt32LE(SECTOR + 80);
  const size = head.readUInt32LE(SECTOR + 84);
  const entries = [];
  for (let i = 0; i < count && size >= 128; i++) {
    const offset = entriesLba * SECTOR + i * size;
    if (offset + size > head.length) break;
    entries.push(head.subarray(offset, offset + 16));
  }
  if (!entries.some((type) => type.equals(ESP_TYPE))) {
    return ['its GPT has no EFI system partition (type EF00): add one with the boot loader on it, such as systemd-boot'];
  }
  return [];
}

/** `qemu-img info`: format and size (-U: the file may be open elsewhere; only its header is read). */
async function imageFormat(path: string): Promise<{ format: string; virtualSize: number }> {
  const result = await execa('qemu-img', ['info', '-U', '--output=json', path], { reject: false, env: { LC_ALL: 'C' } });
  if (result.exitCode !== 0) {
    throw new VmsError(`Cannot read the disk image "${path}": check the path and that it is a qcow2 or raw image.`, { stderr: String(result.stderr) });
  }
  const info = JSON.parse(String(result.stdout)) as Record<string, unknown>;
  return { format: String(info.format), virtualSize: Number(info['virtual-size']) };
}

/** The first sectors as the guest sees them: straight from a raw file, through `qemu-img dd` from qcow2. */
async function guestHead(path: string, format: string): Promise<Uint8Array> {
  if (format === 'raw') {
    const file = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(HEAD_SECTORS * SECTOR);
      const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await file.close();
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'vms-head-'));
  try {
    const out = join(dir, 'head.raw');
    const result = await execa('qemu-img', ['dd', '-U', '-f', format, '-O', 'raw', `bs=${SECTOR}`, `count=${HEAD_SECTORS}`, `if=${path}`, `of=${out}`], { reject: false, env: { LC_ALL: 'C' } });
    if (result.exitCode !== 0) throw new VmsError(`Cannot read the disk image "${path}": qemu-img could not read its first sectors.`, { stderr: String(result.stderr) });
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Refuses an image that cannot boot as a template, before anything is copied. */
export async function assertTemplateImage(path: string): Promise<void> {
  const { format, virtualSize } = await imageFormat(path);
  const head = format === 'qcow2' || format === 'raw' ? await guestHead(path, format) : new Uint8Array();
  const problems = checkImage({ format, virtualSize, head });
  if (problems.length > 0) {
    throw new VmsError(`"${path}" cannot be a template: ${problems[0]}. See docs/imported-images.md for what an image must provide.`);
  }
}
