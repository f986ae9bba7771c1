import { open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Reads the backing file name straight from a qcow2 header (magic `QFI\xfb`, backing file offset at byte 8,
 * its length at byte 16). Far cheaper than running `qemu-img info` for every disk when deciding which
 * template versions and shared bases are still in use.
 */
export async function readBackingFile(path: string): Promise<string | undefined> {
  const handle = await open(path, 'r');
  try {
    const header = Buffer.alloc(20);
    await handle.read(header, 0, 20, 0);
    if (header.readUInt32BE(0) !== 0x514649fb) return undefined;
    const offset = Number(header.readBigUInt64BE(8));
    const length = header.readUInt32BE(16);
    if (offset === 0 || length === 0 || length > 4096) return undefined;
    const name = Buffer.alloc(length);
    await handle.read(name, 0, length, offset);
    return resolve(dirname(path), name.toString('utf8'));
  } finally {
    await handle.close();
  }
}

/** The image and every file below it, following backing files until one is missing or has none. */
export async function readBackingChain(path: string): Promise<string[]> {
  const chain = [path];
  for (let current: string | undefined = path; chain.length < 64;) {
    try {
      current = await readBackingFile(current);
    } catch {
      break;
    }
    if (!current) break;
    chain.push(current);
  }
  return chain;
}
