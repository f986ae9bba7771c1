import { createHash } from 'node:crypto';
import { child, childElements, el, parseXml, serializeXml, textOf, type XmlElement } from '../xml/tree.js';
import { dhcpHostElement, readDhcpHosts, readDhcpRange, type DhcpHost, type DhcpRange } from './dhcp-hosts.js';
import { formatIpv4, netmaskOf, networkAddress, parseIpv4, prefixOfNetmask, type Cidr } from './ipv4.js';

/**
 * Pure builders and readers for a domain label's libvirt network: `vms-<label>`, its own bridge (also
 * `vms-<label>`, at most 15 characters since labels have at most 11) and its own /24.
 *
 * What a label's policy is lives in the network itself, so libvirt stays the one source of truth that the
 * CLI and the tray app (whichever user runs them) both read:
 *   - offline      no `<forward>` (no route out, no NAT) and `<dns enable='no'/>` (no DNS forwarding
 *                  either, which would otherwise be a way out); DHCP still works
 *   - isolate-vms  `<port isolated='yes'/>`: the bridge does not forward between the VMs' ports
 *   - clipboard    vms's own `<metadata>` element; applied to each VM's SPICE display when it starts
 */

export const NETWORK_METADATA_NS = 'urn:vms:network:1';
const PREFIX = 'vmsnet';

export interface LabelPolicy {
  /** No internet (and no DNS): VMs reach only each other (and the host for DHCP). */
  offline: boolean;
  /** VMs of this label cannot reach each other either. */
  isolateVms: boolean;
  /** SPICE clipboard sharing with the desktop (and so with every other VM whose clipboard is shared). */
  clipboard: boolean;
}

/**
 * Every label starts with SPICE clipboard sharing off: copying between VMs is `vms clipboard copy|paste`,
 * explicit and under the policy (docs/clipboard.md), while a shared SPICE clipboard hands whatever one VM
 * copies to the desktop and to every other VM that shares it. `vault` also starts offline and isolated.
 * `vms network set` changes all of it.
 */
export const SENSITIVE_LABELS: Readonly<Record<string, Partial<LabelPolicy>>> = {
  vault: { offline: true, isolateVms: true },
};

export function defaultPolicy(label: string): LabelPolicy {
  return { offline: false, isolateVms: false, clipboard: false, ...SENSITIVE_LABELS[label] };
}

export interface LabelNetworkSpec {
  label: string;
  subnet: Cidr;
  policy: LabelPolicy;
  uuid?: string;
  /** The VMs' fixed addresses (dhcp-hosts.ts): kept when the network is redefined. */
  hosts?: readonly DhcpHost[];
}

export interface LabelNetwork extends LabelNetworkSpec {
  /** libvirt network name (= bridge name). */
  name: string;
  bridge: string;
  /** The host's address on the bridge: DHCP server, DNS and (online) the guests' router. */
  gateway: string;
  /** Where the VMs' addresses come from. */
  dhcpRange: DhcpRange;
  /** The VMs' fixed addresses in its persistent definition. */
  hosts: DhcpHost[];
}

export function networkName(label: string): string {
  return `vms-${label}`;
}

/** A stable UUID per label, so two commands defining the same label's network define the same network. */
export function networkUuid(label: string): string {
  const h = createHash('sha256').update(`vms-network:${label}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** `.1` is the host; DHCP hands out `.10`–`.254`. */
export function gatewayOf(subnet: Cidr): string {
  return formatIpv4(networkAddress(subnet) + 1);
}

export function dhcpRangeOf(subnet: Cidr): DhcpRange {
  const base = networkAddress(subnet);
  return { start: formatIpv4(base + 10), end: formatIpv4(base + 254) };
}

export function buildNetworkTree(spec: LabelNetworkSpec): XmlElement {
  const name = networkName(spec.label);
  return el('network', {},
    el('name', {}, name),
    el('uuid', {}, spec.uuid ?? networkUuid(spec.label)),
    el('metadata', {},
      el(`${PREFIX}:network`, { [`xmlns:${PREFIX}`]: NETWORK_METADATA_NS },
        el(`${PREFIX}:label`, {}, spec.label),
        el(`${PREFIX}:clipboard`, {}, spec.policy.clipboard ? 'yes' : 'no'))),
    !spec.policy.offline && el('forward', { mode: 'nat' }),
    el('bridge', { name, stp: 'on', delay: '0' }),
    spec.policy.offline && el('dns', { enable: 'no' }),
    spec.policy.isolateVms && el('port', { isolated: 'yes' }),
    el('ip', { address: gatewayOf(spec.subnet), netmask: netmaskOf(spec.subnet.prefix) },
      el('dhcp', {}, el('range', { ...dhcpRangeOf(spec.subnet) }), ...(spec.hosts ?? []).map(dhcpHostElement))));
}

export function buildNetworkXml(spec: LabelNetworkSpec): string {
  return serializeXml(buildNetworkTree(spec));
}

function localName(name: string): string {
  return name.includes(':') ? name.slice(name.indexOf(':') + 1) : name;
}

function metadataOf(network: XmlElement): XmlElement | undefined {
  const metadata = child(network, 'metadata');
  return metadata && childElements(metadata).find((e) => Object.entries(e.attrs).some(([k, v]) => k.startsWith('xmlns') && v === NETWORK_METADATA_NS));
}

/** Reads a label network back; undefined when the network is not one of vms's. */
export function readNetworkXml(xml: string): LabelNetwork | undefined {
  const network = parseXml(xml);
  const meta = metadataOf(network);
  if (!meta) return undefined;
  const field = (name: string) => textOf(childElements(meta).find((e) => localName(e.name) === name));
  const label = field('label');
  const ip = childElements(network, 'ip').find((e) => (e.attrs.family ?? 'ipv4') === 'ipv4');
  const address = ip?.attrs.address ? parseIpv4(ip.attrs.address) : undefined;
  const prefix = ip?.attrs.prefix !== undefined ? Number(ip.attrs.prefix) : ip?.attrs.netmask ? prefixOfNetmask(ip.attrs.netmask) : undefined;
  if (!label || address === undefined || prefix === undefined) return undefined;
  const subnet: Cidr = { address: networkAddress({ address, prefix }), prefix };
  return {
    label,
    name: textOf(child(network, 'name')) ?? networkName(label),
    uuid: textOf(child(network, 'uuid')),
    bridge: child(network, 'bridge')?.attrs.name ?? '',
    subnet,
    gateway: formatIpv4(address),
    dhcpRange: readDhcpRange(network) ?? dhcpRangeOf(subnet),
    hosts: readDhcpHosts(network),
    policy: {
      offline: !child(network, 'forward'),
      isolateVms: child(network, 'port')?.attrs.isolated === 'yes',
      clipboard: field('clipboard') !== 'no',
    },
  };
}

/** Every IPv4 prefix a libvirt network (any, not only vms's) takes, for choosing a free subnet. */
export function networkPrefixes(xml: string): Cidr[] {
  const network = parseXml(xml);
  return childElements(network, 'ip').flatMap((ip) => {
    if ((ip.attrs.family ?? 'ipv4') !== 'ipv4' || !ip.attrs.address) return [];
    const address = parseIpv4(ip.attrs.address);
    const prefix = ip.attrs.prefix !== undefined ? Number(ip.attrs.prefix) : ip.attrs.netmask ? prefixOfNetmask(ip.attrs.netmask) : 24;
    return address === undefined || prefix === undefined ? [] : [{ address, prefix }];
  });
}
