import { parseState } from '../xml/domain-read.js';
import type { VmState } from '../types.js';
import type { Libvirt } from './connection.js';
import { isLibvirtError } from './errors.js';

/** Domains: one small function per libvirt call. libvirt is the source of truth for every VM. */

export interface DomainStatus {
  state: VmState;
  persistent: boolean;
}

export interface DomainSnapshot {
  xml: string;
  status: DomainStatus;
}

function parseDominfo(out: string): DomainStatus | undefined {
  const field = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(out)?.[1];
  const state = field('State');
  if (state === undefined) return undefined;
  return { state: parseState(state), persistent: field('Persistent')?.trim() === 'yes' };
}

/** undefined where libvirt says there is no such object; other failures are thrown. */
async function unlessNotFound<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch (error) {
    if (isLibvirtError(error, 'not-found')) return undefined;
    throw error;
  }
}

/**
 * Defines (or, transient, creates) a domain and reads it back in the same virsh process, since each
 * virsh start costs about as much as the command.
 */
export async function defineAndRead(lv: Libvirt, xml: string, name: string, how: { transient?: boolean; paused?: boolean } = {}): Promise<DomainSnapshot> {
  return lv.withXmlFile(xml, async (file) => {
    const verb = how.transient ? ['create', file, ...(how.paused ? ['--paused'] : [])] : ['define', file];
    const [defined, info, readBack] = await lv.batch([verb, ['dominfo', name], ['dumpxml', name]]);
    if (defined.error) throw defined.error;
    const status = parseDominfo(info.stdout);
    if (!status || !readBack.stdout.includes('<domain')) throw info.error ?? readBack.error ?? new Error(`domain ${name} vanished after define`);
    return { xml: readBack.stdout, status };
  });
}

export async function defineDomain(lv: Libvirt, xml: string): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['define', file]));
}

export async function startDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['start', name]);
}

export async function shutdownDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['shutdown', name]);
}

export async function destroyDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['destroy', name]);
}

export async function suspendDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['suspend', name]);
}

export async function resumeDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['resume', name]);
}

/** Whether libvirtd starts the domain when it starts. */
export async function setDomainAutostart(lv: Libvirt, name: string, enabled: boolean): Promise<void> {
  await lv.run(['autostart', name, ...(enabled ? [] : ['--disable'])]);
}

/** Removes a domain's definition and its UEFI variable store. */
export async function undefineDomain(lv: Libvirt, name: string): Promise<void> {
  await lv.run(['undefine', '--nvram', name]);
}

export async function dumpXml(lv: Libvirt, name: string, options: { inactive?: boolean } = {}): Promise<string> {
  return lv.run(['dumpxml', ...(options.inactive ? ['--inactive'] : []), name]);
}

/** The XML of a domain, or undefined when there is no such domain. */
export async function dumpXmlIfExists(lv: Libvirt, name: string, options: { inactive?: boolean } = {}): Promise<string | undefined> {
  return unlessNotFound(dumpXml(lv, name, options));
}

/** State and persistence, or undefined when there is no such domain. */
export async function domainStatus(lv: Libvirt, name: string): Promise<DomainStatus | undefined> {
  return unlessNotFound(lv.run(['dominfo', name]).then(parseDominfo));
}

/** A domain's XML and status in one virsh process, or undefined when there is no such domain. */
export async function domainXmlAndStatus(lv: Libvirt, name: string): Promise<DomainSnapshot | undefined> {
  const [info, xml] = await lv.batch([['dominfo', name], ['dumpxml', name]]);
  for (const result of [info, xml]) if (result.error && !isLibvirtError(result.error, 'not-found')) throw result.error;
  const status = parseDominfo(info.stdout);
  return status && xml.stdout.includes('<domain') ? { xml: xml.stdout, status } : undefined;
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

export async function listDomains(lv: Libvirt): Promise<DomainListEntry[]> {
  const [all, transient] = await lv.batchOrThrow([['list', '--all'], ['list', '--transient', '--name']]);
  const transientNames = new Set(transient.split('\n').map((n) => n.trim()).filter(Boolean));
  return parseDomainList(all).map((d) => ({ ...d, persistent: !transientNames.has(d.name) }));
}

/** Every domain with its XML, in one virsh process after the list (a domain that vanished in between is left out). */
export async function listDomainsWithXml(lv: Libvirt): Promise<Array<DomainListEntry & { xml: string }>> {
  const domains = await listDomains(lv);
  const xmls = await dumpXmlMany(lv, domains.map((d) => d.name));
  return domains.flatMap((d) => (xmls.has(d.name) ? [{ ...d, xml: xmls.get(d.name)! }] : []));
}

/** Dumps many domains' XML with one virsh process. */
export async function dumpXmlMany(lv: Libvirt, names: string[]): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const docs = await lv.batch(names.map((n) => ['dumpxml', n]));
  // A domain may vanish between the list and the dump (a disposable shutting down): it has an error instead.
  names.forEach((name, i) => {
    if (docs[i].stdout.includes('<domain')) found.set(name, docs[i].stdout);
  });
  return found;
}

export async function attachDevice(lv: Libvirt, name: string, xml: string, options: { live: boolean; config: boolean }): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['attach-device', name, file, ...(options.live ? ['--live'] : []), ...(options.config ? ['--config'] : [])]));
}

export async function detachDevice(lv: Libvirt, name: string, xml: string, options: { live: boolean; config: boolean }): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['detach-device', name, file, ...(options.live ? ['--live'] : []), ...(options.config ? ['--config'] : [])]));
}

/** Replaces one namespaced element of a domain's `<metadata>`, live and/or in its definition. */
export async function setDomainMetadata(lv: Libvirt, domain: string, namespace: string, key: string, xml: string, where: { live: boolean; config: boolean }): Promise<void> {
  await lv.run(['metadata', domain, namespace, '--key', key, '--set', xml, ...(where.live ? ['--live'] : []), ...(where.config ? ['--config'] : [])]);
}

/** `domstats` for one domain, or undefined when it is gone. */
export async function domainStats(lv: Libvirt, name: string, groups: string[]): Promise<string | undefined> {
  return unlessNotFound(lv.run(['domstats', name, ...groups]));
}

/** `domstate --reason` for several domains at once (`paused (user)`); a domain that is gone is left out. */
export async function domainStatesWithReason(lv: Libvirt, names: string[]): Promise<Map<string, string>> {
  const results = await lv.batch(names.map((n) => ['domstate', n, '--reason']));
  return new Map(names.flatMap((n, i) => (results[i].error ? [] : [[n, results[i].stdout.trim()] as [string, string]])));
}
