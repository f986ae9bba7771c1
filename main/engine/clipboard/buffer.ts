import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * The host-held clipboard of `vms clipboard copy|paste` (docs/clipboard.md): one entry at most, in a
 * file only the desktop user can read, on the tmpfs of $XDG_RUNTIME_DIR where there is one (it never
 * reaches a disk and is gone at logout), else in vms's state folder. A paste empties it, and an entry
 * past its time counts as empty and is deleted by whoever reads it.
 */

export interface ClipboardEntry {
  /** Tells one copy from the next: a clearing timer only empties the entry it was started for. */
  id: string;
  source: string;
  label: string;
  text: string;
  copiedAt: number;
  expiresAt: number;
}

export function clipboardBufferPath(env: NodeJS.ProcessEnv, stateDir: string): string {
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'vms', 'clipboard.json') : join(stateDir, 'clipboard.json');
}

export function newEntry(source: string, label: string, text: string, now: number, keepSeconds: number): ClipboardEntry {
  return { id: randomBytes(6).toString('hex'), source, label, text, copiedAt: now, expiresAt: now + keepSeconds * 1000 };
}

/** The entry, or undefined when there is none, it is unreadable, or its time is up (then it is deleted). */
export async function readBuffer(path: string, now = Date.now()): Promise<ClipboardEntry | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  let entry: ClipboardEntry | undefined;
  try {
    entry = JSON.parse(text) as ClipboardEntry;
  } catch {
    entry = undefined;
  }
  if (!entry || typeof entry.text !== 'string' || typeof entry.expiresAt !== 'number' || entry.expiresAt <= now) {
    await rm(path, { force: true });
    return undefined;
  }
  return entry;
}

/** Replaces the entry (written whole, then renamed, so a reader never sees half of it). */
export async function writeBuffer(path: string, entry: ClipboardEntry): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const partial = `${path}.${entry.id}.partial`;
  await writeFile(partial, JSON.stringify(entry), { mode: 0o600 });
  await rename(partial, path);
}

/** Empties the buffer; with `id`, only if it still holds that copy. True when something was removed. */
export async function clearBuffer(path: string, id?: string): Promise<boolean> {
  if (id !== undefined) {
    const entry = await readBuffer(path);
    if (!entry || entry.id !== id) return false;
  }
  const existed = await readFile(path).then(() => true, () => false);
  await rm(path, { force: true });
  return existed;
}
