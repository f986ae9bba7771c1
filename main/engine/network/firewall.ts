import { childElements, el, type XmlElement } from '../xml/tree.js';
import { hostFilterName } from './host-filter.js';
import { formatCidr, formatIpv4, isNetworkAddress, networkAddress, parseCidr, type Cidr } from './ipv4.js';

/**
 * A VM's outbound firewall, like qvm-firewall: an ordered list of rules; the first rule that matches a
 * packet the VM sends decides, and a packet no rule matches is allowed (end the list with a bare `deny`
 * for an allow-list; DHCP to the VM's own bridge always passes). Pure: parsing, validation, the metadata
 * element the rules are kept in, and the libvirt nwfilters they become.
 *
 * One rule per line:
 *
 *     allow|deny [dst=CIDR|ADDRESS|HOSTNAME] [proto=tcp|udp|icmp] [port=N|N-M]
 *
 * `#` starts a comment. qvm-firewall's spellings are accepted too: `accept`/`drop`, `dsthost=`,
 * `dstports=`. A host name is resolved on the host each time the rules are applied (at every start and
 * change): a `deny` whose name does not resolve stops the change or start, an `allow` that does not
 * resolve matches nothing. `port` needs `proto=tcp` or `proto=udp`. Rules match packets, not connections
 * (they run in the bridge's ebtables layer, see buildRulesFilterTree): a bare `deny` also stops the VM's
 * replies to connections other VMs of its domain open to it.
 */

export type FirewallAction = 'allow' | 'deny';
export type FirewallProto = 'tcp' | 'udp' | 'icmp';

export interface FirewallRule {
  action: FirewallAction;
  /** CIDR (`10.0.0.0/8`), address (`192.0.2.7`) or host name; any destination when absent. */
  dst?: string;
  proto?: FirewallProto;
  ports?: { from: number; to: number };
}

/** libvirt's nwfilter priorities run from -1000 to 1000; rules take 1..MAX_RULES. */
export const MAX_RULES = 400;

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

export class FirewallSyntaxError extends Error {}

function fail(message: string): never {
  throw new FirewallSyntaxError(message);
}

/** A destination in a rule: a prefix, or a host name resolved when the rules are applied. */
export type Destination = { kind: 'cidr'; cidr: Cidr } | { kind: 'host'; name: string };

export function parseDestination(text: string): Destination {
  if (/^[\d./]+$/.test(text)) {
    const cidr = parseCidr(text);
    if (!cidr) fail(`"${text}" is not an IPv4 address or prefix: use e.g. 192.0.2.7 or 10.0.0.0/8`);
    if (!isNetworkAddress(cidr)) fail(`"${text}" has host bits set: write the prefix as ${formatCidr({ address: networkAddress(cidr), prefix: cidr.prefix })}`);
    return { kind: 'cidr', cidr };
  }
  if (text.includes(':')) fail(`"${text}" is an IPv6 address: VM networks are IPv4 only (IPv6 is dropped anyway)`);
  if (!HOSTNAME.test(text)) fail(`"${text}" is not an address, a prefix or a host name`);
  return { kind: 'host', name: text.toLowerCase().replace(/\.$/, '') };
}

function parsePorts(text: string): { from: number; to: number } {
  const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!match) fail(`"${text}" is not a port or a range: use e.g. 443 or 8000-8100`);
  const from = Number(match[1]);
  const to = Number(match[2] ?? match[1]);
  if (from < 1 || to > 65535) fail(`ports run from 1 to 65535 (got ${text})`);
  if (from > to) fail(`the range ${text} runs backwards: write ${to}-${from}`);
  return { from, to };
}

const ACTIONS: Record<string, FirewallAction> = { allow: 'allow', accept: 'allow', deny: 'deny', drop: 'deny' };
const KEYS: Record<string, 'dst' | 'proto' | 'port'> = { dst: 'dst', dsthost: 'dst', proto: 'proto', port: 'port', ports: 'port', dstports: 'port' };

/** Parses one rule from its words (`['deny', 'proto=tcp', 'port=22']`). Throws FirewallSyntaxError. */
export function parseRuleWords(words: readonly string[]): FirewallRule {
  if (words.length === 0) fail('a rule needs an action: allow or deny');
  const action = ACTIONS[words[0].toLowerCase()] ?? (/^action=/i.test(words[0]) ? ACTIONS[words[0].slice(7).toLowerCase()] : undefined);
  if (!action) fail(`a rule starts with allow or deny, not "${words[0]}"`);
  const rule: FirewallRule = { action };
  const seen = new Set<string>();
  for (const word of words.slice(1)) {
    const eq = word.indexOf('=');
    const key = eq > 0 ? KEYS[word.slice(0, eq).toLowerCase()] : undefined;
    if (!key) fail(`"${word}" is not understood: use dst=…, proto=… or port=…`);
    if (seen.has(key)) fail(`${key}= is given twice`);
    seen.add(key);
    const value = word.slice(eq + 1);
    if (value === '') fail(`${key}= needs a value`);
    if (key === 'dst') {
      parseDestination(value);
      rule.dst = value.toLowerCase().replace(/\.$/, '');
    } else if (key === 'proto') {
      const proto = value.toLowerCase();
      if (proto !== 'tcp' && proto !== 'udp' && proto !== 'icmp') fail(`proto is tcp, udp or icmp (got "${value}")`);
      rule.proto = proto;
    } else {
      rule.ports = parsePorts(value);
    }
  }
  if (rule.ports && rule.proto !== 'tcp' && rule.proto !== 'udp') fail('port= needs proto=tcp or proto=udp');
  return rule;
}

/** Parses one line; undefined for a blank or comment line. */
export function parseRuleLine(line: string): FirewallRule | undefined {
  const text = line.replace(/#.*$/, '').trim();
  return text === '' ? undefined : parseRuleWords(text.split(/\s+/));
}

/** Parses a policy file; errors name the line. */
export function parsePolicy(text: string): FirewallRule[] {
  const rules: FirewallRule[] = [];
  text.split('\n').forEach((line, index) => {
    try {
      const rule = parseRuleLine(line);
      if (rule) rules.push(rule);
    } catch (error) {
      if (error instanceof FirewallSyntaxError) fail(`line ${index + 1}: ${error.message}`);
      throw error;
    }
  });
  if (rules.length > MAX_RULES) fail(`at most ${MAX_RULES} rules (got ${rules.length})`);
  return rules;
}

export function formatRule(rule: FirewallRule): string {
  const ports = rule.ports && (rule.ports.from === rule.ports.to ? String(rule.ports.from) : `${rule.ports.from}-${rule.ports.to}`);
  return [rule.action, rule.dst && `dst=${rule.dst}`, rule.proto && `proto=${rule.proto}`, ports && `port=${ports}`].filter(Boolean).join(' ');
}

export function formatPolicy(rules: readonly FirewallRule[]): string {
  return rules.map((r) => `${formatRule(r)}\n`).join('');
}

// ---- metadata ----------------------------------------------------------------------------------

/** A second namespaced child of the domain's `<metadata>`, beside `<vms:vm>`; only vms reads it. */
export const FIREWALL_METADATA_NS = 'urn:vms:firewall:1';
export const FIREWALL_METADATA_PREFIX = 'vmsfw';

/** `<vmsfw:firewall><vmsfw:rule action='deny' proto='tcp' port='22'/>…</vmsfw:firewall>`. */
export function firewallElement(rules: readonly FirewallRule[], options: { prefix?: string; namespace?: boolean } = {}): XmlElement {
  const prefix = options.prefix ?? `${FIREWALL_METADATA_PREFIX}:`;
  const ports = (r: FirewallRule) => r.ports && (r.ports.from === r.ports.to ? String(r.ports.from) : `${r.ports.from}-${r.ports.to}`);
  return el(`${prefix}firewall`, options.namespace === false ? {} : { [`xmlns:${FIREWALL_METADATA_PREFIX}`]: FIREWALL_METADATA_NS },
    ...rules.map((r) => el(`${prefix}rule`, { action: r.action, dst: r.dst, proto: r.proto, port: ports(r) })));
}

function localName(name: string): string {
  return name.includes(':') ? name.slice(name.indexOf(':') + 1) : name;
}

export function findFirewallElement(metadata: XmlElement | undefined): XmlElement | undefined {
  if (!metadata) return undefined;
  return childElements(metadata).find((e) => Object.entries(e.attrs).some(([k, v]) => k.startsWith('xmlns') && v === FIREWALL_METADATA_NS));
}

/** The rules kept in a domain's `<metadata>`; none when there is no firewall element. Bad rules are an error. */
export function readFirewall(metadata: XmlElement | undefined): FirewallRule[] {
  const element = findFirewallElement(metadata);
  if (!element) return [];
  return childElements(element).filter((e) => localName(e.name) === 'rule').map((e) => parseRuleWords([
    e.attrs.action ?? '',
    ...(['dst', 'proto', 'port'] as const).filter((k) => e.attrs[k] !== undefined).map((k) => `${k}=${e.attrs[k]}`),
  ]));
}

// ---- nwfilter ------------------------------------------------------------------------------------

/** The per-VM filter every vms NIC points at. */
export function filterName(vmName: string): string {
  return `vms-fw-${vmName}`;
}

/** The filter holding the VM's own rules, referenced from its root filter. */
export function rulesFilterName(vmName: string): string {
  return `vms-fw-${vmName}-rules`;
}

/** The ebtables chain the rules run in: after clean-traffic's anti-spoofing, before the host guard (host-filter.ts). */
export const RULES_CHAIN = 'ipv4-vmsfw';
export const RULES_CHAIN_PRIORITY = -690;

/** A rule with its host names resolved: the prefixes it applies to (`[]` = matches nothing). */
export interface ResolvedRule {
  rule: FirewallRule;
  /** undefined: any destination. */
  destinations?: Cidr[];
}

/** In the root chain: after the MAC anti-spoofing chain (-800), before clean-traffic's ARP chains and accept (-500). */
export const ARP_OUTSIDE_SUBNET_PRIORITY = -600;

/** In the root chain: after the IPv4 chains (-710 to -680), before clean-traffic accepts IPv4 (-650). */
export const DHCP_SERVER_PRIORITY = -660;

/** What the VM's root filter needs of its label's network. */
export interface FilterNetwork {
  subnet: Cidr;
  offline: boolean;
}

/**
 * The VM's root filter (pure): clean-traffic (no MAC, IP or ARP spoofing; only IPv4 and ARP leave the
 * VM), the host guard for its label's kind (host-filter.ts), the VM's rules, and ARP only for its own
 * subnet: the host answers ARP on every bridge for all its addresses, so without this a VM could list the
 * host's LAN address and every other label's bridge address. A drop in the root chain before
 * clean-traffic accepts ARP (-500); it matches a target outside the subnet in requests and replies alike
 * (a VM's own replies and announcements are about addresses in its subnet). And no DHCP server replies
 * (UDP 67 → 68): a VM's lease comes from its network's dnsmasq only, not from a neighbour.
 */
export function buildRootFilterTree(vmName: string, net: FilterNetwork, uuid?: string): XmlElement {
  return el('filter', { name: filterName(vmName), chain: 'root' },
    uuid ? el('uuid', {}, uuid) : undefined,
    el('filterref', { filter: 'clean-traffic' }),
    el('filterref', { filter: hostFilterName(net.offline) }),
    el('filterref', { filter: rulesFilterName(vmName) }),
    el('rule', { action: 'drop', direction: 'out', priority: String(ARP_OUTSIDE_SUBNET_PRIORITY) },
      el('arp', { match: 'no', arpdstipaddr: formatIpv4(networkAddress(net.subnet)), arpdstipmask: String(net.subnet.prefix) })),
    el('rule', { action: 'drop', direction: 'out', priority: String(DHCP_SERVER_PRIORITY) },
      el('ip', { protocol: 'udp', srcportstart: '67', dstportstart: '68' })));
}

/**
 * The VM's rules, in order, as ebtables-layer `<ip>` rules on what the VM sends, in their own chain
 * (jumped to after clean-traffic's anti-spoofing at -710, before the host guard at -680 and
 * clean-traffic's IPv4 accept at -650):
 *   - allow → `return`: the rest of the VM's rules are skipped; the host guard decides next.
 *   - deny  → `drop`.
 *   - no rule matched → `return` too, by a last rule: a chain that libvirt makes through ebtables-nft
 *     ends in `accept` (measured with libvirt 11.3: `nft list table bridge nat`), which would skip the
 *     host guard after it.
 * DHCP to the VM's own bridge address (`$DHCPSERVER`, a parameter of every vms NIC) and to the broadcast
 * address always passes first, so even `deny` alone keeps the VM's lease; DHCP to anywhere else is the
 * VM's rules' business (a bare `deny` stops it).
 *
 * Why not iptables-layer rules (`<tcp>`, `<all>`, which could match connection state and reject)?
 * Measured here: as soon as a VM's filter has one, libvirt adds `libvirt-in-post … -j ACCEPT` for its
 * port at the top of FORWARD, which accepts everything the VM sends before the network's own rules run,
 * and a VM of one label reached a VM of another label.
 */
export function buildRulesFilterTree(vmName: string, rules: readonly ResolvedRule[], uuid?: string): XmlElement {
  const dhcp = ['$DHCPSERVER', '255.255.255.255'].map((dstipaddr) => el('rule', { action: 'return', direction: 'out', priority: '0' },
    el('ip', { dstipaddr, protocol: 'udp', srcportstart: '68', dstportstart: '67' })));
  const ruleElements = rules.flatMap(({ rule, destinations }, index) => {
    const priority = String(index + 1);
    const targets: Array<Cidr | undefined> = destinations === undefined ? [undefined] : destinations;
    return targets.map((cidr) => el('rule', { action: rule.action === 'allow' ? 'return' : 'drop', direction: 'out', priority },
      el('ip', {
        dstipaddr: cidr ? formatCidr(cidr).split('/')[0] : undefined,
        dstipmask: cidr ? String(cidr.prefix) : undefined,
        protocol: rule.proto,
        dstportstart: rule.ports ? String(rule.ports.from) : undefined,
        dstportend: rule.ports ? String(rule.ports.to) : undefined,
      })));
  });
  return el('filter', { name: rulesFilterName(vmName), chain: RULES_CHAIN, priority: String(RULES_CHAIN_PRIORITY) },
    uuid ? el('uuid', {}, uuid) : undefined,
    ...dhcp,
    ...ruleElements,
    el('rule', { action: 'return', direction: 'out', priority: '1000' }));
}
