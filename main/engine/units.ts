/**
 * The one size grammar of vms: every size a user types (disk sizes, memory, in the CLI, the tray's
 * dialogs, the settings file) is read here. Pure, and free of Node imports so the renderer bundles it.
 *
 * A size is a number and a unit: `512M`, `2G`, `1.5GiB`, `10gb`. Units are binary whatever the spelling
 * (K, M, G, T are 1024-based, as qemu-img, free -h and libvirt read them), case does not matter, and a
 * bare number is refused: `--disk-size 10` meant 10 bytes to qemu-img, never what anyone wanted.
 */

const UNITS: Record<string, number> = { k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** The grammar as a regular expression source, for JSON schemas and HTML `pattern` attributes. */
export const SIZE_PATTERN = '^[0-9]{1,7}([.][0-9]{1,3})?[ ]?[KkMmGgTt]([Ii]?[Bb])?$';
const SIZE = new RegExp(SIZE_PATTERN);

export const MIB = 2 ** 20;

/** Why a size is not one, as the end of a sentence; undefined when it is fine. */
export function sizeProblem(text: string): string | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return `"${trimmed}" has no unit: add one, such as ${trimmed}G or ${trimmed}M`;
  if (!SIZE.test(trimmed)) return `"${text}" is not a size: use a number and a unit, such as 512M, 2G or 20GiB`;
  if (sizeToBytes(trimmed) === 0) return `"${trimmed}" is not a size above zero: give more than 0`;
  if (sizeToBytes(trimmed) > MAX_SIZE) return `"${trimmed}" is larger than anything vms can use (1 PiB)`;
  return undefined;
}

const MAX_SIZE = 2 ** 50;

function sizeToBytes(text: string): number {
  const match = /^([0-9.]+)\s?([a-z])/i.exec(text.trim())!;
  return Math.round(Number(match[1]) * UNITS[match[2].toLowerCase()]);
}

/** Typed so callers can tell a bad size from other failures without reading the message. */
export class SizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SizeError';
  }
}

/** Bytes in a size such as `20G`; `what` names it in the error, e.g. "--disk-size". */
export function parseSize(text: string, what: string): number {
  const problem = sizeProblem(text);
  if (problem) throw new SizeError(`${what}: ${problem}.`);
  return sizeToBytes(text);
}

/** Whole MiB in a memory size such as `2G` or `512M` (libvirt takes memory in whole units). */
export function parseMemoryMiB(text: string, what: string): number {
  const bytes = parseSize(text, what);
  if (bytes % MIB !== 0) throw new SizeError(`${what}: "${text}" is not a whole number of MiB: use M or G, such as 512M or 2G.`);
  return bytes / MIB;
}

/** `1.4 GiB`, `312 MiB`, `0 B`: how vms prints sizes; parseSize reads them back. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Memory as users type it: `2G` for 2048 MiB, `1536M` otherwise. */
export function formatMemoryMiB(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}G` : `${mib}M`;
}

export const MIN_MEMORY_MIB = 128;
export const MAX_VCPUS = 256;

/**
 * Why a VM's memory or CPU count cannot be used on this host; undefined when they can. Memory is
 * bounded by the host's RAM: a guest larger than the machine would only be killed by the OOM killer later.
 */
export function resourceProblem(request: { memoryMiB?: number; vcpus?: number }, host: { memoryMiB: number; cpus: number }): string | undefined {
  const { memoryMiB, vcpus } = request;
  if (memoryMiB !== undefined) {
    if (!Number.isInteger(memoryMiB) || memoryMiB < MIN_MEMORY_MIB) return `Memory must be at least ${MIN_MEMORY_MIB}M (got ${formatMemoryMiB(memoryMiB)})`;
    if (memoryMiB > host.memoryMiB) {
      return `Memory ${formatMemoryMiB(memoryMiB)} is more than this computer has (${formatBytes(host.memoryMiB * MIB)}): give at most ${formatMemoryMiB(Math.floor(host.memoryMiB / 1024) * 1024 || host.memoryMiB)}`;
    }
  }
  if (vcpus !== undefined) {
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) return `CPUs must be a whole number from 1 to ${MAX_VCPUS} (got ${vcpus})`;
    if (vcpus > host.cpus) return `${vcpus} CPUs is more than this computer has (${host.cpus}): give at most ${host.cpus}`;
  }
  return undefined;
}
