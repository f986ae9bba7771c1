import { lookup } from 'node:dns/promises';
import type { EngineContext } from '../context.js';
import { VmsError } from '../errors.js';
import { getVm } from '../inventory.js';
import { defineDomain, domainStatus, dumpXml, setDomainMetadata } from '../libvirt/domains.js';
import { interfaceElement, type NetworkSpec } from '../xml/domain-build.js';
import { editDomainXml, setNetwork } from '../xml/domain-edit.js';
import { readDomain } from '../xml/domain-read.js';
import { child, childElements, find, parseXml, serializeXml, type XmlElement } from '../xml/tree.js';
import {
  buildRootFilterTree, buildRulesFilterTree, filterName, firewallElement, FIREWALL_METADATA_NS, FIREWALL_METADATA_PREFIX,
  parseDestination, readFirewall, rulesFilterName, type FirewallRule, type ResolvedRule,
} from './firewall.js';
import { ensureLabelNetwork } from './label-networks.js';
import { readNetworkXml, type LabelNetwork } from './network-xml.js';
import {
  applyNetworkChanges, defineFilters, filterUuidOf, filterXmls, listNetworkNames, readNetworkDefinitions, readNetworkHosts, undefineFilter,
  type DhcpHostUpdate, type NetworkHostsState,
} from '../libvirt/networks.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { filterContentKey } from './host-filter.js';
import { dhcpHostXml, freshMac, planReservation, readDhcpHosts, removalChanges, type DhcpHost, type DhcpHostChange } from './dhcp-hosts.js';

/**
 * A VM on its label's network: the NIC joins `vms-<label>` through the VM's own filter (clean-traffic plus
 * its firewall rules), and the SPICE clipboard follows the label's policy. Applied when a VM is created, at
 * every start (so a VM whose label, firewall or label policy changed, or that was made before isolation
 * existed, is brought in line), and to every disposable.
 */

/** Label networks are system networks; a `qemu:///session` VM keeps QEMU's user-mode network. */
export function networksAvailable(ctx: EngineContext): boolean {
  return !/\/session\b/.test(ctx.libvirt.uri);
}

/**
 * The NIC for a VM on a label network (pure): its MAC, and its filter with the VM's fixed address (`IP`:
 * clean-traffic lets nothing else out, and libvirt learns nothing by snooping) and the network's DHCP
 * server (`DHCPSERVER`, which the VM may always reach for its lease).
 */
export function vmNetworkSpec(net: Pick<LabelNetwork, 'name' | 'gateway'>, vmName: string, host: Pick<DhcpHost, 'mac' | 'ip'>): NetworkSpec {
  return {
    type: 'network',
    network: net.name,
    mac: host.mac,
    filter: { name: filterName(vmName), parameters: { IP: host.ip, DHCPSERVER: net.gateway } },
  };
}

/** What a VM's first NIC says about its place on a network (pure): the network, its MAC and its fixed address. */
export function nicAddressOf(domainXml: string): { network?: string; mac?: string; ip?: string } {
  const devices = find(parseXml(domainXml), 'devices');
  const nic = devices ? childElements(devices, 'interface')[0] : undefined;
  if (!nic) return {};
  const filter = child(nic, 'filterref');
  return {
    network: nic.attrs.type === 'network' ? child(nic, 'source')?.attrs.network : undefined,
    mac: child(nic, 'mac')?.attrs.address?.toLowerCase(),
    ip: filter ? childElements(filter, 'parameter').find((p) => p.attrs.name === 'IP')?.attrs.value : undefined,
  };
}

/** Resolves host names in rules. A `deny` that does not resolve is an error (it would fail open); an `allow` matches nothing. */
export async function resolveRules(rules: readonly FirewallRule[]): Promise<ResolvedRule[]> {
  return Promise.all(rules.map(async (rule): Promise<ResolvedRule> => {
    if (!rule.dst) return { rule };
    const dst = parseDestination(rule.dst);
    if (dst.kind === 'cidr') return { rule, destinations: [dst.cidr] };
    try {
      const found = await lookup(dst.name, { all: true, family: 4 });
      return { rule, destinations: found.map((a) => parseDestination(a.address)).flatMap((d) => (d.kind === 'cidr' ? [d.cidr] : [])) };
    } catch (error) {
      if (rule.action === 'allow') return { rule, destinations: [] };
      throw new VmsError(`The firewall rule "deny dst=${rule.dst}" cannot be applied: "${dst.name}" does not resolve; fix the name or use an address.`, { cause: error });
    }
  }));
}

/**
 * The filters to (re)define for a VM (pure): its rules filter always (its rules' host names resolve anew),
 * and its root filter when it differs from what the VM's network needs (a new VM, a changed label or
 * subnet). A redefined filter applies to the running VM at once.
 */
function vmFilterDefinitions(vmName: string, rules: readonly ResolvedRule[], current: ReadonlyArray<string | undefined>, net?: Pick<LabelNetwork, 'subnet' | 'policy'>): string[] {
  const [rulesXml, rootXml] = current;
  const definitions = [serializeXml(buildRulesFilterTree(vmName, rules, filterUuidOf(rulesXml)))];
  if (!net) return definitions;
  const root = buildRootFilterTree(vmName, { subnet: net.subnet, offline: net.policy.offline }, filterUuidOf(rootXml));
  if (!rootXml || filterContentKey(rootXml) !== filterContentKey(root)) definitions.push(serializeXml(root));
  return definitions;
}

const vmFilterNames = (vmName: string) => [rulesFilterName(vmName), filterName(vmName)];

/** (Re)defines the VM's rules filter (`vms firewall`), in one round trip after reading it. */
export async function applyVmFilters(ctx: EngineContext, vmName: string, rules: readonly ResolvedRule[]): Promise<void> {
  await defineFilters(ctx.libvirt, vmFilterDefinitions(vmName, rules, await filterXmls(ctx.libvirt, vmFilterNames(vmName))));
}

/** Removes a VM's filters once its domain is gone. */
export async function removeVmFilters(ctx: EngineContext, vmName: string): Promise<void> {
  if (!networksAvailable(ctx)) return;
  await undefineFilter(ctx.libvirt, filterName(vmName));
  await undefineFilter(ctx.libvirt, rulesFilterName(vmName));
}

const toUpdate = (network: string) => (change: DhcpHostChange): DhcpHostUpdate => ({
  network, command: change.command, hostXml: dhcpHostXml(change.host), live: change.live, config: change.config,
});

/** libvirt refused a DHCP host change because another command changed the network first. */
const lostRace = (error: unknown) => isLibvirtError(error, 'exists') || isLibvirtError(error, 'not-found');

const RESERVE_ATTEMPTS = 8;

/**
 * Gives the VM its fixed address on the network (and defines `filters` in the same round trip): the
 * plan from dhcp-hosts.ts, written with `net-update`. Another command that took the address (or MAC) in
 * between makes libvirt refuse, and the choice is made again on a fresh look at the network. `mac`
 * undefined: the VM is new and gets a MAC no host of the network has.
 */
async function reserveAddress(ctx: EngineContext, vmName: string, net: LabelNetwork, nic: { mac?: string; ip?: string }, first: NetworkHostsState, filters: string[]): Promise<DhcpHost> {
  const lv = ctx.libvirt;
  let state = first;
  let mac = nic.mac;
  for (let attempt = 1; ; attempt++) {
    const live = state.liveXml ? readDhcpHosts(state.liveXml) : undefined;
    const config = state.configXml ? readDhcpHosts(state.configXml) : net.hosts;
    const others = [...(live ?? []), ...config].filter((h) => h.name !== vmName);
    if (!nic.mac && (!mac || others.some((h) => h.mac === mac))) mac = freshMac(others.map((h) => h.mac));
    const plan = planReservation({ name: vmName, mac: mac!, preferredIp: nic.ip, range: net.dhcpRange, live, config, leases: state.leases });
    if (!plan) throw new VmsError(`The "${net.label}" network has no free address left for "${vmName}": delete VMs of that domain you no longer need (or run \`vms check --fix\` for stale ones), then try again.`);
    const results = await applyNetworkChanges(lv, { filters: attempt === 1 ? filters : [], dhcpHosts: plan.changes.map(toUpdate(net.name)) });
    const filterFailure = results.filters.find(Boolean);
    if (filterFailure) throw filterFailure;
    const failed = results.dhcpHosts.filter((e): e is VmsError => e !== undefined);
    if (failed.length === 0) return plan.host;
    if (!failed.every(lostRace) || attempt >= RESERVE_ATTEMPTS) throw failed[0];
    state = await readNetworkHosts(lv, net.name);
  }
}

/**
 * Removes the VM's fixed address from label networks (all of them by default, or those named): every
 * DHCP host named after it, in the running network and its definition. Once its domain is gone, or when
 * it moved to another label's network.
 */
export async function releaseVmAddress(ctx: EngineContext, vmName: string, networks?: string[]): Promise<void> {
  if (!networksAvailable(ctx)) return;
  await removeDhcpHosts(ctx, networks, (_network, host) => host.name === vmName);
}

/** Removes the DHCP hosts `remove` picks from vms's label networks (of `networks`, or all); one round trip to read, one to change. */
export async function removeDhcpHosts(ctx: EngineContext, networks: string[] | undefined, remove: (network: string, host: DhcpHost) => boolean): Promise<void> {
  const lv = ctx.libvirt;
  const definitions = await readNetworkDefinitions(lv, networks ?? (await listNetworkNames(lv)));
  const updates = definitions.flatMap((d) => (d.configXml && readNetworkXml(d.configXml)
    ? removalChanges(d.liveXml ? readDhcpHosts(d.liveXml) : undefined, readDhcpHosts(d.configXml), (host) => remove(d.name, host)).map(toUpdate(d.name))
    : []));
  const failed = (await applyNetworkChanges(lv, { dhcpHosts: updates })).dhcpHosts.find((e) => e && !lostRace(e));
  if (failed) throw failed;
}

/** What goes with a VM's domain on the network side: its filters and its fixed address. */
export async function removeVmNetworking(ctx: EngineContext, vmName: string): Promise<void> {
  await releaseVmAddress(ctx, vmName);
  await removeVmFilters(ctx, vmName);
}

export interface VmNetworkPlan {
  network: NetworkSpec;
  clipboard: boolean;
  label: LabelNetwork;
}

/**
 * Makes sure the label's network, the host filters and the VM's filters exist, gives the VM its fixed
 * address there, and says how the VM's NIC and clipboard must look. `nic`: what the VM's NIC has now
 * (its MAC and address are kept where they can be); a new VM gets a new MAC. Undefined where label
 * networks are not available (session URIs).
 */
export async function prepareVmNetwork(ctx: EngineContext, vmName: string, label: string, rules: readonly FirewallRule[] = [], nic: { mac?: string; ip?: string } = {}): Promise<VmNetworkPlan | undefined> {
  if (!networksAvailable(ctx)) return undefined;
  const resolved = await resolveRules(rules);
  const net = await ensureLabelNetwork(ctx, label);
  // One round trip reads the VM's filters with the network's hosts and leases; one writes both.
  const state = await readNetworkHosts(ctx.libvirt, net.name, vmFilterNames(vmName));
  const host = await reserveAddress(ctx, vmName, net, nic, state, vmFilterDefinitions(vmName, resolved, state.filters, net));
  return { network: vmNetworkSpec(net, vmName, host), clipboard: net.policy.clipboard, label: net };
}

function sameInterface(current: XmlElement | undefined, wanted: XmlElement | undefined): boolean {
  if (!current || !wanted) return current === wanted;
  const params = (e: XmlElement) => JSON.stringify(childElements(child(e, 'filterref') ?? { name: '', attrs: {}, children: [] }, 'parameter')
    .map((p) => [p.attrs.name, p.attrs.value]).sort());
  return current.attrs.type === wanted.attrs.type
    && (!child(wanted, 'mac') || child(current, 'mac')?.attrs.address?.toLowerCase() === child(wanted, 'mac')?.attrs.address?.toLowerCase())
    && child(current, 'source')?.attrs.network === child(wanted, 'source')?.attrs.network
    && child(current, 'filterref')?.attrs.filter === child(wanted, 'filterref')?.attrs.filter
    && params(current) === params(wanted);
}

/** True when the VM's first NIC is already the one the plan wants (pure). */
export function hasNetwork(domainXml: string, network: NetworkSpec): boolean {
  const devices = find(parseXml(domainXml), 'devices');
  return sameInterface(devices ? childElements(devices, 'interface')[0] : undefined, interfaceElement(network));
}

/**
 * Before a persistent VM starts: its label's network and its filters are made ready, its fixed address
 * there is made sure of (kept if it can be), and its definition is rewritten when its NIC does not match
 * (its label changed, its network was remade on another subnet, it was cloned, or it was made before
 * label networks or fixed addresses). A VM that moved to another label's network leaves its address in
 * the old one. The clipboard is left alone here: the label's policy is applied when a VM is made and when
 * the policy changes, so `vms clipboard NAME` can override it.
 */
export async function joinLabelNetwork(ctx: EngineContext, vmName: string): Promise<void> {
  if (!networksAvailable(ctx)) return;
  const xml = await dumpXml(ctx.libvirt, vmName, { inactive: true });
  const vm = readDomain(xml);
  if (!vm) return;
  const nic = nicAddressOf(xml);
  const plan = await prepareVmNetwork(ctx, vmName, vm.meta.label, readFirewall(child(parseXml(xml), 'metadata')), nic);
  if (!plan || plan.network.type !== 'network') return;
  if (nic.network && nic.network !== plan.network.network) await releaseVmAddress(ctx, vmName, [nic.network]);
  if (!hasNetwork(xml, plan.network)) await defineDomain(ctx.libvirt, editDomainXml(xml, setNetwork(plan.network)));
}

// ---- the firewall of one VM ----------------------------------------------------------------------

/** The VM's rules, from its current definition (live for a running or transient VM). */
export async function readVmFirewall(ctx: EngineContext, vmName: string): Promise<FirewallRule[]> {
  await getVm(ctx, vmName);
  const xml = await dumpXml(ctx.libvirt, vmName);
  return readFirewall(child(parseXml(xml), 'metadata'));
}

/**
 * Replaces the VM's rules: checked and resolved first (nothing is written when that fails), then stored
 * in its metadata (live and in its definition) and applied to its filter, which takes effect on a running
 * VM without a restart.
 */
export async function writeVmFirewall(ctx: EngineContext, vmName: string, rules: readonly FirewallRule[]): Promise<void> {
  await getVm(ctx, vmName);
  const resolved = await resolveRules(rules);
  const status = await domainStatus(ctx.libvirt, vmName);
  if (!status) throw new VmsError(`There is no VM named "${vmName}": see \`vms list\`.`);
  const running = status.state !== 'shut off' && status.state !== 'crashed';
  const element = serializeXml(firewallElement(rules, { prefix: '', namespace: false }));
  await setDomainMetadata(ctx.libvirt, vmName, FIREWALL_METADATA_NS, FIREWALL_METADATA_PREFIX, element, { live: running, config: status.persistent });
  if (networksAvailable(ctx)) await applyVmFilters(ctx, vmName, resolved);
}
