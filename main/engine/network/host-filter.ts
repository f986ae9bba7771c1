import { createHash } from 'node:crypto';
import { childElements, el, parseXml, type XmlElement } from '../xml/tree.js';

/**
 * The host guard, as libvirt network filters (libvirtd applies them as root; vms runs no firewall tool):
 * a VM reaches the host only for DHCP (to its own bridge address or the broadcast address) and, online,
 * DNS on its own bridge address. Everything else it sends to any host address (another label's bridge,
 * the LAN address, a VPN, a container bridge), to a broadcast address of the host or to multicast is
 * dropped at the VM's bridge port, before the host sees it.
 *
 * Why per address, in the bridge's ebtables layer? nwfilter's iptables-layer rules for what a VM sends
 * land in libvirt's forward and host-input chains alike (they cannot say "to the host"), and as soon as a
 * VM's filter has one, libvirt accepts that VM's forwarded traffic before the networks' own rules
 * (measured with libvirt 9). ebtables sees frames, not connections, so replies to connections the host
 * opens into a VM are dropped too: the host cannot open network connections into VMs (use the console or
 * SPICE). VM-to-VM broadcast and multicast within a label are dropped with it (they reach the host too).
 *
 * Two filters shared by every VM, `vms-guard-online` and `vms-guard-offline` (offline labels have no DNS),
 * in their own ebtables chain after clean-traffic's anti-spoofing (-710) and the VM's firewall (-690,
 * which returns what it allows, so DNS to the own bridge is the firewall's to deny), before clean-traffic
 * accepts IPv4 (-650). The VM's own bridge address comes from `$DHCPSERVER`, the parameter on every vms
 * NIC. The host's addresses are written into the filters and refreshed whenever vms makes, starts or
 * deletes a network or starts a VM (one `nwfilter-define` when they changed, which libvirt applies to
 * every running VM at once). An address that appears in between (a VPN coming up while VMs run) is not
 * covered until then.
 */

export const HOST_FILTER_CHAIN = 'ipv4-vmshost';
export const HOST_FILTER_PRIORITY = -680;

/** Named for this layout of chains (the VM's rules first, then this guard): a vms that ordered them differently used other names. */
export function hostFilterName(offline: boolean): string {
  return offline ? 'vms-guard-offline' : 'vms-guard-online';
}

/** A stable UUID per filter name: libvirt redefines a filter only under its UUID, so two engines define the same one. */
export function hostFilterUuid(name: string): string {
  const h = createHash('sha256').update(`vms-nwfilter:${name}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** What a VM must not send to unless an exception above allows it: IPv4 multicast and the limited broadcast. */
const NEVER_TO: ReadonlyArray<{ address: string; prefix: number }> = [
  { address: '224.0.0.0', prefix: 4 },
  { address: '255.255.255.255', prefix: 32 },
];

const out = (action: 'return' | 'drop', priority: number, ip: Record<string, string | undefined>) =>
  el('rule', { action, direction: 'out', priority: String(priority) }, el('ip', ip));

/**
 * One host filter (pure). `hostAddresses`: every IPv4 address of the host and every broadcast address of
 * its subnets (`hostAddressesOf`), own bridge addresses included: the exceptions come first.
 */
export function buildHostFilterTree(offline: boolean, hostAddresses: readonly string[]): XmlElement {
  const name = hostFilterName(offline);
  const dhcp = { protocol: 'udp', srcportstart: '68', dstportstart: '67' };
  return el('filter', { name, chain: HOST_FILTER_CHAIN, priority: String(HOST_FILTER_PRIORITY) },
    el('uuid', {}, hostFilterUuid(name)),
    out('return', 10, { dstipaddr: '$DHCPSERVER', ...dhcp }),
    out('return', 11, { dstipaddr: '255.255.255.255', ...dhcp }),
    !offline && out('return', 12, { dstipaddr: '$DHCPSERVER', protocol: 'udp', dstportstart: '53' }),
    !offline && out('return', 13, { dstipaddr: '$DHCPSERVER', protocol: 'tcp', dstportstart: '53' }),
    ...[...new Set(hostAddresses)].sort().map((address) => out('drop', 100, { dstipaddr: address, dstipmask: '32' })),
    ...NEVER_TO.map(({ address, prefix }) => out('drop', 100, { dstipaddr: address, dstipmask: String(prefix) })),
    // libvirt's chains end in `accept` under ebtables-nft (firewall.ts): say what should happen.
    el('rule', { action: 'return', direction: 'out', priority: '1000' }));
}

/**
 * The addresses to guard, from `ip -j -4 addr show` (pure): each address and its subnet's broadcast;
 * loopback is left out (the kernel drops it from a bridge anyway).
 */
export function hostAddressesOf(ipAddrJson: string): string[] {
  const links = JSON.parse(ipAddrJson || '[]') as Array<{ addr_info?: Array<{ family?: string; local?: string; broadcast?: string }> }>;
  const found = links.flatMap((link) => (link.addr_info ?? [])
    .filter((info) => (info.family ?? 'inet') === 'inet')
    .flatMap((info) => [info.local, info.broadcast]))
    .filter((a): a is string => typeof a === 'string' && !a.startsWith('127.'));
  return [...new Set(found)].sort();
}

/**
 * A filter's rules and references in a comparable form (pure): what we would define against what libvirt
 * has (its dumpxml spells the same filter differently), so an unchanged filter is not redefined; a
 * redefinition is applied to every running VM using it and takes seconds under load.
 */
export function filterContentKey(xml: string | XmlElement): string {
  const filter = typeof xml === 'string' ? parseXml(xml) : xml;
  const attrs = (e: XmlElement) => Object.entries(e.attrs).sort(([a], [b]) => a.localeCompare(b));
  return JSON.stringify([filter.attrs.name, filter.attrs.chain, filter.attrs.priority ?? '',
    ...childElements(filter).filter((e) => e.name !== 'uuid').map((e) => [e.name, attrs(e), ...childElements(e).map((c) => [c.name, attrs(c)])])]);
}
