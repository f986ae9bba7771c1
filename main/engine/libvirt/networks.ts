import type { VmsError } from '../errors.js';
import type { BatchResult, Libvirt } from './connection.js';
import { isLibvirtError } from './errors.js';

/** Networks and network filters: one small function per libvirt call. */

async function ignoring(work: Promise<unknown>, ...kinds: Array<'not-found' | 'inactive' | 'active'>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!kinds.some((kind) => isLibvirtError(error, kind))) throw error;
  }
}

export interface NetworkEntry {
  name: string;
  active: boolean;
  /** The persistent definition (`--inactive`): what the network will be on its next start. */
  xml: string;
}

/** Every libvirt network, vms's or not, with its definition; one virsh process for the lists, one for the XML. */
export async function listNetworks(lv: Libvirt): Promise<NetworkEntry[]> {
  const [all, active] = await lv.batchOrThrow([['net-list', '--all', '--name'], ['net-list', '--name']]);
  const names = all.split('\n').map((n) => n.trim()).filter(Boolean);
  const activeNames = new Set(active.split('\n').map((n) => n.trim()));
  const xmls = await lv.batch(names.map((n) => ['net-dumpxml', '--inactive', n]));
  return names.flatMap((name, i) => (xmls[i].stdout.includes('<network') ? [{ name, active: activeNames.has(name), xml: xmls[i].stdout }] : []));
}

export async function defineNetwork(lv: Libvirt, xml: string): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['net-define', file]));
}

/** Starts a network; one that is already active is fine. */
export async function startNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-start', name]), 'active');
}

export async function destroyNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-destroy', name]), 'inactive', 'not-found');
}

export async function undefineNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-undefine', name]), 'not-found');
}

/** The definitions of network filters, in order (undefined where there is none); one virsh process. */
export async function filterXmls(lv: Libvirt, names: string[]): Promise<Array<string | undefined>> {
  const xmls = await lv.batch(names.map((name) => ['nwfilter-dumpxml', name]));
  return xmls.map((r) => (r.stdout.includes('<filter') ? r.stdout : undefined));
}

/** The UUID in a filter's definition: libvirt redefines a filter only under its UUID. */
export function filterUuidOf(xml: string | undefined): string | undefined {
  return xml ? /<uuid>([0-9a-f-]+)<\/uuid>/.exec(xml)?.[1] : undefined;
}

/** Defines or redefines a filter; libvirt re-applies a redefined filter to running VMs before returning. */
/**
 * Redefining a filter makes libvirt re-apply it to every running VM that uses it; a VM stopping at that
 * moment (its tap device going away) fails the whole define with "the cause is unknown", and libvirt keeps
 * the old definition. Seen when a new domain's network changed the host filters while another VM shut
 * down. The same define a moment later succeeds, so it is tried again, a few times.
 */
export async function defineFilter(lv: Libvirt, xml: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await lv.withXmlFile(xml, (file) => lv.run(['nwfilter-define', file]));
      return;
    } catch (error) {
      if (attempt >= 3 || !isLibvirtError(error, 'failed')) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
    }
  }
}

export async function undefineFilter(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['nwfilter-undefine', name]), 'not-found');
}

export async function listFilters(lv: Libvirt): Promise<string[]> {
  const out = await lv.run(['nwfilter-list']);
  return out.split('\n').map((line) => line.trim().split(/\s+/)[1]).filter((n): n is string => Boolean(n) && n !== 'Name');
}

/** Defines several filters in one virsh round trip; the first failure is thrown. */
export async function defineFilters(lv: Libvirt, xmls: string[]): Promise<void> {
  const failed = (await applyNetworkChanges(lv, { filters: xmls })).filters.find(Boolean);
  if (failed) throw failed;
}

/** One change to a network's static DHCP hosts (`virsh net-update … ip-dhcp-host`). */
export interface DhcpHostUpdate {
  network: string;
  command: 'add-last' | 'delete';
  /** `<host mac='…' name='…' ip='…'/>` on one line. */
  hostXml: string;
  /** The running network (dnsmasq is told at once) and/or its persistent definition. */
  live: boolean;
  config: boolean;
}

export interface NetworkChangeResults {
  filters: Array<VmsError | undefined>;
  dhcpHosts: Array<VmsError | undefined>;
}

/**
 * Filter definitions, then DHCP host changes, in one virsh round trip; each one's error, in order
 * (libvirt refuses a DHCP host whose MAC, name or address the network has already: kind `exists`; a
 * deletion it cannot match: `not-found`).
 */
export async function applyNetworkChanges(lv: Libvirt, changes: { filters?: string[]; dhcpHosts?: DhcpHostUpdate[] }): Promise<NetworkChangeResults> {
  const filters = changes.filters ?? [];
  const hosts = (changes.dhcpHosts ?? []).filter((u) => u.live || u.config);
  if (filters.length + hosts.length === 0) return { filters: [], dhcpHosts: [] };
  return lv.withXmlFiles(filters, async (files) => {
    const results = await lv.batch([
      ...files.map((file) => ['nwfilter-define', file]),
      ...hosts.map((u) => ['net-update', u.network, u.command, 'ip-dhcp-host', u.hostXml, ...(u.live ? ['--live'] : []), ...(u.config ? ['--config'] : [])]),
    ]);
    const errors = results.map((r) => r.error);
    const byHost = new Map(hosts.map((u, i) => [u, errors[files.length + i]]));
    return { filters: errors.slice(0, files.length), dhcpHosts: (changes.dhcpHosts ?? []).map((u) => byHost.get(u)) };
  });
}

/** An address a network's dnsmasq has leased. */
export interface DhcpLeaseEntry {
  mac: string;
  ip: string;
}

/** Parses `virsh net-dhcp-leases` (`Expiry Time  MAC address  Protocol  IP address  Hostname  Client ID`); IPv4 only. */
export function parseDhcpLeases(text: string): DhcpLeaseEntry[] {
  return text.split('\n').flatMap((line) => {
    const match = /\s((?:[0-9a-f]{2}:){5}[0-9a-f]{2})\s+ipv4\s+(\d+\.\d+\.\d+\.\d+)\/\d+/i.exec(line);
    return match ? [{ mac: match[1].toLowerCase(), ip: match[2] }] : [];
  });
}

export interface NetworkHostsState {
  /** The running network's definition (undefined when it is not running or not there). */
  liveXml?: string;
  /** The persistent definition. */
  configXml?: string;
  leases: DhcpLeaseEntry[];
}

/**
 * A network's live and persistent definitions and its leases, with other filters' definitions, in one
 * virsh round trip (what choosing a VM's address needs, beside its filters).
 */
export async function readNetworkHosts(lv: Libvirt, network: string, filterNames: string[] = []): Promise<NetworkHostsState & { filters: Array<string | undefined> }> {
  const results = await lv.batch([
    ...filterNames.map((name) => ['nwfilter-dumpxml', name]),
    ['net-list', '--name'],
    ['net-dumpxml', network],
    ['net-dumpxml', '--inactive', network],
    ['net-dhcp-leases', network],
  ]);
  const [active, live, config, leases] = results.slice(filterNames.length);
  const running = active.stdout.split('\n').some((n) => n.trim() === network);
  const networkXml = (r: BatchResult) => (r.stdout.includes('<network') ? r.stdout : undefined);
  return {
    filters: results.slice(0, filterNames.length).map((r) => (r.stdout.includes('<filter') ? r.stdout : undefined)),
    liveXml: running ? networkXml(live) : undefined,
    configXml: networkXml(config),
    leases: running ? parseDhcpLeases(leases.stdout) : [],
  };
}

/** The live (when running) and persistent definitions of several networks, in one virsh round trip. */
export async function readNetworkDefinitions(lv: Libvirt, networks: string[]): Promise<Array<{ name: string; liveXml?: string; configXml?: string }>> {
  if (networks.length === 0) return [];
  const [active, ...dumps] = await lv.batch([['net-list', '--name'], ...networks.flatMap((n) => [['net-dumpxml', n], ['net-dumpxml', '--inactive', n]])]);
  const running = new Set(active.stdout.split('\n').map((n) => n.trim()));
  const networkXml = (r: BatchResult) => (r.stdout.includes('<network') ? r.stdout : undefined);
  return networks.map((name, i) => ({ name, liveXml: running.has(name) ? networkXml(dumps[2 * i]) : undefined, configXml: networkXml(dumps[2 * i + 1]) }));
}

export async function listNetworkNames(lv: Libvirt): Promise<string[]> {
  return (await lv.run(['net-list', '--all', '--name'])).split('\n').map((n) => n.trim()).filter(Boolean);
}
