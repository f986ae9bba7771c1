import { join } from 'node:path';
import type { EngineContext } from '../context.js';
import { VmsError } from '../errors.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { listVms } from '../inventory.js';
import { NameBusyError, withNameLock } from '../name-lock.js';
import { assertLabel } from '../names.js';
import { runTool } from '../tools/run.js';
import { defineDomain, dumpXml } from '../libvirt/domains.js';
import { serializeXml } from '../xml/tree.js';
import { editDomainXml, setClipboard } from '../xml/domain-edit.js';
import { buildHostFilterTree, filterContentKey, hostAddressesOf, hostFilterName } from './host-filter.js';
import { formatCidr, parseCidr, pickSubnet, type Cidr } from './ipv4.js';
import { buildNetworkXml, defaultPolicy, networkName, networkPrefixes, readNetworkXml, type LabelNetwork, type LabelPolicy } from './network-xml.js';
import { defineFilter, defineNetwork, destroyNetwork, filterXmls, listNetworks, startNetwork, undefineFilter, undefineNetwork } from '../libvirt/networks.js';

/**
 * A label's network, on demand: created (with the label's default policy) the first time a VM of the label
 * is created or started, started when inactive, and the host filters brought up to date, every time. Two commands
 * at once do not both create it: creation runs under one lock for all networks (picking a subnet must see
 * the other labels' choices), and the network's UUID is derived from its label, so even a second engine on
 * another images folder defining the same label defines the same network.
 */

export interface LabelNetworkState extends LabelNetwork {
  active: boolean;
}

export async function listLabelNetworks(ctx: EngineContext): Promise<LabelNetworkState[]> {
  const all = await listNetworks(ctx.libvirt);
  return all.flatMap((entry) => {
    const net = readNetworkXml(entry.xml);
    return net && net.name === entry.name ? [{ ...net, active: entry.active }] : [];
  });
}

export async function findLabelNetwork(ctx: EngineContext, label: string): Promise<LabelNetworkState | undefined> {
  return (await listLabelNetworks(ctx)).find((n) => n.label === label);
}

/** Waits (up to `timeoutMs`) for the networks lock instead of failing at once as VM name locks do. */
async function withNetworkLock<T>(ctx: EngineContext, work: () => Promise<T>, timeoutMs = 60_000): Promise<T> {
  const path = join(ctx.layout.locksDir(), 'networks.lock');
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await withNameLock(path, 'the VM networks', work);
    } catch (error) {
      if (!(error instanceof NameBusyError) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 150));
    }
  }
}

/** `ip -j -4 addr show`: the host's IPv4 addresses, as JSON (readable by any user). */
async function ipAddrJson(): Promise<string> {
  return runTool('ip', ['-j', '-4', 'addr', 'show']);
}

/** Every IPv4 prefix on the host: routes in every table and interface addresses. */
export async function hostPrefixes(): Promise<Cidr[]> {
  const [routes, addrs] = await Promise.all([
    runTool('ip', ['-j', '-4', 'route', 'show', 'table', 'all']).catch(() => '[]'),
    ipAddrJson().catch(() => '[]'),
  ]);
  const prefixes: Cidr[] = [];
  for (const route of JSON.parse(routes || '[]') as Array<{ dst?: string }>) {
    const cidr = route.dst && route.dst !== 'default' ? parseCidr(route.dst) : undefined;
    if (cidr) prefixes.push(cidr);
  }
  for (const link of JSON.parse(addrs || '[]') as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>) {
    for (const info of link.addr_info ?? []) {
      const cidr = info.local ? parseCidr(`${info.local}/${info.prefixlen ?? 32}`) : undefined;
      if (cidr) prefixes.push(cidr);
    }
  }
  return prefixes;
}

/**
 * Brings the two host filters (host-filter.ts) up to date with the host's addresses now; a filter whose
 * rules did not change is left alone, since libvirt re-applies a redefined filter to every running VM.
 * Without the host's addresses there is no guard to write, so a failing `ip` is an error here.
 */
async function refreshHostFilters(ctx: EngineContext): Promise<void> {
  const addresses = hostAddressesOf(await ipAddrJson());
  const kinds = [false, true];
  const current = await filterXmls(ctx.libvirt, kinds.map(hostFilterName));
  for (const [i, offline] of kinds.entries()) {
    const wanted = buildHostFilterTree(offline, addresses);
    if (current[i] === undefined || filterContentKey(current[i]!) !== filterContentKey(wanted)) await defineFilter(ctx.libvirt, serializeXml(wanted));
  }
}

/** With the last vms network gone, the host filters go too (best effort: a VM's filter may still name them until it is deleted). */
async function removeHostFiltersWhenUnused(ctx: EngineContext): Promise<void> {
  if ((await listLabelNetworks(ctx)).length > 0) return;
  for (const offline of [false, true]) await undefineFilter(ctx.libvirt, hostFilterName(offline)).catch(() => undefined);
}

async function createNetwork(ctx: EngineContext, label: string, policy: LabelPolicy): Promise<LabelNetworkState> {
  const lv = ctx.libvirt;
  const tried: Cidr[] = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const others = (await listNetworks(lv)).filter((n) => n.name !== networkName(label)).flatMap((n) => networkPrefixes(n.xml));
    const subnet = pickSubnet(label, [...(await hostPrefixes()), ...others, ...tried]);
    if (!subnet) throw new VmsError('No free private /24 is left for a new VM network: delete unused ones (vms network list) and try again.');
    await defineNetwork(lv, buildNetworkXml({ label, subnet, policy }));
    try {
      await startNetwork(lv, networkName(label));
    } catch (error) {
      // libvirt refuses a subnet something on the host took since we looked (another engine, a VPN): pick again.
      if (isLibvirtError(error, 'exists')) {
        await undefineNetwork(lv, networkName(label));
        tried.push(subnet);
        continue;
      }
      await undefineNetwork(lv, networkName(label));
      throw error;
    }
    const created = await findLabelNetwork(ctx, label);
    if (!created) throw new VmsError(`The network for "${label}" vanished right after it was made: try again.`);
    return created;
  }
  throw new VmsError(`Could not find a free subnet for the "${label}" network (tried ${tried.map(formatCidr).join(', ')}): try again.`);
}

/**
 * The label's network, created on first use and started if needed, with the host filters up to date; what a
 * VM's start, creation and every disposable call before the VM's NIC exists. Idempotent.
 */
export async function ensureLabelNetwork(ctx: EngineContext, label: string): Promise<LabelNetworkState> {
  assertLabel(label);
  const all = await listLabelNetworks(ctx);
  const existing = all.find((n) => n.label === label);
  if (existing?.active) {
    await refreshHostFilters(ctx);
    return existing;
  }
  return withNetworkLock(ctx, async () => {
    let net = await findLabelNetwork(ctx, label);
    if (!net) net = await createNetwork(ctx, label, defaultPolicy(label));
    else if (!net.active) {
      await startNetwork(ctx.libvirt, net.name);
      net = { ...net, active: true };
    }
    await refreshHostFilters(ctx);
    return net;
  });
}

/** `vms network create`: a label's network with an explicit policy; an existing one is an error. */
export async function createLabelNetwork(ctx: EngineContext, label: string, changes: Partial<LabelPolicy> = {}): Promise<LabelNetworkState> {
  assertLabel(label);
  return withNetworkLock(ctx, async () => {
    if (await findLabelNetwork(ctx, label)) throw new VmsError(`The "${label}" network exists already: change it with \`vms network set ${label}\`.`);
    const net = await createNetwork(ctx, label, { ...defaultPolicy(label), ...changes });
    await refreshHostFilters(ctx);
    return net;
  });
}

async function runningVmsOn(ctx: EngineContext, net: LabelNetwork): Promise<string[]> {
  return (await listVms(ctx)).filter((vm) => vm.network === net.name && (vm.state === 'running' || vm.state === 'paused' || vm.state === 'in shutdown')).map((vm) => vm.name);
}

/**
 * `vms network set`: changes a label's policy (creating its network when it has none). Offline and
 * isolate-vms change the network itself, which libvirt can only do by restarting it, so they are refused
 * (nothing written) while VMs run on it; the clipboard is read at each VM's start and changes any time.
 */
export async function setLabelPolicy(ctx: EngineContext, label: string, changes: Partial<LabelPolicy>): Promise<LabelNetworkState> {
  assertLabel(label);
  return withNetworkLock(ctx, async () => {
    const net = await findLabelNetwork(ctx, label);
    if (!net) {
      const created = await createNetwork(ctx, label, { ...defaultPolicy(label), ...changes });
      await refreshHostFilters(ctx);
      return created;
    }
    const policy = { ...net.policy, ...changes };
    const restart = policy.offline !== net.policy.offline || policy.isolateVms !== net.policy.isolateVms;
    if (restart && net.active) {
      const running = await runningVmsOn(ctx, net);
      if (running.length > 0) {
        throw new VmsError(`The "${label}" network must restart for that, and ${running.join(', ')} ${running.length === 1 ? 'runs' : 'run'} on it: stop ${running.length === 1 ? 'it' : 'them'} first (vms stop NAME), then try again.`);
      }
    }
    // The VMs' fixed addresses stay: a restart would otherwise drop them from the running network too.
    await defineNetwork(ctx.libvirt, buildNetworkXml({ label, subnet: net.subnet, policy, uuid: net.uuid, hosts: net.hosts }));
    if (restart && net.active) {
      await destroyNetwork(ctx.libvirt, net.name);
      await startNetwork(ctx.libvirt, net.name);
    }
    await refreshHostFilters(ctx);
    if (policy.clipboard !== net.policy.clipboard) await applyClipboardToLabel(ctx, label, policy.clipboard);
    return { ...net, policy };
  });
}

/**
 * A changed clipboard policy reaches every persistent VM of the label (from its next start: QEMU fixes
 * SPICE copy-and-paste when it starts); `vms clipboard NAME on|off` can still override one VM afterwards.
 */
async function applyClipboardToLabel(ctx: EngineContext, label: string, enabled: boolean): Promise<void> {
  for (const vm of await listVms(ctx)) {
    if (vm.meta.label !== label || !vm.persistent || vm.clipboard === enabled) continue;
    const xml = await dumpXml(ctx.libvirt, vm.name, { inactive: true });
    await defineDomain(ctx.libvirt, editDomainXml(xml, setClipboard(enabled)));
  }
}

/** `vms network delete`: refused while any VM (running or not) belongs to the label, since its next start would remake the network. */
export async function deleteLabelNetwork(ctx: EngineContext, label: string): Promise<void> {
  assertLabel(label);
  await withNetworkLock(ctx, async () => {
    const net = await findLabelNetwork(ctx, label);
    if (!net) throw new VmsError(`There is no network for "${label}": see \`vms network list\`.`);
    const members = (await listVms(ctx)).filter((vm) => vm.meta.label === label || vm.network === net.name).map((vm) => vm.name);
    if (members.length > 0) throw new VmsError(`The "${label}" network is used by ${members.join(', ')}: delete ${members.length === 1 ? 'that VM' : 'those VMs'} or move ${members.length === 1 ? 'it' : 'them'} to another domain first.`);
    await destroyNetwork(ctx.libvirt, net.name);
    await undefineNetwork(ctx.libvirt, net.name);
    await removeHostFiltersWhenUnused(ctx);
  });
}
