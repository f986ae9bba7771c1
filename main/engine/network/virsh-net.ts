import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmsError } from '../errors.js';
import { virsh, virshBatch } from '../tools/virsh.js';

/** One small function per virsh command for networks and network filters. */

async function withXmlFile<T>(xml: string, work: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'vms-net-'));
  try {
    const file = join(dir, 'def.xml');
    await writeFile(file, xml, { mode: 0o600 });
    return await work(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function stderrOf(error: unknown): string {
  return error instanceof VmsError ? error.stderr ?? error.message : String(error);
}

export function isNotFound(error: unknown): boolean {
  return /not found|no network with matching|no nwfilter with matching|no domain with matching/i.test(stderrOf(error));
}

export interface NetworkEntry {
  name: string;
  active: boolean;
  /** The persistent definition (`--inactive`): what the network will be on its next start. */
  xml: string;
}

/** Every libvirt network, vms's or not, with its definition; one virsh process for the lists, one for the XML. */
export async function listNetworks(uri: string): Promise<NetworkEntry[]> {
  const [all, active] = await virshBatch(uri, [['net-list', '--all', '--name'], ['net-list', '--name']]);
  const names = all.split('\n').map((n) => n.trim()).filter((n) => /^[A-Za-z0-9_.:+-]+$/.test(n));
  const activeNames = new Set(active.split('\n').map((n) => n.trim()));
  if (names.length === 0) return [];
  const xmls = await virshBatch(uri, names.map((n) => ['net-dumpxml', '--inactive', n]));
  return names.flatMap((name, i) => (xmls[i].includes('<network') ? [{ name, active: activeNames.has(name), xml: xmls[i] }] : []));
}

export async function defineNetwork(uri: string, xml: string): Promise<void> {
  await withXmlFile(xml, (file) => virsh(uri, ['net-define', file]));
}

/** Starts a network; one that is already active is fine. */
export async function startNetwork(uri: string, name: string): Promise<void> {
  try {
    await virsh(uri, ['net-start', name]);
  } catch (error) {
    if (/already active/i.test(stderrOf(error))) return;
    throw error;
  }
}

export async function destroyNetwork(uri: string, name: string): Promise<void> {
  try {
    await virsh(uri, ['net-destroy', name]);
  } catch (error) {
    if (/not active|isn't active|is not running/i.test(stderrOf(error)) || isNotFound(error)) return;
    throw error;
  }
}

export async function undefineNetwork(uri: string, name: string): Promise<void> {
  try {
    await virsh(uri, ['net-undefine', name]);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

/** The definitions of network filters, in order (undefined where there is none); one virsh process. */
export async function filterXmls(uri: string, names: string[]): Promise<Array<string | undefined>> {
  const xmls = await virshBatch(uri, names.map((name) => ['nwfilter-dumpxml', name]));
  return xmls.map((xml) => (xml.includes('<filter') ? xml : undefined));
}

/** The UUID in a filter's definition: libvirt redefines a filter only under its UUID. */
export function filterUuidOf(xml: string | undefined): string | undefined {
  return xml ? /<uuid>([0-9a-f-]+)<\/uuid>/.exec(xml)?.[1] : undefined;
}

/** Defines or redefines a filter; libvirt re-applies a redefined filter to running VMs before returning. */
export async function defineFilter(uri: string, xml: string): Promise<void> {
  await withXmlFile(xml, (file) => virsh(uri, ['nwfilter-define', file]));
}

export async function undefineFilter(uri: string, name: string): Promise<void> {
  try {
    await virsh(uri, ['nwfilter-undefine', name]);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export async function listFilters(uri: string): Promise<string[]> {
  const out = await virsh(uri, ['nwfilter-list']);
  return out.split('\n').map((line) => line.trim().split(/\s+/)[1]).filter((n): n is string => Boolean(n) && n !== 'Name');
}

/** Replaces one namespaced element of a domain's `<metadata>` (`virsh metadata --set`), live and/or in its definition. */
export async function setDomainMetadata(uri: string, domain: string, namespace: string, key: string, xml: string, where: { live: boolean; config: boolean }): Promise<void> {
  await virsh(uri, ['metadata', domain, namespace, '--key', key, '--set', xml, ...(where.live ? ['--live'] : []), ...(where.config ? ['--config'] : [])]);
}
