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
import type { LabelNetwork } from './network-xml.js';
import { defineFilter, filterUuidOf, filterXmls, undefineFilter } from '../libvirt/networks.js';
import { filterContentKey } from './host-filter.js';

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

/** The NIC for a VM on a label network (pure): its filter learns the VM's address from DHCP only. */
export function vmNetworkSpec(net: Pick<LabelNetwork, 'name' | 'gateway'>, vmName: string): NetworkSpec {
  return {
    type: 'network',
    network: net.name,
    filter: { name: filterName(vmName), parameters: { CTRL_IP_LEARNING: 'dhcp', DHCPSERVER: net.gateway } },
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
 * (Re)defines the VM's rules filter, and its root filter when it differs from what the VM's network needs
 * (a new VM, a changed label or subnet). A redefined filter applies to the running VM at once.
 */
export async function applyVmFilters(ctx: EngineContext, vmName: string, rules: readonly ResolvedRule[], net?: Pick<LabelNetwork, 'subnet' | 'policy'>): Promise<void> {
  const lv = ctx.libvirt;
  const [rulesXml, rootXml] = await filterXmls(lv, [rulesFilterName(vmName), filterName(vmName)]);
  await defineFilter(lv, serializeXml(buildRulesFilterTree(vmName, rules, filterUuidOf(rulesXml))));
  if (!net) return;
  const root = buildRootFilterTree(vmName, { subnet: net.subnet, offline: net.policy.offline }, filterUuidOf(rootXml));
  if (!rootXml || filterContentKey(rootXml) !== filterContentKey(root)) await defineFilter(lv, serializeXml(root));
}

/** Removes a VM's filters once its domain is gone. */
export async function removeVmFilters(ctx: EngineContext, vmName: string): Promise<void> {
  if (!networksAvailable(ctx)) return;
  await undefineFilter(ctx.libvirt, filterName(vmName));
  await undefineFilter(ctx.libvirt, rulesFilterName(vmName));
}

export interface VmNetworkPlan {
  network: NetworkSpec;
  clipboard: boolean;
  label: LabelNetwork;
}

/**
 * Makes sure the label's network, the host filters and the VM's filters exist, and says how the VM's NIC and
 * clipboard must look. Undefined where label networks are not available (session URIs).
 */
export async function prepareVmNetwork(ctx: EngineContext, vmName: string, label: string, rules: readonly FirewallRule[] = []): Promise<VmNetworkPlan | undefined> {
  if (!networksAvailable(ctx)) return undefined;
  const resolved = await resolveRules(rules);
  const net = await ensureLabelNetwork(ctx, label);
  await applyVmFilters(ctx, vmName, resolved, net);
  return { network: vmNetworkSpec(net, vmName), clipboard: net.policy.clipboard, label: net };
}

function sameInterface(current: XmlElement | undefined, wanted: XmlElement | undefined): boolean {
  if (!current || !wanted) return current === wanted;
  const params = (e: XmlElement) => JSON.stringify(childElements(child(e, 'filterref') ?? { name: '', attrs: {}, children: [] }, 'parameter')
    .map((p) => [p.attrs.name, p.attrs.value]).sort());
  return current.attrs.type === wanted.attrs.type
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
 * Before a persistent VM starts: its label's network and its filters are made ready, and its definition
 * is rewritten when its NIC does not match (its label changed, its network was remade on another subnet,
 * it was cloned, or it was made before label networks). The clipboard is left alone here: the label's
 * policy is applied when a VM is made and when the policy changes, so `vms clipboard NAME` can override it.
 */
export async function joinLabelNetwork(ctx: EngineContext, vmName: string): Promise<void> {
  if (!networksAvailable(ctx)) return;
  const xml = await dumpXml(ctx.libvirt, vmName, { inactive: true });
  const vm = readDomain(xml);
  if (!vm) return;
  const plan = await prepareVmNetwork(ctx, vmName, vm.meta.label, readFirewall(child(parseXml(xml), 'metadata')));
  if (!plan) return;
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
