import type { EngineContext } from './context.js';
import { createDisposable, reapDisposable, type DisposableOptions } from './disposable.js';
import { VmsError } from './errors.js';
import { findVm, getTemplate, listVms } from './inventory.js';
import { isLockHeld, NameBusyError, withNameLock } from './name-lock.js';
import { isLibvirtError } from './libvirt/errors.js';
import { publishedVolume } from './templates.js';
import { destroyDomain, domainStats, domainStatesWithReason, domainStatus, listDomainsWithXml, setDomainMetadata, suspendDomain } from './libvirt/domains.js';
import { volumeInfo } from './libvirt/storage.js';
import { readDomain } from './xml/domain-read.js';
import type { VmInfo, VmMeta } from './types.js';
import { metadataElement, METADATA_NS, METADATA_PREFIX } from './xml/metadata.js';
import { el, serializeXml } from './xml/tree.js';

/**
 * Preloaded disposables, as in Qubes 4.3: per template, `disposablePoolSize` disposables are booted and
 * then paused, so `vms disposable` only has to resume one. They are ordinary disposables (transient
 * domains on an overlay of the template, reaped when they stop) whose metadata says `preloaded`; `vms
 * list` hides them. Taking one clears the flag on the running domain (`virsh metadata --live`: a transient
 * domain has no config to define) and resumes it. A template publish retires the ones built on the version
 * it replaced.
 */

/** A booted disposable waiting in the pool (or booting towards it). Pure. */
export function isPoolMember(vm: VmInfo, template?: string): boolean {
  return vm.meta.kind === 'disposable' && vm.meta.preloaded === true && (template === undefined || vm.meta.template === template);
}

/** The lock a pool filler holds for a template, so two fillers never overshoot the pool. */
function poolLockName(template: string): string {
  return `${template}.pool`;
}

/** True when the disposable's root is not built on the template's published image any more. */
export async function isStale(ctx: EngineContext, vm: VmInfo, template: VmInfo): Promise<boolean> {
  const root = await volumeInfo(ctx.libvirt, ctx.layout.pool, ctx.layout.rootVolume(vm.name));
  return root?.backingPath !== ctx.layout.volumePath(publishedVolume(ctx, template));
}

/** Destroys a pooled disposable and removes its files. */
async function discard(ctx: EngineContext, name: string): Promise<void> {
  try {
    await destroyDomain(ctx.libvirt, name);
  } catch (error) {
    if (await domainStatus(ctx.libvirt, name)) throw error;
  }
  for (let attempt = 0; attempt < 20 && !(await reapDisposable(ctx, name)); attempt++) {
    if (!(await domainStatus(ctx.libvirt, name)) && !(await isLockHeld(ctx.layout.lock(name)))) {
      await reapDisposable(ctx, name);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Retires the preloaded disposables of a template that are built on an older version; returns their names. */
export async function retireStalePreloaded(ctx: EngineContext, templateName: string): Promise<string[]> {
  const template = await findVm(ctx, templateName);
  const members = (await listVms(ctx)).filter((vm) => isPoolMember(vm, templateName));
  const retired: string[] = [];
  for (const vm of members) {
    if (template && template.meta.kind === 'template' && !(await isStale(ctx, vm, template))) continue;
    await discard(ctx, vm.name);
    retired.push(vm.name);
  }
  return retired;
}

/** What `virsh metadata --set` takes: our element without the prefix (libvirt adds it). Pure. */
export function metadataSetXml(meta: VmMeta): string {
  const element = metadataElement(meta);
  const prefix = `${METADATA_PREFIX}:`;
  return serializeXml(el('vm', {}, ...element.children.map((c) => (typeof c === 'string' ? c : { ...c, name: c.name.startsWith(prefix) ? c.name.slice(prefix.length) : c.name }))));
}

/** Changes a running domain's vms metadata in place (no config is touched: it works on transient domains). */
export async function setLiveMetadata(ctx: EngineContext, name: string, meta: VmMeta): Promise<void> {
  await setDomainMetadata(ctx.libvirt, name, METADATA_NS, METADATA_PREFIX, metadataSetXml(meta), { live: true, config: false });
}

/** `paused (user)` → the reason in parentheses, from `virsh domstate --reason`. Pure. */
export function stateReason(text: string): string | undefined {
  return /\(([^)]*)\)\s*$/.exec(text.trim())?.[1];
}

/**
 * The template's preloaded disposables that are ready to hand out: paused by the filler after they booted
 * (`paused (user)`). A domain libvirt is still starting is paused too (`paused (starting up)`): not ready.
 */
export async function readyPreloaded(ctx: EngineContext, templateName: string): Promise<VmInfo[]> {
  return readyAmong(await listWithReasons(ctx), templateName);
}

interface Listing {
  vms: VmInfo[];
  /** `virsh domstate --reason` of every paused domain. */
  reasons: Map<string, string>;
}

/** Every vms VM, and why the paused ones are paused (what the user waits for: few virsh processes). */
async function listWithReasons(ctx: EngineContext): Promise<Listing> {
  const domains = await listDomainsWithXml(ctx.libvirt);
  const vms = domains.flatMap((domain) => {
    const definition = readDomain(domain.xml);
    return definition ? [{ ...definition, state: domain.state, persistent: domain.persistent }] : [];
  });
  const paused = vms.filter((vm) => vm.state === 'paused').map((vm) => vm.name);
  return { vms, reasons: paused.length > 0 ? await domainStatesWithReason(ctx.libvirt, paused) : new Map() };
}

function readyAmong(listing: Listing, templateName: string): VmInfo[] {
  return listing.vms.filter((vm) => isPoolMember(vm, templateName) && vm.state === 'paused' && stateReason(listing.reasons.get(vm.name) ?? '') === 'user')
    .sort((a, b) => (a.meta.created ?? '').localeCompare(b.meta.created ?? ''));
}

/**
 * Clears `preloaded` on the running domain and resumes it, in one virsh process (every virsh start costs a
 * few hundred milliseconds on a busy host, and this is what the user waits for). Undefined when it was
 * taken meanwhile (it runs already, or is gone).
 */
async function resumeAsTaken(ctx: EngineContext, name: string, meta: VmMeta): Promise<true | undefined> {
  const [setMeta, resumed] = await ctx.libvirt.batch([
    ['metadata', name, '--uri', METADATA_NS, '--key', METADATA_PREFIX, '--live', '--set', metadataSetXml(meta)],
    ['resume', name],
  ]);
  for (const error of [setMeta.error, resumed.error]) {
    if (isLibvirtError(error, 'not-found') || isLibvirtError(error, 'active') || isLibvirtError(error, 'inactive')) return undefined;
    if (error) throw new VmsError(`Could not hand out the preloaded disposable "${name}": ${error.message}`, { cause: error });
  }
  return true;
}

/** Whether a request for a disposable can be served from the pool (the pool's are default ones). */
export function poolCanServe(ctx: EngineContext, options: DisposableOptions): boolean {
  if (ctx.config.disposablePoolSize <= 0 || options.paused || options.preloaded) return false;
  if (options.label !== undefined && options.label !== 'disposable') return false;
  if (options.memoryMiB !== undefined && options.memoryMiB !== ctx.config.defaultMemoryMiB) return false;
  return Boolean(options.template ?? ctx.config.defaultTemplate);
}

/**
 * Takes a preloaded disposable of the template, if the pool has one that is ready: clears `preloaded`
 * and resumes it. Undefined when there is none (the caller starts one cold).
 */
export async function takePreloaded(ctx: EngineContext, options: DisposableOptions = {}): Promise<VmInfo | undefined> {
  if (!poolCanServe(ctx, options)) return undefined;
  const templateName = (options.template ?? ctx.config.defaultTemplate)!;
  // One listing serves both the template and its pool: every virsh start is time the user waits.
  const listing = await listWithReasons(ctx);
  const template = listing.vms.find((vm) => vm.name === templateName && vm.meta.kind === 'template');
  if (!template) return undefined;
  const candidates = readyAmong(listing, templateName);
  if (candidates.length === 0) return undefined;
  for (const candidate of candidates) {
    if (await isStale(ctx, candidate, template)) {
      await discard(ctx, candidate.name).catch(() => undefined);
      continue;
    }
    try {
      const taken = await withNameLock(ctx.layout.lock(candidate.name), candidate.name, async () => {
        const meta: VmMeta = { ...candidate.meta, preloaded: undefined, created: new Date().toISOString() };
        // Another command may have taken it between the list and the lock.
        if (!(await resumeAsTaken(ctx, candidate.name, meta))) return undefined;
        return { ...candidate, meta, state: 'running' as const };
      });
      if (taken) return taken;
    } catch (error) {
      // Locked by another command: try the next one.
      if (!(error instanceof NameBusyError)) throw error;
    }
  }
  return undefined;
}

/** Parses `virsh domstats` output into `key=value` pairs. Pure. */
export function parseDomstats(text: string): Record<string, string> {
  const stats: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^\s*([\w.]+)=(.*)$/.exec(line);
    if (match) stats[match[1]] = match[2].trim();
  }
  return stats;
}

/**
 * How busy the guest's vCPUs were between two samples, 0–1 per vCPU: the time they ran plus the time they
 * waited for a host CPU (so a booting guest on a crowded host still counts as busy). Pure.
 */
export function vcpuBusy(before: Record<string, string>, after: Record<string, string>, wallNs: number): number {
  const count = Number(after['vcpu.current'] ?? 1) || 1;
  let used = 0;
  for (let i = 0; i < count; i++) {
    for (const key of [`vcpu.${i}.time`, `vcpu.${i}.delay`]) {
      const delta = Number(after[key] ?? 0) - Number(before[key] ?? 0);
      if (Number.isFinite(delta) && delta > 0) used += delta;
    }
  }
  return wallNs > 0 ? used / wallNs / count : 0;
}

export interface BootWaitOptions {
  timeoutMs?: number;
  /** How long the vCPUs must stay idle in a row. */
  idleMs?: number;
  /** Busy fraction below which a vCPU counts as idle. */
  idleBelow?: number;
  /** The guest may have finished booting already (a filler was killed): do not wait to see it busy. */
  maybeBooted?: boolean;
}

/** True once the guest's kernel runs its balloon driver: it then reports memory statistics. Pure. */
export function guestKernelUp(stats: Record<string, string>): boolean {
  return Number(stats['balloon.last-update'] ?? 0) > 0 || stats['balloon.usable'] !== undefined;
}

/**
 * Waits until a guest has finished booting: its kernel is up (the balloon driver reports statistics, which
 * firmware never does) and its vCPUs then stay nearly idle for `idleMs` (2 s) after having been busy. A
 * guest without a balloon driver is judged by idleness alone, over a longer stretch. Works with or without
 * a guest agent, and on a crowded host (run-queue wait counts as busy).
 */
export async function waitUntilBooted(ctx: EngineContext, name: string, options: BootWaitOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 300_000;
  const idleMs = options.idleMs ?? 2_000;
  const idleBelow = options.idleBelow ?? 0.3;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let previous: { stats: Record<string, string>; at: bigint } | undefined;
  let idleSince: number | undefined;
  let sawBusy = options.maybeBooted ?? false;
  for (;;) {
    const stats = parseDomstats(await domainStats(ctx.libvirt, name, ['--vcpu', '--state', '--balloon']) ?? '');
    if (!stats['state.state']) throw new VmsError(`The disposable "${name}" stopped while it was booting.`);
    const at = process.hrtime.bigint();
    if (previous) {
      const busy = vcpuBusy(previous.stats, stats, Number(at - previous.at));
      // Firmware has idle stretches too: before the kernel reports, idleness only counts after a minute.
      const kernelUp = guestKernelUp(stats) || Date.now() - started > 60_000;
      if (busy >= idleBelow || !kernelUp) {
        if (busy >= idleBelow) sawBusy = true;
        idleSince = undefined;
      } else if (sawBusy) {
        idleSince ??= Date.now();
        if (Date.now() - idleSince >= (guestKernelUp(stats) ? idleMs : idleMs * 3)) return;
      }
    }
    previous = { stats, at };
    if (Date.now() > deadline) throw new VmsError(`The disposable "${name}" did not finish booting within ${Math.round(timeoutMs / 1000)} s.`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export interface FillOptions {
  /** Wait this long first, so a disposable just handed out gets the CPU for its first seconds. */
  delayMs?: number;
  /** Called with each preloaded disposable as soon as its domain exists. */
  onCreated?: (name: string) => void;
  boot?: BootWaitOptions;
}

/** Boots a preloaded disposable to idle and pauses it, under its name lock. */
async function bootAndPause(ctx: EngineContext, name: string, boot?: BootWaitOptions): Promise<void> {
  await withNameLock(ctx.layout.lock(name), name, async () => {
    const status = await domainStatus(ctx.libvirt, name);
    if (!status || status.state !== 'running') return;
    try {
      await waitUntilBooted(ctx, name, boot);
    } catch (error) {
      await destroyDomain(ctx.libvirt, name).catch(() => undefined);
      throw error;
    }
    await suspendDomain(ctx.libvirt, name);
  });
  // A domain that never became ready is reaped now, not by the next command's repair.
  if (!(await domainStatus(ctx.libvirt, name))) await reapDisposable(ctx, name);
}

/**
 * Brings the template's pool up to `disposablePoolSize` booted, paused disposables, retiring stale ones and
 * finishing any a killed filler left booting. Returns the names it added. Takes minutes under TCG: callers
 * run it in the background (`vms disposable` starts a detached `vms __fill-disposable-pool`). A second
 * filler for the same template returns at once.
 */
export async function fillDisposablePool(ctx: EngineContext, templateName?: string, options: FillOptions = {}): Promise<string[]> {
  const size = ctx.config.disposablePoolSize;
  const name = templateName ?? ctx.config.defaultTemplate;
  if (size <= 0 || !name) return [];
  const added: string[] = [];
  try {
    // The lock is held from the start, delay included: whoever cleans up sees (and can stop) this filler.
    await withNameLock(ctx.layout.lock(poolLockName(name)), `${name} (disposable pool)`, async () => {
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      await getTemplate(ctx, name);
      await retireStalePreloaded(ctx, name);
      for (let round = 0; round < size + 4; round++) {
        const members = (await listVms(ctx)).filter((vm) => isPoolMember(vm, name));
        // A filler killed while one was booting left it running: finish its job.
        for (const orphan of members.filter((vm) => vm.state === 'running')) {
          if (!(await isLockHeld(ctx.layout.lock(orphan.name)))) await bootAndPause(ctx, orphan.name, { ...options.boot, maybeBooted: true }).catch(() => undefined);
        }
        if (members.length >= size) return;
        const vm = await createDisposable(ctx, { template: name, preloaded: true });
        options.onCreated?.(vm.name);
        added.push(vm.name);
        await bootAndPause(ctx, vm.name, options.boot);
      }
    });
  } catch (error) {
    if (error instanceof NameBusyError) return added;
    throw error;
  }
  return added;
}
