import { startWithAccel } from './accel.js';
import type { EngineContext } from './context.js';
import { reapDisposable } from './disposable.js';
import { waitForDomainStop } from './domain-wait.js';
import { VmsError } from './errors.js';
import { getTemplate, getVm } from './inventory.js';
import { destroyDomain, resumeDomain, shutdownDomain, startDomain } from './libvirt/domains.js';
import { withNameLock } from './name-lock.js';
import { joinLabelNetwork } from './network/vm-network.js';
import { prepareVmCacheForStart } from './storage/pkg-cache.js';
import { remakeOverlay } from './storage/disks.js';
import { prepareTemplateStart, publishedVolume, publishTemplate } from './templates.js';
import type { VmInfo } from './types.js';

/**
 * Starts a VM. An appvm first gets a fresh root overlay on its template's published version (so a template
 * update reaches it now, and whatever it changed outside /home is gone); a template is marked as updating
 * so that its shutdown publishes a new version.
 */
export async function startVm(ctx: EngineContext, name: string): Promise<VmInfo> {
  const vm = await getVm(ctx, name);
  if (vm.state === 'running') return vm;
  if (vm.state === 'paused') {
    await resumeDomain(ctx.libvirt, name);
    return getVm(ctx, name);
  }
  await withNameLock(ctx.layout.lock(name), name, async () => {
    if (vm.meta.kind === 'appvm') {
      const template = await getTemplate(ctx, vm.meta.template ?? '');
      await remakeOverlay(ctx, ctx.layout.rootVolume(name), publishedVolume(ctx, template));
    }
    if (vm.meta.kind === 'template') await prepareTemplateStart(ctx, vm);
    if (vm.sharedFolders?.length) await prepareVmCacheForStart(ctx, name);
    await joinLabelNetwork(ctx, name);
    await startWithAccel(ctx, name, () => startDomain(ctx.libvirt, name));
  });
  return getVm(ctx, name);
}

/** What happens after a VM stopped: a template publishes its update, a disposable's files go. */
async function afterStop(ctx: EngineContext, vm: VmInfo): Promise<void> {
  if (vm.meta.kind === 'template') await publishTemplate(ctx, vm.name);
  if (vm.meta.kind === 'disposable') await reapDisposable(ctx, vm.name);
}

export interface StopOptions {
  wait?: boolean;
  timeoutMs?: number;
}

/** Asks the guest to shut down (ACPI) and, by default, waits until it has. */
export async function stopVm(ctx: EngineContext, name: string, options: StopOptions = {}): Promise<void> {
  const vm = await getVm(ctx, name);
  if (vm.state === 'shut off') return;
  if (vm.state === 'paused') await resumeDomain(ctx.libvirt, name);
  await shutdownDomain(ctx.libvirt, name);
  if (options.wait === false) return;
  const timeoutMs = options.timeoutMs ?? 90_000;
  if (!(await waitForDomainStop(ctx, name, timeoutMs))) {
    throw new VmsError(`"${name}" did not shut down within ${Math.round(timeoutMs / 1000)} s: force it off with \`vms kill ${name}\`.`);
  }
  await afterStop(ctx, vm);
}

/** Forces a VM off at once, like pulling the plug. */
export async function killVm(ctx: EngineContext, name: string): Promise<void> {
  const vm = await getVm(ctx, name);
  if (vm.state === 'shut off') return;
  await destroyDomain(ctx.libvirt, name);
  await afterStop(ctx, vm);
}

export async function restartVm(ctx: EngineContext, name: string, options: StopOptions = {}): Promise<VmInfo> {
  const vm = await getVm(ctx, name);
  if (vm.meta.kind === 'disposable') throw new VmsError(`"${name}" is a disposable: restarting it would discard it; start a new one with \`vms disposable\`.`);
  await stopVm(ctx, name, options);
  return startVm(ctx, name);
}
