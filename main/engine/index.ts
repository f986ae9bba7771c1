/**
 * The vms engine: pure Node, no Electron. The CLI and the tray app both sit on this facade.
 */
import { resolveConfig, type EngineConfig } from './config.js';
import { makeContext, type EngineContext } from './context.js';
import { watchLifecycle, type LifecycleEvent, type LifecycleWatch, type WatchOptions } from './libvirt/events.js';
import { bridgeConsole, readConsoleLog, type BridgeOptions } from './console.js';
import { createDisposable, reapDisposable, watchDisposable, type DisposableOptions } from './disposable.js';
import { fillDisposablePool, readyPreloaded, takePreloaded, type FillOptions } from './disposable-pool.js';
import { cacheUsage, pruneCaches, removeOrphanCaches, type FolderUsage, type PruneResult } from './storage/pkg-cache.js';
import { setVmClipboard, type ClipboardChange } from './spice.js';
import { clipboardClear, clipboardCopy, clipboardPaste, clipboardStatus, type ClipboardOptions, type PasteResult } from './clipboard/transfer.js';
import type { ClipboardEntry } from './clipboard/buffer.js';
import { attachUsb, detachUsb, hotplug, listUsb, unplug, watchUsbDevices, type HotplugTarget, type UsbDeviceUse } from './usb.js';
import { findVm, getVm, listVms } from './inventory.js';
import { createLabelNetwork, deleteLabelNetwork, listLabelNetworks, setLabelPolicy, type LabelNetworkState } from './network/label-networks.js';
import type { FirewallRule } from './network/firewall.js';
import type { LabelPolicy } from './network/network-xml.js';
import { readVmFirewall, writeVmFirewall } from './network/vm-network.js';
import { killVm, restartVm, startVm, stopVm, type StopOptions } from './lifecycle.js';
import { repair } from './repair.js';
import { checkState, type CheckReport } from './audit.js';
import { importTemplate } from './templates.js';
import { buildTemplate, type TemplateBuildOptions } from './template-build.js';
import type { VmInfo } from './types.js';
import { cloneVm, type CloneOptions } from './vm-clone.js';
import { createVm, type CreateOptions } from './vm-create.js';
import { deleteVm } from './vm-delete.js';
import { applyVmSettings, readPendingChanges, type PendingChange, type VmSettingChanges, type VmSettingsResult } from './vm-settings.js';

export class Engine {
  readonly ctx: EngineContext;

  constructor(config: EngineConfig = resolveConfig()) {
    this.ctx = makeContext(config);
  }

  get config(): EngineConfig { return this.ctx.config; }

  /** Ends the engine's long-lived virsh (an app replacing its engine, or quitting). */
  close(): void { this.ctx.libvirt.close(); }

  list(): Promise<VmInfo[]> { return listVms(this.ctx); }
  info(name: string): Promise<VmInfo> { return getVm(this.ctx, name); }
  find(name: string): Promise<VmInfo | undefined> { return findVm(this.ctx, name); }
  importTemplate(name: string, image: string, options?: { label?: string }): Promise<VmInfo> { return importTemplate(this.ctx, name, image, options); }
  buildTemplate(name: string, options?: TemplateBuildOptions): Promise<VmInfo> { return buildTemplate(this.ctx, name, options); }
  create(name: string, options: CreateOptions): Promise<VmInfo> { return createVm(this.ctx, name, options); }
  clone(source: string, name: string, options?: CloneOptions): Promise<VmInfo> { return cloneVm(this.ctx, source, name, options); }
  start(name: string): Promise<VmInfo> { return startVm(this.ctx, name); }
  stop(name: string, options?: StopOptions): Promise<void> { return stopVm(this.ctx, name, options); }
  kill(name: string): Promise<void> { return killVm(this.ctx, name); }
  restart(name: string, options?: StopOptions): Promise<VmInfo> { return restartVm(this.ctx, name, options); }
  delete(name: string): Promise<void> { return deleteVm(this.ctx, name); }
  /** Changes memory, CPUs, domain label, clipboard, autostart or an appvm's template (see vm-settings.ts). */
  set(name: string, changes: VmSettingChanges): Promise<VmSettingsResult> { return applyVmSettings(this.ctx, name, changes); }
  /** What a running VM gets at its next start. */
  pendingChanges(vm: VmInfo): Promise<PendingChange[]> { return readPendingChanges(this.ctx, vm); }
  /** A disposable: a preloaded one from the pool when there is one ready, else a new one (started cold). */
  async disposable(options: DisposableOptions = {}): Promise<VmInfo> {
    return (await takePreloaded(this.ctx, options)) ?? createDisposable(this.ctx, options);
  }
  /** Tops the template's pool of preloaded disposables up to `disposablePoolSize` (slow: run it in the background). */
  fillDisposablePool(template?: string, options?: FillOptions): Promise<string[]> { return fillDisposablePool(this.ctx, template, options); }
  /** The template's preloaded disposables that are booted, paused and ready to hand out. */
  readyDisposables(template: string): Promise<VmInfo[]> { return readyPreloaded(this.ctx, template); }
  watchDisposable(name: string): Promise<void> { return watchDisposable(this.ctx, name); }
  reapDisposable(name: string): Promise<boolean> { return reapDisposable(this.ctx, name); }
  repair() { return repair(this.ctx); }
  /** The whole state audited against libvirt (`vms check`); `fix` repairs what is safe and audits again. */
  check(options?: { fix?: boolean }): Promise<CheckReport> { return checkState(this.ctx, options); }
  /** Drives a VM's serial console from streams (no terminal needed); Ctrl+] detaches. */
  bridgeConsole(name: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, options?: BridgeOptions): Promise<number> { return bridgeConsole(this.ctx, name, input, output, options); }
  /** The serial console log (every boot appended), or undefined before the first start. */
  consoleLog(name: string): Promise<string | undefined> { return readConsoleLog(this.ctx, name); }
  setClipboard(name: string, enabled: boolean): Promise<ClipboardChange> { return setVmClipboard(this.ctx, name, enabled); }
  /** The controlled clipboard (docs/clipboard.md): the focused (or named) VM's X clipboard into the host's buffer. */
  clipboardCopy(options?: ClipboardOptions): Promise<ClipboardEntry> { return clipboardCopy(this.ctx, options); }
  /** The host's buffer into the focused (or named) VM's X clipboard, by the policy (vms.ClipboardPaste); empties it. */
  clipboardPaste(options?: ClipboardOptions): Promise<PasteResult> { return clipboardPaste(this.ctx, options); }
  clipboardClear(options?: { id?: string; env?: NodeJS.ProcessEnv }): Promise<boolean> { return clipboardClear(this.ctx, options); }
  clipboardStatus(env?: NodeJS.ProcessEnv) { return clipboardStatus(this.ctx, env); }
  /** Sizes of the shared package cache and of each VM's own. */
  async cacheUsage(): Promise<FolderUsage[]> { return cacheUsage(this.ctx, new Set((await this.list()).map((vm) => vm.name))); }
  /** Keeps the newest `keep` versions of each package in every cache, and drops the caches of VMs that are gone. */
  async pruneCache(keep: number, options: { dryRun?: boolean } = {}): Promise<{ pruned: PruneResult[]; orphans: string[] }> {
    const pruned = await pruneCaches(this.ctx, keep, options);
    const orphans = options.dryRun ? [] : await removeOrphanCaches(this.ctx, new Set((await this.list()).map((vm) => vm.name)));
    return { pruned, orphans };
  }
  usbList(): Promise<UsbDeviceUse[]> { return listUsb(this.ctx); }
  usbAttach(vm: string, device: string, options?: { persist?: boolean }): Promise<UsbDeviceUse> { return attachUsb(this.ctx, vm, device, options); }
  usbDetach(vm: string, device: string, options?: { persist?: boolean }): Promise<number> { return detachUsb(this.ctx, vm, device, options); }
  /** Calls back when a USB device is plugged in or out; returns how to stop. */
  watchUsb(onChange: () => void): () => void { return watchUsbDevices(this.ctx.config.sysfsRoot, onChange); }
  /** Hot-plugs any device XML (a hostdev, a USB disk, …) into a VM and/or its config. */
  hotplug(vm: string, deviceXml: string, target: HotplugTarget): Promise<void> { return hotplug(this.ctx, vm, deviceXml, target); }
  unplug(vm: string, deviceXml: string, target: HotplugTarget): Promise<void> { return unplug(this.ctx, vm, deviceXml, target); }
  /** The domain labels' networks, with their policy (offline, isolate-vms, clipboard) and subnet. */
  networks(): Promise<LabelNetworkState[]> { return listLabelNetworks(this.ctx); }
  createNetwork(label: string, policy?: Partial<LabelPolicy>): Promise<LabelNetworkState> { return createLabelNetwork(this.ctx, label, policy); }
  /** Changes a label's policy (makes its network if it has none); offline/isolate-vms are refused while its VMs run. */
  setNetworkPolicy(label: string, changes: Partial<LabelPolicy>): Promise<LabelNetworkState> { return setLabelPolicy(this.ctx, label, changes); }
  deleteNetwork(label: string): Promise<void> { return deleteLabelNetwork(this.ctx, label); }
  /** A VM's outbound firewall rules, in order. */
  firewall(name: string): Promise<FirewallRule[]> { return readVmFirewall(this.ctx, name); }
  /** Replaces a VM's firewall rules; a running VM gets them at once. */
  setFirewall(name: string, rules: readonly FirewallRule[]): Promise<void> { return writeVmFirewall(this.ctx, name, rules); }
  /** Follows libvirt's lifecycle events (every domain, not only vms's) until `stop()`. */
  watchLifecycle(onEvent: (event: LifecycleEvent) => void, options?: WatchOptions): LifecycleWatch { return watchLifecycle(this.ctx.libvirt.uri, onEvent, options); }
}

export { VmsError, isVmsError } from './errors.js';
export { resolveConfig, type EngineConfig } from './config.js';
export type { VmInfo, VmKind, VmMeta, VmState } from './types.js';
export type { CheckReport } from './audit.js';
export type { Finding, FindingKind } from './audit-findings.js';
export { vmNameProblem, labelProblem } from './names.js';
export { parseVmSettings, VM_SETTING_KEYS, type PendingChange, type VmSettingChanges } from './vm-settings.js';
export { defaultPolicy, type LabelPolicy } from './network/network-xml.js';
export type { LabelNetworkState } from './network/label-networks.js';
export { formatRule, parseRuleWords, parsePolicy, type FirewallRule } from './network/firewall.js';
export type { UsbDeviceUse } from './usb.js';
export { parseLifecycleLine, type LifecycleEvent, type LifecycleEventName, type LifecycleWatch } from './libvirt/events.js';
