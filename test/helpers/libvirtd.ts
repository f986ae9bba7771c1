import { readFile } from 'node:fs/promises';
import { execa, type ResultPromise } from 'execa';
import { CLI, URI, type TestEngine } from './engine-fixture.js';

/**
 * Faults of the machine's own libvirtd, for the root test files: a restart the way .ci/run starts it, and
 * the QEMU processes of named test domains killed as a power cut would. Other tests' domains share this
 * libvirtd: only the domains a test names are touched, and libvirtd is never left down.
 */

const LIBVIRTD = '/usr/sbin/libvirtd';
/** libvirtd's own environment: a clean one, not the test's (it keeps it for the QEMU it starts). */
const DAEMON_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The system libvirtd's pid (the root daemon: a user's session libvirtd has the same name). */
async function libvirtdPid(): Promise<number | undefined> {
  const found = await execa('pgrep', ['-x', '-u', 'root', 'libvirtd'], { reject: false });
  const pid = Number(String(found.stdout).trim().split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function answers(asUser?: string): Promise<boolean> {
  const command = ['virsh', '-c', URI, 'version'];
  // A daemon that accepts but does not answer yet (still starting) is waited for again.
  const options = { reject: false, env: { LC_ALL: 'C' }, timeout: 10_000 } as const;
  const run = asUser ? execa('runuser', ['-u', asUser, '--', ...command], options) : execa(command[0], command.slice(1), options);
  return (await run).exitCode === 0;
}

/** Stops libvirtd with SIGTERM (its QEMU processes go on running) and waits until it is gone. */
export async function stopLibvirtd(): Promise<void> {
  const pid = await libvirtdPid();
  if (!pid) throw new Error('libvirtd is not running');
  process.kill(pid, 'SIGTERM');
  // It waits for each VM's DHCP snooping thread (about a second each) and for calls under way (30 s at most).
  for (let i = 0; i < 900 && alive(pid); i++) await sleep(100);
  if (alive(pid)) throw new Error(`libvirtd (pid ${pid}) did not stop within 90 s`);
}

/**
 * Starts libvirtd as .ci/run does and waits until it answers, for root and for the test user. A start
 * re-applies every running VM's network filter rules (an ebtables/iptables process per rule), so on a
 * machine busy with other VMs it can take minutes; alone, seconds.
 */
export async function startLibvirtd(user = process.env.VMS_TEST_USER): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    // Not running (not yet, or it died starting): start it. The old daemon's pid file can stay locked a
    // moment after it is gone; that start fails and is tried again.
    if (!(await libvirtdPid())) {
      const started = await execa(LIBVIRTD, ['-d'], { stdio: 'ignore', env: DAEMON_ENV, extendEnv: false, reject: false });
      if (started.exitCode !== 0) await sleep(1000);
      continue;
    }
    if ((await answers()) && (!user || (await answers(user)))) return;
    await sleep(100);
  }
  throw new Error('libvirtd did not answer within 3 minutes of its start: see /var/log/libvirt/libvirtd.log');
}

/**
 * Stops libvirtd, runs `whileDown` (if any), and starts it again, whatever `whileDown` did. Returns how
 * long libvirtd did not answer, in ms.
 */
export async function restartLibvirtd(whileDown?: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await stopLibvirtd();
  try {
    await whileDown?.();
  } finally {
    await startLibvirtd();
  }
  return Math.round(performance.now() - started);
}

/** The pid of a running domain's QEMU, from libvirt's own record of it. */
export async function qemuPid(domain: string): Promise<number> {
  const pid = Number((await readFile(`/run/libvirt/qemu/${domain}.pid`, 'utf8')).trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`no QEMU pid for ${domain}`);
  return pid;
}

/** SIGKILLs the QEMU of each named domain (a power cut, as QEMU sees it) and waits until they are gone. */
export async function killQemus(domains: string[]): Promise<void> {
  const pids = await Promise.all(domains.map(qemuPid));
  for (const pid of pids) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(100);
}

export interface PausedCommand {
  /** The vms process, stopped just before its first call of the verb. */
  pid: number;
  /** Lets it go on (runuser, which stopped itself when its child did, too). */
  resume(): void;
  /** The command's outcome, once it has ended. */
  result: ResultPromise;
}

/**
 * Runs the vms command line as the test user, stopped (SIGSTOP, by the engine's test hook) just before
 * its libvirt call of `verb` (`VERB:N`: the Nth); rejects when the command ends without getting there.
 */
export async function runPausedBefore(t: TestEngine, verb: string, argv: string[], timeoutMs = 120_000): Promise<PausedCommand> {
  const user = process.env.VMS_TEST_USER;
  const command = user ? ['runuser', '-u', user, '--', process.execPath, CLI, ...argv] : [process.execPath, CLI, ...argv];
  const result = execa(command[0], command.slice(1), { env: { ...t.env, VMS_TEST_PAUSE_BEFORE: verb, LC_ALL: 'C' }, reject: false });
  let stderr = '';
  let timer: NodeJS.Timeout | undefined;
  const pid = await new Promise<number>((resolve, reject) => {
    timer = setTimeout(() => {
      result.kill('SIGKILL');
      reject(new Error(`vms ${argv.join(' ')} did not get to ${verb} within ${timeoutMs / 1000} s: ${stderr}`));
    }, timeoutMs);
    result.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const paused = /^\[vms\] paused before \S+ \(pid (\d+)\)$/m.exec(stderr);
      if (paused) resolve(Number(paused[1]));
    });
    void result.then((r) => reject(new Error(`vms ${argv.join(' ')} ended before ${verb} (exit ${r.exitCode}): ${r.stderr}`)));
  }).finally(() => clearTimeout(timer));
  // The hook writes its line, then stops itself: a SIGCONT sent in between would be lost and leave it
  // stopped for good (seen in CI, where a test resumed at once). Resume only a process that has stopped.
  for (let i = 0; i < 500 && !(await isStopped(pid)); i++) await sleep(20);
  if (!(await isStopped(pid))) throw new Error(`vms ${argv.join(' ')} said it paused before ${verb} but did not stop`);
  return {
    pid,
    resume() {
      // runuser (like su) stops itself when its child stops, and goes on only when told to.
      if (result.pid !== undefined && result.pid !== pid) process.kill(result.pid, 'SIGCONT');
      process.kill(pid, 'SIGCONT');
    },
    result,
  };
}

/** Whether a process is stopped by a signal (state T in /proc/PID/stat). */
async function isStopped(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return /\) T /.test(stat);
}

/** What a command printed on stderr but the test hook's own line. */
export function stderrOf(result: { stderr: unknown }): string {
  return String(result.stderr).split('\n').filter((line) => !/^\[vms\] paused before /.test(line)).join('\n').trim();
}
