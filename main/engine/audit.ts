import { auditFindings, dhcpHostSubject, problemsOf, type AuditInput, type Finding } from './audit-findings.js';
import type { EngineContext } from './context.js';
import { listDomainsWithXml } from './libvirt/domains.js';
import { listFilters } from './libvirt/networks.js';
import { listPools, listVolumes, refreshPool } from './libvirt/storage.js';
import { namesLocked, removeStaleLocks, staleLockFiles } from './name-lock.js';
import { listLabelNetworks } from './network/label-networks.js';
import { networksAvailable, removeDhcpHosts, removeVmFilters } from './network/vm-network.js';
import { repair } from './repair.js';
import { collectGarbage } from './storage/garbage.js';
import { journalEntries } from './storage/journal.js';
import { pkgLayout, removeOrphanCaches } from './storage/pkg-cache.js';
import { ensureVmsPool } from './storage/pool.js';

/**
 * `vms check`: the whole state audited against libvirt, unlike the cheap repair every command runs. Reads
 * everything once (a handful of virsh processes), judges it with audit-findings.ts, and with `fix` repairs
 * what is safe and audits again, so what it prints last is what is still wrong.
 */

export interface CheckReport {
  /** What the first look found. */
  found: Finding[];
  /** With `fix`: what the second look no longer found. */
  fixed: Finding[];
  /** What is still there (all of `found` without `fix`). */
  remaining: Finding[];
  /** True when nothing but informational findings remain. */
  clean: boolean;
}

async function gatherAuditInput(ctx: EngineContext): Promise<AuditInput> {
  await ensureVmsPool(ctx);
  // Busy names first, as in the garbage collection: a command that finishes in between has defined its
  // domain before it let go of its lock, so its volumes show as needed.
  const busy = await namesLocked(ctx);
  const [pending, disposable, updating, staleLocks] = await Promise.all([
    journalEntries(ctx, 'pending'), journalEntries(ctx, 'disposable'), journalEntries(ctx, 'updating'), staleLockFiles(ctx),
  ]);
  // NVRAM stores and console logs are made by libvirt outside the volume API: a refresh lists them.
  await refreshPool(ctx.libvirt, ctx.layout.pool);
  const withNetworks = networksAvailable(ctx);
  const [domains, volumes, pools, filters, networks] = await Promise.all([
    listDomainsWithXml(ctx.libvirt),
    listVolumes(ctx.libvirt, ctx.layout.pool),
    listPools(ctx.libvirt),
    withNetworks ? listFilters(ctx.libvirt) : Promise.resolve([]),
    withNetworks ? listLabelNetworks(ctx) : Promise.resolve([]),
  ]);
  const cache = pkgLayout(ctx);
  return {
    pool: ctx.layout.pool,
    poolDir: ctx.layout.poolDir,
    volumes,
    domains,
    busy,
    journal: { pending, disposable, updating },
    staleLocks,
    pools,
    filters,
    networks: networks.map((n) => ({ name: n.name, label: n.label, hosts: n.hosts })),
    vmCacheDir: (vm) => cache.vmDir(vm),
  };
}

export async function auditState(ctx: EngineContext): Promise<Finding[]> {
  return auditFindings(await gatherAuditInput(ctx));
}

/** Repairs what is safe to repair without asking: garbage, stale journal entries and locks, orphan caches and filters, stale fixed addresses. */
async function fixFindings(ctx: EngineContext, findings: readonly Finding[]): Promise<void> {
  const of = (kind: Finding['kind']) => findings.filter((f) => f.kind === kind);
  if (of('stale-lock').length + of('stale-journal').length > 0) {
    await removeStaleLocks(ctx);
    await repair(ctx);
  }
  if (of('unused-volume').length > 0) await collectGarbage(ctx);
  const orphanCaches = new Set(of('orphan-cache').map((f) => f.vm!));
  if (orphanCaches.size > 0) {
    // removeOrphanCaches keeps the caches of the names it is given: every cache this audit did not judge orphan.
    const prefix = `${ctx.layout.pool}-pkg-`;
    const keep = (await listPools(ctx.libvirt)).filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length)).filter((vm) => !orphanCaches.has(vm));
    await removeOrphanCaches(ctx, new Set(keep));
  }
  for (const vm of new Set(of('orphan-filter').map((f) => f.vm!))) await removeVmFilters(ctx, vm);
  const staleHosts = new Set(of('stale-dhcp-host').map((f) => f.subject));
  if (staleHosts.size > 0) {
    // Only what this audit judged stale: a host another command added since is not touched.
    await removeDhcpHosts(ctx, undefined, (network, host) => staleHosts.has(dhcpHostSubject(network, host)));
  }
}

export async function checkState(ctx: EngineContext, options: { fix?: boolean } = {}): Promise<CheckReport> {
  const found = await auditState(ctx);
  const fixable = found.filter((f) => f.fixable);
  if (!options.fix || fixable.length === 0) return { found, fixed: [], remaining: found, clean: problemsOf(found).length === 0 };
  await fixFindings(ctx, fixable);
  const remaining = await auditState(ctx);
  const still = new Set(remaining.map((f) => `${f.kind} ${f.subject}`));
  return { found, fixed: found.filter((f) => !still.has(`${f.kind} ${f.subject}`)), remaining, clean: problemsOf(remaining).length === 0 };
}
