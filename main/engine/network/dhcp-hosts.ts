import { randomBytes } from 'node:crypto';
import { child, childElements, el, parseXml, serializeXml, type XmlElement } from '../xml/tree.js';
import { formatIpv4, parseIpv4, stableHash } from './ipv4.js';

/**
 * Each VM's fixed address on its label's network (pure): vms picks the VM's MAC and an address in the
 * network's DHCP range and writes both into a static DHCP host of the network (`<host mac ip name>`, which
 * dnsmasq serves) and into the VM's NIC (the MAC, and the filter parameter `IP`). The filter then knows
 * the address from the start, so libvirt runs no DHCP snooping (whose threads deadlocked libvirt 11.3
 * under parallel load, see docs/isolation.md).
 *
 * Two commands at once cannot take one address: libvirt refuses a DHCP host whose MAC, name or address
 * another host of the network has, and the loser picks again (vm-network.ts). A network keeps a live and
 * a persistent definition; each host is tracked in both, so one missing from either is put back there.
 */

export interface DhcpHost {
  mac: string;
  ip: string;
  /** The VM's name (dnsmasq also answers DNS for it on the label's network). */
  name?: string;
}

/** An address the network's dnsmasq has handed out (`net-dhcp-leases`). */
export interface DhcpLease {
  mac: string;
  ip: string;
}

export interface DhcpRange {
  start: string;
  end: string;
}

/** One change to a network's DHCP hosts, in its live state, its persistent definition or both. */
export interface DhcpHostChange {
  command: 'add-last' | 'delete';
  host: DhcpHost;
  live: boolean;
  config: boolean;
}

/** libvirt's own prefix for the MACs it makes up (QEMU's OUI). */
const MAC_PREFIX = '52:54:00';

/** A random MAC in libvirt's range, none of `taken`. */
export function freshMac(taken: Iterable<string> = [], random: () => Buffer = () => randomBytes(3)): string {
  const used = new Set([...taken].map((m) => m.toLowerCase()));
  for (;;) {
    const mac = `${MAC_PREFIX}:${[...random()].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
    if (!used.has(mac)) return mac;
  }
}

export function dhcpHostElement(host: DhcpHost): XmlElement {
  return el('host', { mac: host.mac, name: host.name, ip: host.ip });
}

/** `<host mac='…' name='…' ip='…'/>` on one line, as `virsh net-update` takes it. */
export function dhcpHostXml(host: DhcpHost): string {
  return serializeXml(dhcpHostElement(host)).replace(/\s*\n\s*/g, ' ').trim();
}

function ipv4Dhcp(network: XmlElement): XmlElement | undefined {
  const ip = childElements(network, 'ip').find((e) => (e.attrs.family ?? 'ipv4') === 'ipv4' && child(e, 'dhcp'));
  return child(ip, 'dhcp');
}

/** The IPv4 DHCP hosts of a network definition (hosts without a MAC or address are not vms's and are left out). */
export function readDhcpHosts(network: string | XmlElement): DhcpHost[] {
  const dhcp = ipv4Dhcp(typeof network === 'string' ? parseXml(network) : network);
  return (dhcp ? childElements(dhcp, 'host') : []).flatMap((h) => (h.attrs.mac && h.attrs.ip
    ? [{ mac: h.attrs.mac.toLowerCase(), ip: h.attrs.ip, ...(h.attrs.name ? { name: h.attrs.name } : {}) }]
    : []));
}

/** The network's first IPv4 DHCP range. */
export function readDhcpRange(network: string | XmlElement): DhcpRange | undefined {
  const range = child(ipv4Dhcp(typeof network === 'string' ? parseXml(network) : network), 'range');
  return range?.attrs.start && range.attrs.end ? { start: range.attrs.start, end: range.attrs.end } : undefined;
}

const keyOf = (h: DhcpHost) => `${h.mac.toLowerCase()} ${h.ip} ${h.name ?? ''}`;
const sameHost = (a: DhcpHost, b: DhcpHost) => keyOf(a) === keyOf(b);

interface PlacedHost {
  host: DhcpHost;
  live: boolean;
  config: boolean;
}

/** Every host of the network once, with where it is. `live` is undefined when the network does not run. */
function placeHosts(live: readonly DhcpHost[] | undefined, config: readonly DhcpHost[]): PlacedHost[] {
  const placed = new Map<string, PlacedHost>();
  for (const host of live ?? []) placed.set(keyOf(host), { host, live: true, config: false });
  for (const host of config) placed.set(keyOf(host), { host, live: placed.has(keyOf(host)), config: true });
  return [...placed.values()];
}

function inRange(ip: string | undefined, range: DhcpRange): boolean {
  const n = ip === undefined ? undefined : parseIpv4(ip);
  return n !== undefined && n >= parseIpv4(range.start)! && n <= parseIpv4(range.end)!;
}

export interface ReservationInput {
  /** The VM, and the MAC its NIC has (or will have). */
  name: string;
  mac: string;
  /** The address the VM had (its NIC's `IP` parameter): kept when it is still free. */
  preferredIp?: string;
  range: DhcpRange;
  /** The network's hosts as it runs now; undefined when it does not run. */
  live?: readonly DhcpHost[];
  /** The hosts of its persistent definition. */
  config: readonly DhcpHost[];
  leases: readonly DhcpLease[];
}

export interface Reservation {
  host: DhcpHost;
  /** What to change so that the network has exactly this host for the VM (deletions first). */
  changes: DhcpHostChange[];
}

/**
 * The VM's host entry and the changes that make it so: the VM's own entry (its name or its MAC) is kept when
 * its address is in the range; otherwise the preferred address, otherwise the first free one from a start
 * the VM's name chooses (so two VMs made at once rarely try the same one). An address is taken when
 * another host has it or dnsmasq has leased it to another MAC (dnsmasq would not give a reserved address
 * that another MAC still holds). Undefined when the range is full.
 */
export function planReservation(input: ReservationInput): Reservation | undefined {
  const mac = input.mac.toLowerCase();
  const hosts = placeHosts(input.live, input.config);
  const ours = hosts.filter((p) => p.host.name === input.name || p.host.mac.toLowerCase() === mac);
  const taken = new Set([
    ...hosts.filter((p) => !ours.includes(p)).map((p) => p.host.ip),
    ...input.leases.filter((l) => l.mac.toLowerCase() !== mac).map((l) => l.ip),
  ]);
  const free = (ip: string | undefined): ip is string => ip !== undefined && inRange(ip, input.range) && !taken.has(ip);
  const kept = ours.find((p) => p.host.name === input.name && p.host.mac.toLowerCase() === mac && free(p.host.ip));
  const ip = kept?.host.ip ?? (free(input.preferredIp) ? input.preferredIp : firstFree(input.name, input.range, free));
  if (ip === undefined) return undefined;
  const host: DhcpHost = { mac, ip, name: input.name };
  const running = input.live !== undefined;
  const changes: DhcpHostChange[] = ours.filter((p) => !sameHost(p.host, host)).map((p) => ({ command: 'delete', host: p.host, live: p.live, config: p.config }));
  const present = ours.find((p) => sameHost(p.host, host));
  const addLive = running && !present?.live;
  const addConfig = !present?.config;
  if (addLive || addConfig) changes.push({ command: 'add-last', host, live: addLive, config: addConfig });
  return { host, changes };
}

function firstFree(name: string, range: DhcpRange, free: (ip: string) => boolean): string | undefined {
  const start = parseIpv4(range.start)!;
  const size = parseIpv4(range.end)! - start + 1;
  const offset = stableHash(name) % size;
  for (let i = 0; i < size; i++) {
    const ip = formatIpv4(start + ((offset + i) % size));
    if (free(ip)) return ip;
  }
  return undefined;
}

/** The changes that remove hosts from a network, wherever each one is. */
export function removalChanges(live: readonly DhcpHost[] | undefined, config: readonly DhcpHost[], remove: (host: DhcpHost) => boolean): DhcpHostChange[] {
  return placeHosts(live, config).filter((p) => remove(p.host)).map((p) => ({ command: 'delete', host: p.host, live: p.live, config: p.config }));
}
