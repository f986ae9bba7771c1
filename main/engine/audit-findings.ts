import { labelProblem } from './names.js';
import type { DhcpHost } from './network/dhcp-hosts.js';
import { neededVolumes } from './storage/garbage.js';
import { ownerOfVolume, templateVersionOf, templateVersionVolume } from './storage/layout.js';
import type { VmMeta } from './types.js';
import { disksOf } from './xml/domain-read.js';
import { findMetadataElement, readMetadata } from './xml/metadata.js';
import { child, childElements, find, parseXml, textOf } from './xml/tree.js';
import type { VolumeInfo } from './xml/storage-xml.js';

/**
 * `vms check`'s judgement, pure: what it found wrong in the whole state (libvirt's domains, volumes,
 * pools, filters and networks, and the user's journal and locks), one finding per thing, each saying what
 * `--fix` does about it or which decision it needs. The I/O is in audit.ts.
 */

export type FindingKind =
  | 'unused-volume' // a volume nothing needs: the garbage collection removes it
  | 'missing-disk' // a domain's disk volume is gone: delete the VM or restore the volume
  | 'missing-nvram' // a running VM's UEFI variables are gone: libvirt makes fresh ones at its next start
  | 'broken-chain' // a volume is built on a file that is gone
  | 'chain-outside-pool' // a volume is built on a file outside the pool
  | 'chain-into-top' // a volume is built on another VM's writable disk: writes there corrupt it
  | 'writable-template-version' // a published template version can be written
  | 'bad-metadata' // vms's facts in a domain were edited into something vms cannot use
  | 'renamed-domain' // a domain renamed outside vms (its disks carry another name)
  | 'stale-journal' // work a killed command left for repair
  | 'stale-lock' // a lock whose process is gone
  | 'orphan-cache' // a package-cache pool of a VM that is gone
  | 'orphan-filter' // a network filter of a VM that is gone
  | 'stale-dhcp-host' // a fixed address in a label network that no VM's NIC has
  | 'unused-network'; // a label network no VM uses (informational)

export interface Finding {
  kind: FindingKind;
  /** What it is about: a volume, a VM, a pool, a filter, a network or a state file. */
  subject: string;
  /** The VM it belongs to, when there is one (for scoping in tests and the tray). */
  vm?: string;
  /** One line: what is wrong. */
  problem: string;
  /** One line: what `--fix` does, or what the user has to decide. */
  remedy: string;
  /** `--fix` repairs it safely by itself. */
  fixable: boolean;
  /** Informational findings do not make `vms check` fail. */
  informational?: boolean;
}

export interface AuditDomain {
  name: string;
  xml: string;
  state: string;
}

/** Everything the audit looks at, gathered by audit.ts. */
export interface AuditInput {
  pool: string;
  poolDir: string;
  volumes: readonly VolumeInfo[];
  domains: readonly AuditDomain[];
  /** Names whose lock a live process holds: their volumes and journal entries are work under way. */
  busy: ReadonlySet<string>;
  journal: { pending: readonly string[]; disposable: readonly string[]; updating: readonly string[] };
  /** Files in the locks folder whose process is gone. */
  staleLocks: readonly string[];
  /** Every storage pool's name. */
  pools: readonly string[];
  /** Every network filter's name. */
  filters: readonly string[];
  /** vms's label networks, with the VMs' fixed addresses in their definitions. */
  networks: ReadonlyArray<{ name: string; label: string; hosts: readonly DhcpHost[] }>;
  /** The folder of a VM's own package cache (pkg-cache.ts), to see which domain uses a cache pool. */
  vmCacheDir: (vm: string) => string;
}

const VM_FILTER = /^vms-fw-([A-Za-z][A-Za-z0-9_-]*?)(-rules)?$/;

interface DomainFacts {
  name: string;
  state: string;
  /** Pool volumes its disks name (or paths inside the pool). */
  diskVolumes: string[];
  nvramVolume?: string;
  metaPresent: boolean;
  meta?: VmMeta;
  filterRefs: string[];
  networks: string[];
  /** The MAC of each NIC on a network, by network. */
  macs: Array<{ network: string; mac: string }>;
  sharedFolderSources: string[];
}

function volumeInPool(path: string | undefined, poolDir: string): string | undefined {
  return path && path.startsWith(`${poolDir}/`) && !path.slice(poolDir.length + 1).includes('/') ? path.slice(poolDir.length + 1) : undefined;
}

function factsOf(domain: AuditDomain, input: AuditInput): DomainFacts {
  const root = parseXml(domain.xml);
  const devices = child(root, 'devices');
  const interfaces = devices ? childElements(devices, 'interface') : [];
  return {
    name: domain.name,
    state: domain.state,
    diskVolumes: devices ? disksOf(root).filter((d) => d.device === 'disk').flatMap((d) => {
      const name = d.pool === input.pool ? d.volume : volumeInPool(d.path, input.poolDir);
      return name ? [name] : [];
    }) : [],
    nvramVolume: volumeInPool(textOf(find(root, 'os', 'nvram')), input.poolDir),
    metaPresent: findMetadataElement(child(root, 'metadata')) !== undefined,
    meta: readMetadata(child(root, 'metadata')),
    filterRefs: interfaces.flatMap((i) => child(i, 'filterref')?.attrs.filter ?? []),
    networks: interfaces.flatMap((i) => (i.attrs.type === 'network' ? child(i, 'source')?.attrs.network ?? [] : [])),
    macs: interfaces.flatMap((i) => {
      const network = i.attrs.type === 'network' ? child(i, 'source')?.attrs.network : undefined;
      const mac = child(i, 'mac')?.attrs.address;
      return network && mac ? [{ network, mac: mac.toLowerCase() }] : [];
    }),
    sharedFolderSources: devices ? childElements(devices, 'filesystem').flatMap((f) => child(f, 'source')?.attrs.dir ?? []) : [],
  };
}

/** Every finding, in a stable order (by kind as listed in FindingKind, then subject). */
export function auditFindings(input: AuditInput): Finding[] {
  const findings: Finding[] = [];
  const add = (finding: Finding) => findings.push(finding);
  const facts = input.domains.map((d) => factsOf(d, input));
  const byName = new Map(facts.map((f) => [f.name, f]));
  // vms's VMs in this pool: a domain elsewhere (another user's pool, a hand-made VM) is not ours to judge.
  const ours = facts.filter((f) => f.diskVolumes.length > 0 || f.nvramVolume !== undefined);
  const volumeByName = new Map(input.volumes.map((v) => [v.name, v]));
  const volumeByPath = new Map(input.volumes.map((v) => [v.path, v]));

  const needed = neededVolumes(input.volumes, input.domains, input.pool);
  for (const volume of input.volumes) {
    const owner = ownerOfVolume(volume.name);
    if (needed.has(volume.name) || !owner || input.busy.has(owner)) continue;
    add({ kind: 'unused-volume', subject: volume.name, vm: owner, problem: `volume ${volume.name} is used by no VM`, remedy: 'fix: removed by the garbage collection', fixable: true });
  }

  for (const vm of ours) {
    if (input.busy.has(vm.name)) continue;
    for (const disk of vm.diskVolumes) {
      if (volumeByName.has(disk)) continue;
      add({ kind: 'missing-disk', subject: disk, vm: vm.name, problem: `VM ${vm.name} has lost its disk ${disk}`, remedy: `needs a decision: restore the volume ${disk} into pool ${input.pool}, or delete the VM (vms delete ${vm.name} --yes)`, fixable: false });
    }
    const published = vm.meta?.kind === 'template' && vm.meta.imageVersion ? templateVersionVolume(vm.name, vm.meta.imageVersion) : undefined;
    if (published && !volumeByName.has(published)) {
      add({ kind: 'missing-disk', subject: published, vm: vm.name, problem: `template ${vm.name} has lost its published version ${published}`, remedy: `needs a decision: restore the volume ${published} into pool ${input.pool}, or delete the template and what is built on it`, fixable: false });
    }
    // Only a running VM surely has its UEFI variables: the accel recorded in metadata is written before a start that may fail.
    if (vm.nvramVolume && !volumeByName.has(vm.nvramVolume) && vm.state === 'running') {
      add({ kind: 'missing-nvram', subject: vm.nvramVolume, vm: vm.name, problem: `VM ${vm.name} has lost its UEFI variables (${vm.nvramVolume})`, remedy: 'nothing to do: libvirt makes fresh ones at its next start (boot entries start over)', fixable: false, informational: true });
    }
  }

  const topDisks = new Map<string, string>();
  for (const vm of facts) for (const disk of vm.diskVolumes) topDisks.set(disk, vm.name);
  for (const volume of input.volumes) {
    if (!volume.backingPath) continue;
    const below = volumeByPath.get(volume.backingPath);
    const owner = ownerOfVolume(volume.name);
    if (owner && input.busy.has(owner)) continue;
    if (!below && volumeInPool(volume.backingPath, input.poolDir) !== undefined) {
      add({ kind: 'broken-chain', subject: volume.name, vm: owner, problem: `volume ${volume.name} is built on ${volume.backingPath}, which is gone`, remedy: `needs a decision: restore ${volume.backingPath}, or delete what uses ${volume.name}`, fixable: false });
    } else if (!below) {
      add({ kind: 'chain-outside-pool', subject: volume.name, vm: owner, problem: `volume ${volume.name} is built on ${volume.backingPath}, outside the pool ${input.pool}`, remedy: 'needs a decision: vms keeps only what is inside its pool; flatten the volume or delete what uses it', fixable: false });
    } else if (topDisks.has(below.name) && !below.readOnly) {
      add({ kind: 'chain-into-top', subject: volume.name, vm: owner, problem: `volume ${volume.name} is built on ${below.name}, the writable disk of VM ${topDisks.get(below.name)}: its writes corrupt ${volume.name}`, remedy: `needs a decision: delete what uses ${volume.name}, or stop using ${below.name} in ${topDisks.get(below.name)}`, fixable: false });
    }
  }

  for (const volume of input.volumes) {
    const version = templateVersionOf(volume.name);
    if (!version || volume.readOnly) continue;
    add({ kind: 'writable-template-version', subject: volume.name, vm: version.name, problem: `published template version ${volume.name} is writable`, remedy: `needs root: chmod 0444 ${volume.path}`, fixable: false });
  }

  for (const vm of ours) {
    const problem = metadataProblem(vm, byName);
    if (problem) add({ kind: 'bad-metadata', subject: vm.name, vm: vm.name, problem: `VM ${vm.name}: ${problem}`, remedy: `needs a decision: correct the <vms:vm> element (virsh edit ${vm.name}) or delete the VM`, fixable: false });
    const owners = [...new Set(vm.diskVolumes.map(ownerOfVolume).filter((o): o is string => o !== undefined))];
    const other = owners.find((o) => o !== vm.name && !byName.has(o));
    if (other && !vm.diskVolumes.some((d) => ownerOfVolume(d) === vm.name)) {
      add({ kind: 'renamed-domain', subject: vm.name, vm: vm.name, problem: `domain ${vm.name} was renamed outside vms: its disks belong to "${other}"`, remedy: `needs a decision: rename it back (virsh domrename ${vm.name} ${other}), or clone it under the new name (vms clone ${vm.name} NEW)`, fixable: false });
    }
  }

  const domainNames = new Set(facts.map((f) => f.name));
  const stale = (name: string, kind: 'pending' | 'disposable' | 'updating', what: string) =>
    add({ kind: 'stale-journal', subject: `${kind}/${name}`, vm: name, problem: `${what}`, remedy: 'fix: finished by repair', fixable: true });
  for (const name of input.journal.pending) {
    if (!input.busy.has(name)) stale(name, 'pending', `the making of ${name} was interrupted${domainNames.has(name) ? ' after its domain was defined' : ''}`);
  }
  for (const name of input.journal.disposable) {
    if (!input.busy.has(name) && !domainNames.has(name)) stale(name, 'disposable', `disposable ${name} is gone but its files were not reaped`);
  }
  for (const name of input.journal.updating) {
    if (input.busy.has(name)) continue;
    const state = byName.get(name)?.state;
    if (state === undefined) stale(name, 'updating', `template ${name} is gone but is still marked as updating`);
    else if (state === 'shut off') stale(name, 'updating', `template ${name} shut down but its update was not published`);
  }
  for (const file of input.staleLocks) {
    add({ kind: 'stale-lock', subject: `locks/${file}`, vm: file.split('.')[0], problem: `lock ${file} was left by a process that is gone`, remedy: 'fix: removed', fixable: true });
  }

  const cachePrefix = `${input.pool}-pkg-`;
  const cacheSources = new Set(facts.flatMap((f) => f.sharedFolderSources));
  for (const pool of input.pools) {
    if (!pool.startsWith(cachePrefix)) continue;
    const vm = pool.slice(cachePrefix.length);
    if (vm === 'shared' || domainNames.has(vm) || input.busy.has(vm) || cacheSources.has(input.vmCacheDir(vm))) continue;
    add({ kind: 'orphan-cache', subject: pool, vm, problem: `package cache pool ${pool} belongs to no VM`, remedy: 'fix: removed with its files', fixable: true });
  }

  const filterRefs = new Set(facts.flatMap((f) => f.filterRefs));
  for (const filter of input.filters) {
    const match = VM_FILTER.exec(filter);
    if (!match) continue;
    const vm = match[1];
    // A rules filter is referenced by its VM's root filter, never by a domain.
    const root = `vms-fw-${vm}`;
    if (domainNames.has(vm) || input.busy.has(vm) || filterRefs.has(root)) continue;
    add({ kind: 'orphan-filter', subject: filter, vm, problem: `network filter ${filter} belongs to no VM`, remedy: 'fix: removed', fixable: true });
  }

  // A fixed address is a VM's while a NIC on that network has its MAC (a VM renamed behind vms's back
  // keeps it; its next start files it under the new name); a name under way may not have its domain yet.
  const nics = new Set(facts.flatMap((f) => f.macs.map((m) => `${m.network} ${m.mac}`)));
  for (const network of input.networks) {
    for (const host of network.hosts) {
      if (nics.has(`${network.name} ${host.mac.toLowerCase()}`) || (host.name !== undefined && input.busy.has(host.name))) continue;
      add({
        kind: 'stale-dhcp-host', subject: dhcpHostSubject(network.name, host), vm: host.name,
        problem: `network ${network.name} keeps the address ${host.ip} for ${host.name ? `VM ${host.name}` : 'no VM'} (${host.mac}), which no VM's network card has`,
        remedy: 'fix: removed', fixable: true,
      });
    }
  }

  const usedNetworks = new Set(facts.flatMap((f) => f.networks));
  for (const network of input.networks) {
    if (usedNetworks.has(network.name)) continue;
    add({ kind: 'unused-network', subject: network.name, problem: `network ${network.name} (domain ${network.label}) is used by no VM`, remedy: `nothing to do; remove it with vms network delete ${network.label} if it is not wanted`, fixable: false, informational: true });
  }
  return findings;
}

/** What is wrong with a VM's vms metadata, or undefined. */
function metadataProblem(vm: DomainFacts, domains: ReadonlyMap<string, DomainFacts>): string | undefined {
  if (!vm.metaPresent) return undefined; // not made by vms, or a bare domain using the pool: vms leaves it alone
  if (!vm.meta) return 'its vms metadata has no valid kind (template, appvm, standalone, disposable)';
  const label = labelProblem(vm.meta.label);
  if (label) return `its domain label "${vm.meta.label}" is not valid`;
  if (vm.meta.kind === 'template' && !vm.meta.imageVersion) return 'it is a template without a valid published version number';
  if ((vm.meta.kind === 'appvm' || vm.meta.kind === 'disposable') && domains.get(vm.meta.template ?? '')?.meta?.kind !== 'template') {
    return `its template "${vm.meta.template ?? ''}" does not exist`;
  }
  return undefined;
}

/** How a network's fixed address is named in findings: the network, the address and the MAC. */
export function dhcpHostSubject(network: string, host: DhcpHost): string {
  return `${network}/${host.ip}/${host.mac.toLowerCase()}`;
}

/** Findings that make `vms check` fail (all but the informational ones). */
export function problemsOf(findings: readonly Finding[]): Finding[] {
  return findings.filter((f) => !f.informational);
}
