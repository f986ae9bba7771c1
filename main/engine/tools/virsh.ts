import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmsError } from '../errors.js';
import { parseState } from '../xml/domain-read.js';
import type { VmState } from '../types.js';
import { runTool, runToolWithStderr } from './run.js';

/**
 * One small function per virsh command. libvirt is the source of truth: everything vms knows about a VM
 * is read back through these.
 */

function explainVirsh(uri: string) {
  return (stderr: string): string | undefined => {
    if (/failed to connect to the hypervisor|Failed to connect socket|Connection refused|No such file or directory.*sock/i.test(stderr)) {
      return `Cannot reach libvirt at ${uri}: start it (sudo systemctl start libvirtd) or set VMS_URI, then try again.`;
    }
    if (/Domain not found|failed to get domain/i.test(stderr)) return undefined;
    const error = stderr.split('\n').map((l) => l.replace(/^error:\s*/, '').trim()).filter((l) => l && !/^Failed to (start|create|define|destroy|shutdown|undefine)/.test(l));
    return error.length > 0 ? `libvirt refused: ${error.join(' ')}` : undefined;
  };
}

export function virsh(uri: string, args: string[]): Promise<string> {
  return runTool('virsh', ['--quiet', '-c', uri, ...args], { explain: explainVirsh(uri) });
}

/** Explains the first `error:` line of a batch's stderr. */
function batchError(uri: string, stderr: string): VmsError {
  return new VmsError(explainVirsh(uri)(stderr) ?? `virsh failed: ${stderr.trim().split('\n')[0]}`, { stderr });
}

const SPLIT = '@@vms-split@@';

/** Names that are safe inside virsh's own command syntax (ours always are; foreign ones may not be). */
function isPlainWord(word: string): boolean {
  return /^[A-Za-z0-9_.:/+-]+$/.test(word);
}

/**
 * Runs several virsh commands in one process (each virsh start costs about as much as the command
 * itself) and returns each command's output. virsh goes on after a failed command, so a missing
 * domain gives an empty output rather than an error.
 */
export async function virshBatch(uri: string, commands: string[][]): Promise<string[]> {
  return (await virshBatchWithStderr(uri, commands)).outputs;
}

async function virshBatchWithStderr(uri: string, commands: string[][]): Promise<{ outputs: string[]; stderr: string }> {
  for (const command of commands) {
    if (!command.every(isPlainWord)) throw new Error(`virsh batch arguments must be plain words: ${command.join(' ')}`);
  }
  // The trailing echo keeps virsh in batch mode even for one command, so a failure is not fatal.
  const script = commands.map((c) => `${c.join(' ')} ; echo ${SPLIT}`).join(' ; ');
  const { stdout, stderr } = await runToolWithStderr('virsh', ['--quiet', '-c', uri, script], { explain: explainVirsh(uri) });
  const parts = stdout.split(SPLIT).map((part) => part.replace(/^\n/, '').trimEnd());
  return { outputs: commands.map((_, i) => parts[i] ?? ''), stderr };
}

export interface DomainSnapshot {
  xml: string;
  status: DomainStatus;
}

/**
 * Defines (or, transient, creates) a domain and reads it back in the same virsh process, since each
 * virsh start costs about as much as the command.
 */
export async function defineAndRead(uri: string, xml: string, name: string, how: { transient?: boolean; paused?: boolean } = {}): Promise<DomainSnapshot> {
  const dir = await mkdtemp(join(tmpdir(), 'vms-xml-'));
  const file = join(dir, 'domain.xml');
  try {
    await writeFile(file, xml, { mode: 0o600 });
    const verb = how.transient ? ['create', file, ...(how.paused ? ['--paused'] : [])] : ['define', file];
    const { outputs: [, info, readBack], stderr } = await virshBatchWithStderr(uri, [verb, ['dominfo', name], ['dumpxml', name]]);
    // virsh --quiet prints nothing on success, and a batch exits 0 whatever failed: stderr tells.
    if (/^error:/m.test(stderr)) throw batchError(uri, stderr);
    const status = parseDominfo(info);
    if (!status || !readBack.includes('<domain')) throw batchError(uri, stderr || `domain ${name} vanished`);
    return { xml: readBack, status };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a virsh command that reads an XML file; virsh cannot read a socket as /dev/stdin. */
async function virshWithXml(uri: string, xml: string, args: (file: string) => string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'vms-xml-'));
  const file = join(dir, 'domain.xml');
  try {
    await writeFile(file, xml, { mode: 0o600 });
    return await virsh(uri, args(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof VmsError && /Domain not found|failed to get domain|no domain with matching name/i.test(error.stderr ?? '');
}

export async function defineDomain(uri: string, xml: string): Promise<void> {
  await virshWithXml(uri, xml, (file) => ['define', file]);
}

/** Starts a transient domain: libvirt forgets it as soon as it stops. */
export async function createTransientDomain(uri: string, xml: string, options: { paused?: boolean } = {}): Promise<void> {
  await virshWithXml(uri, xml, (file) => ['create', file, ...(options.paused ? ['--paused'] : [])]);
}

export async function startDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['start', name]);
}

export async function shutdownDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['shutdown', name]);
}

export async function destroyDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['destroy', name]);
}

export async function suspendDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['suspend', name]);
}

export async function resumeDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['resume', name]);
}

export async function undefineDomain(uri: string, name: string): Promise<void> {
  await virsh(uri, ['undefine', '--nvram', name]);
}

export async function dumpXml(uri: string, name: string, options: { inactive?: boolean } = {}): Promise<string> {
  return virsh(uri, ['dumpxml', ...(options.inactive ? ['--inactive'] : []), name]);
}

/** The XML of a domain, or undefined when there is no such domain. */
export async function dumpXmlIfExists(uri: string, name: string, options: { inactive?: boolean } = {}): Promise<string | undefined> {
  try {
    return await dumpXml(uri, name, options);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export async function domainState(uri: string, name: string): Promise<VmState | undefined> {
  try {
    return parseState(await virsh(uri, ['domstate', name]));
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

export interface DomainStatus {
  state: VmState;
  persistent: boolean;
}

/** State and persistence from `virsh dominfo`, or undefined when there is no such domain. */
export async function domainStatus(uri: string, name: string): Promise<DomainStatus | undefined> {
  const [info] = await virshBatch(uri, [['dominfo', name]]);
  return parseDominfo(info);
}

function parseDominfo(out: string): DomainStatus | undefined {
  const field = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(out)?.[1];
  const state = field('State');
  if (state === undefined) return undefined;
  return { state: parseState(state), persistent: field('Persistent')?.trim() === 'yes' };
}

/** A domain's XML and status in one virsh process, or undefined when there is no such domain. */
export async function domainXmlAndStatus(uri: string, name: string): Promise<DomainSnapshot | undefined> {
  const [info, xml] = await virshBatch(uri, [['dominfo', name], ['dumpxml', name]]);
  const status = parseDominfo(info);
  return status && xml.includes('<domain') ? { xml, status } : undefined;
}

export interface DomainListEntry {
  name: string;
  state: VmState;
  persistent: boolean;
}

/** Parses `virsh list --all` lines: `Id Name State`, where State may be two words. */
export function parseDomainList(text: string): Array<{ name: string; state: VmState }> {
  return text.split('\n').flatMap((line) => {
    const match = /^\s*(\S+)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
    if (!match || match[1] === 'Id' || /^\s*-+\s*$/.test(line)) return [];
    return [{ name: match[2], state: parseState(match[3]) }];
  });
}

export async function listDomains(uri: string): Promise<DomainListEntry[]> {
  const [all, transient] = await virshBatch(uri, [['list', '--all'], ['list', '--transient', '--name']]);
  const transientNames = new Set(transient.split('\n').map((n) => n.trim()).filter(Boolean));
  return parseDomainList(all).map((d) => ({ ...d, persistent: !transientNames.has(d.name) }));
}

/** Dumps many domains' XML with one virsh process (one XML document per domain, in order). */
export async function dumpXmlMany(uri: string, names: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (names.length === 0) return found;
  const plain = names.filter(isPlainWord);
  // A domain may vanish between the list and the dump (a disposable shutting down): its output is empty.
  const docs = await virshBatch(uri, plain.map((n) => ['dumpxml', n]));
  plain.forEach((name, i) => {
    if (docs[i].includes('<domain')) found.set(name, docs[i]);
  });
  return found;
}

/** `spice://127.0.0.1:5900`, or undefined when the domain is not running. */
export async function domainDisplay(uri: string, name: string): Promise<string | undefined> {
  const out = await virsh(uri, ['domdisplay', name]);
  return out.trim() || undefined;
}

export async function ttyConsole(uri: string, name: string): Promise<string> {
  return (await virsh(uri, ['ttyconsole', name])).trim();
}

export async function attachDevice(uri: string, name: string, xml: string, options: { live: boolean; config: boolean }): Promise<void> {
  await virshWithXml(uri, xml, (file) => ['attach-device', name, file, ...(options.live ? ['--live'] : []), ...(options.config ? ['--config'] : [])]);
}

export async function detachDevice(uri: string, name: string, xml: string, options: { live: boolean; config: boolean }): Promise<void> {
  await virshWithXml(uri, xml, (file) => ['detach-device', name, file, ...(options.live ? ['--live'] : []), ...(options.config ? ['--config'] : [])]);
}
