import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VmsError } from './errors.js';

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
  await mkdir(dirname(path), { recursive: true });
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
      throw new VmsError(`Another vms command is working on "${name}" right now: wait for it to finish and try again.`);
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
