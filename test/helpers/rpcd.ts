import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { CLI, testUser, type TestEngine } from './engine-fixture.js';

export interface RunningRpcd {
  /** Everything it wrote to stderr so far (notices). */
  log(): string;
  /** Ends it (its process group, by its pid) and waits until it is gone. */
  stop(): Promise<void>;
}

/**
 * `vms rpcd` as the desktop user runs it (the tray app runs the same service), on the test's pool, with no
 * system policy folder; resolves once it says it is ready.
 */
export async function startRpcd(t: TestEngine, env: NodeJS.ProcessEnv = {}): Promise<RunningRpcd> {
  const user = testUser();
  const command = user ? ['runuser', '-u', user, '--', process.execPath, CLI, 'rpcd'] : [process.execPath, CLI, 'rpcd'];
  let log = '';
  const child: ResultPromise = execa(command[0], command.slice(1), {
    env: { ...t.env, VMS_POLICY_DIR: join(t.scratch, 'no-system-policy'), LC_ALL: 'C', ...env }, detached: true, reject: false, buffer: false,
  });
  child.stderr?.on('data', (chunk: Buffer) => { log += chunk.toString(); });
  const stop = async () => {
    if (child.pid) try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
    await child.catch(() => undefined);
  };
  const started = Date.now();
  while (!log.includes('ready') && child.exitCode === null && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 100));
  if (!log.includes('ready')) {
    await stop();
    throw new Error(`vms rpcd did not start: ${log}`);
  }
  return { log: () => log, stop };
}
