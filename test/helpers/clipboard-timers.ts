import { execa } from 'execa';
import { CLI } from './engine-fixture.js';

/**
 * Ends the clearing timers that `vms clipboard copy` leaves behind (detached `vms clipboard clear --after`,
 * as the desktop user) of this checkout's CLI, by pid.
 */
export async function stopClipboardTimers(): Promise<void> {
  const { stdout } = await execa('pgrep', ['-f', `${CLI} clipboard clear --after`], { reject: false });
  for (const pid of String(stdout).split('\n').filter(Boolean)) {
    try { process.kill(Number(pid)); } catch { /* gone */ }
  }
}
