import { writeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa, ExecaError } from 'execa';
import { VmsError } from '../errors.js';
import { LibvirtError, libvirtError } from './errors.js';
import { VirshShell, VirshShellError } from './virsh-shell.js';

/**
 * The only door to libvirt: every call vms makes goes through one of these, as `virsh` commands on the
 * connection's URI (qemu:///system as a member of group libvirt, or qemu+ssh://… to another host).
 *
 * virsh costs about as much to start as a command takes, so related commands go in one process
 * (`batch`). Every child runs with LC_ALL=C, so libvirt's messages and virsh's tables are English
 * whatever the desktop's language; errors/classify reads them, and nothing else does.
 */

const MARK = '@@vms-end-of-command@@';

/** One command's outcome inside a batch. */
export interface BatchResult {
  stdout: string;
  /** Set when this command failed; the batch goes on with the next one. */
  error?: VmsError;
}

/** Quotes a word for virsh's own command parser (single quotes, as in sh). */
export function quoteVirshWord(word: string): string {
  return /^[A-Za-z0-9_.:/+=,@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function trace(started: number, what: string): void {
  // VMS_TRACE=1 shows every libvirt call with its duration, for finding where time goes.
  if (process.env.VMS_TRACE) process.stderr.write(`[vms] ${Math.round(performance.now() - started)} ms  virsh ${what}\n`);
}

/**
 * True when the URI names libvirt on this computer (qemu:///system, qemu+unix://…): what needs the host's
 * own devices or root (USB passthrough, building a template) works only then.
 */
export function isLocalUri(uri: string): boolean {
  const match = /^[a-z0-9]+(?:\+([a-z]+))?:\/\/([^/]*)\//i.exec(uri);
  if (!match) return true;
  const [, transport, host] = match;
  return (!transport || transport === 'unix') && (host === '' || host === 'localhost');
}

/**
 * Tests only, to interrupt every step of every operation without listing the steps:
 * `VMS_TEST_KILL_AT_STEP=N` makes this process SIGKILL itself just before its Nth libvirt call, and
 * `VMS_TEST_KILL_AT_CHANGE=N` just before its Nth call that changes something (a kill before a call that
 * only reads leaves the same state as a kill before the next change, so this covers every distinct state
 * in fewer runs). Read once and taken out of the environment, so the detached helpers a command starts
 * (a disposable's watcher) are not killed too.
 */
const killAt = { call: Number(process.env.VMS_TEST_KILL_AT_STEP) || 0, change: Number(process.env.VMS_TEST_KILL_AT_CHANGE) || 0 };
/**
 * Tests only, to restart libvirtd at a chosen step: `VMS_TEST_PAUSE_BEFORE=VERB` (or `VERB:N`, its Nth
 * call) makes this process say `[vms] paused before VERB (pid P)` on stderr and SIGSTOP itself just before
 * that call of the virsh verb; the test does what it wants meanwhile and sends SIGCONT.
 */
const [pauseVerb, pauseNth] = (process.env.VMS_TEST_PAUSE_BEFORE ?? '').split(':');
const pauseAt = { verb: pauseVerb, nth: Number(pauseNth) || 1, seen: 0 };
delete process.env.VMS_TEST_KILL_AT_STEP;
delete process.env.VMS_TEST_KILL_AT_CHANGE;
delete process.env.VMS_TEST_PAUSE_BEFORE;
const counted = { call: 0, change: 0 };

/** virsh verbs that change nothing libvirt keeps (a pool refresh only re-reads the folder). */
const READ_ONLY_VERBS = new Set([
  'list', 'dominfo', 'dumpxml', 'domstate', 'domstats', 'domdisplay', 'ttyconsole', 'capabilities', 'echo',
  'pool-info', 'pool-dumpxml', 'pool-list', 'pool-refresh', 'vol-list', 'vol-dumpxml', 'vol-info', 'vol-download',
  'net-list', 'net-dumpxml', 'net-info', 'net-dhcp-leases', 'nwfilter-list', 'nwfilter-dumpxml',
]);

function stepHook(verbs: string[]): void {
  const changes = !verbs.every((verb) => READ_ONLY_VERBS.has(verb));
  counted.call++;
  if (changes) counted.change++;
  if (counted.call === killAt.call || (changes && counted.change === killAt.change)) process.kill(process.pid, 'SIGKILL');
  if (pauseAt.verb && verbs.includes(pauseAt.verb) && ++pauseAt.seen === pauseAt.nth) {
    writeSync(2, `[vms] paused before ${pauseAt.verb} (pid ${process.pid})\n`);
    process.kill(process.pid, 'SIGSTOP');
  }
}

export class Libvirt {
  constructor(readonly uri: string) {}

  private shell: VirshShell | undefined;

  /**
   * Runs one virsh command; a failure is a LibvirtError whose kind says what went wrong. A long command (a
   * copy, an upload) takes `ownProcess`, so the shell stays free for the calls that report its progress.
   */
  async run(args: string[], options: { ownProcess?: boolean } = {}): Promise<string> {
    if (options.ownProcess) stepHook([args[0]]);
    const [result] = options.ownProcess ? await this.batchInProcess([args]) : await this.batch([args]);
    if (result.error) throw result.error;
    return result.stdout;
  }

  /** Ends the long-lived virsh (a long-running app calls it on quit; a command-line process needn't). */
  close(): void {
    this.shell?.close();
    this.shell = undefined;
  }

  /**
   * Runs several commands in one virsh process and returns each one's output and error. virsh goes on
   * after a failed command; an `echo` marker after each command on stdout and stderr tells the outputs
   * and errors apart.
   */
  async batch(commands: string[][]): Promise<BatchResult[]> {
    if (commands.length === 0) return [];
    stepHook(commands.map((c) => c[0]));
    const lines = commands.map((c) => c.map(quoteVirshWord).join(' '));
    // One line per command in the shell; a word with a line break in it goes to a process of its own.
    if (process.env.VMS_VIRSH_SHELL !== '0' && !lines.some((line) => line.includes('\n'))) {
      const started = performance.now();
      try {
        this.shell ??= new VirshShell(this.uri);
        const results = await this.shell.exec(lines);
        return results.map((r) => ({ stdout: r.stdout.replace(/^\n/, '').trimEnd(), error: r.stderr ? libvirtError(this.uri, r.stderr) : undefined }));
      } catch (error) {
        this.shell = undefined;
        // Sent but unanswered: they may have run, and running them twice could do harm (create twice).
        if (error instanceof VirshShellError && error.afterWrite) {
          throw new LibvirtError('failed', `libvirt's answer to ${commands.map((c) => c[0]).join(', ')} was lost (virsh ended): check with \`vms list\` and try again.`, { cause: error });
        }
        // virsh could not start: one process for this batch says why.
        if (!(error instanceof VirshShellError) && (error as { code?: string }).code !== 'ENOENT') throw error;
      } finally {
        trace(started, `shell: ${commands.map((c) => c[0]).join(', ')}`);
      }
    }
    return this.batchInProcess(commands);
  }

  private async batchInProcess(commands: string[][]): Promise<BatchResult[]> {
    const script = commands.map((c) => `${c.map(quoteVirshWord).join(' ')} ; echo ${MARK} ; echo --err ${MARK}`).join(' ; ');
    const started = performance.now();
    let stdout: string;
    let stderr: string;
    try {
      const result = await execa('virsh', ['--quiet', '-c', this.uri, script], { env: { LC_ALL: 'C' }, reject: false });
      if (result.failed && (result as { code?: string }).code === 'ENOENT') throw result;
      stdout = String(result.stdout);
      stderr = String(result.stderr);
    } catch (error) {
      throw this.explain(error);
    } finally {
      trace(started, `batch of ${commands.length}: ${commands.map((c) => c[0]).join(', ')}`);
    }
    const outputs = stdout.split(MARK);
    const errors = stderr.split(new RegExp(`^error: ${MARK}\\n?`, 'm'));
    // A connection failure stops virsh before the first command: every command failed the same way.
    const early = outputs.length === 1 && errors.length === 1 && stderr.trim() ? libvirtError(this.uri, stderr) : undefined;
    return commands.map((_, i) => {
      const text = errors[i]?.trim();
      const error = early ?? (text ? libvirtError(this.uri, text) : undefined);
      return { stdout: (outputs[i] ?? '').replace(/^\n/, '').trimEnd(), error };
    });
  }

  /** Like batch, but the first failure is thrown. */
  async batchOrThrow(commands: string[][]): Promise<string[]> {
    const results = await this.batch(commands);
    const failed = results.find((r) => r.error);
    if (failed) throw failed.error;
    return results.map((r) => r.stdout);
  }

  /** Runs `work` with `xml` in a private temporary file (virsh reads definitions from files, not from a pipe). */
  async withXmlFile<T>(xml: string, work: (file: string) => Promise<T>): Promise<T> {
    return this.withXmlFiles([xml], ([file]) => work(file));
  }

  /** The same for several definitions at once (for one batch). */
  async withXmlFiles<T>(xmls: string[], work: (files: string[]) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'vms-xml-'));
    try {
      const files = xmls.map((_, i) => join(dir, `definition-${i}.xml`));
      await Promise.all(xmls.map((xml, i) => writeFile(files[i], xml, { mode: 0o600 })));
      return await work(files);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  private explain(error: unknown): VmsError {
    if (error instanceof VmsError) return error;
    if ((error as { code?: string }).code === 'ENOENT') {
      return new VmsError('virsh is not installed: install the libvirt package (libvirt-clients on Debian) and try again.', { cause: error });
    }
    const stderr = error instanceof ExecaError ? String(error.stderr ?? '') : String(error);
    return libvirtError(this.uri, stderr || String(error), error);
  }
}
