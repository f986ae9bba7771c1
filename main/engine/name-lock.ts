import { link, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';

/** Another live command holds the name: callers that can go on without it catch this type. */
export class NameBusyError extends VmsError {
  constructor(readonly vmName: string) {
    super(`Another vms command is working on "${vmName}" right now: wait for it to finish and try again.`);
    this.name = 'NameBusyError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True while a live process holds the lock file. */
export async function isLockHeld(path: string): Promise<boolean> {
  try {
    const pid = Number((await readFile(path, 'utf8')).trim());
    return Number.isInteger(pid) && pid > 0 && isAlive(pid);
  } catch {
    return false;
  }
}

/**
 * Runs `work` while holding an exclusive lock on a VM name, so two commands on the same name cannot
 * interleave: the second gets a clear error. A lock left by a killed process (its pid is gone) is taken over.
 */
export async function withNameLock<T>(path: string, name: string, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  for (let attempt = 0; ; attempt++) {
    // Written aside, then linked into place: the lock never exists without its pid, so nobody can
    // mistake a lock being taken for a stale one.
    const draft = `${path}.${process.pid}.${attempt}`;
    await writeFile(draft, String(process.pid));
    try {
      await link(draft, path);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if (attempt === 0 && !(await isLockHeld(path))) {
        await rm(path, { force: true });
        continue;
      }
      throw new NameBusyError(name);
    } finally {
      await rm(draft, { force: true });
    }
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

/** The names whose lock a live process holds right now. */
export async function namesLocked(ctx: EngineContext): Promise<Set<string>> {
  let files: string[];
  try {
    files = (await readdir(ctx.layout.locksDir())).filter((f) => f.endsWith('.lock'));
  } catch {
    return new Set();
  }
  const held = await Promise.all(files.map((f) => isLockHeld(join(ctx.layout.locksDir(), f))));
  return new Set(files.filter((_, i) => held[i]).map((f) => f.slice(0, -'.lock'.length)));
}

/**
 * Files in the locks folder a killed process left: locks whose pid is gone, and drafts (`NAME.lock.PID.N`,
 * written just before a lock is taken) of a process that is gone.
 */
export async function staleLockFiles(ctx: EngineContext): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(ctx.layout.locksDir());
  } catch {
    return [];
  }
  const stale = await Promise.all(files.map(async (file) => {
    if (file.endsWith('.lock')) return !(await isLockHeld(join(ctx.layout.locksDir(), file)));
    const draft = /\.lock\.(\d+)\.\d+$/.exec(file);
    return draft !== null && !isAlive(Number(draft[1]));
  }));
  return files.filter((_, i) => stale[i]);
}

/** Removes lock files whose process is gone (it was killed). */
export async function removeStaleLocks(ctx: EngineContext): Promise<void> {
  for (const file of await staleLockFiles(ctx)) await rm(join(ctx.layout.locksDir(), file), { force: true });
}
