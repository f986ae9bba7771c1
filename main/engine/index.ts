/**
 * The vms engine: pure Node, no Electron. The CLI and the tray app both sit on this facade.
 */
import { resolveConfig, type EngineConfig } from './config.js';
import { makeContext, type EngineContext } from './context.js';
import { watchLifecycle, type LifecycleEvent, type LifecycleWatch, type WatchOptions } from './events.js';
import { createDisposable, reapDisposable, watchDisposable, type DisposableOptions } from './disposable.js';
import { findVm, getVm, listVms } from './inventory.js';
import { killVm, restartVm, startVm, stopVm, type StopOptions } from './lifecycle.js';
import { repair } from './repair.js';
import { importTemplate } from './templates.js';
import { domainDisplay, ttyConsole } from './tools/virsh.js';
import type { VmInfo } from './types.js';
import { cloneVm, type CloneOptions } from './vm-clone.js';
import { createVm, type CreateOptions } from './vm-create.js';
import { deleteVm } from './vm-delete.js';

export class Engine {
  readonly ctx: EngineContext;

  constructor(config: EngineConfig = resolveConfig()) {
    this.ctx = makeContext(config);
  }

  get config(): EngineConfig { return this.ctx.config; }

  list(): Promise<VmInfo[]> { return listVms(this.ctx); }
  info(name: string): Promise<VmInfo> { return getVm(this.ctx, name); }
  find(name: string): Promise<VmInfo | undefined> { return findVm(this.ctx, name); }
  importTemplate(name: string, image: string, options?: { label?: string }): Promise<VmInfo> { return importTemplate(this.ctx, name, image, options); }
  create(name: string, options: CreateOptions): Promise<VmInfo> { return createVm(this.ctx, name, options); }
  clone(source: string, name: string, options?: CloneOptions): Promise<VmInfo> { return cloneVm(this.ctx, source, name, options); }
  start(name: string): Promise<VmInfo> { return startVm(this.ctx, name); }
  stop(name: string, options?: StopOptions): Promise<void> { return stopVm(this.ctx, name, options); }
  kill(name: string): Promise<void> { return killVm(this.ctx, name); }
  restart(name: string, options?: StopOptions): Promise<VmInfo> { return restartVm(this.ctx, name, options); }
  delete(name: string): Promise<void> { return deleteVm(this.ctx, name); }
  disposable(options?: DisposableOptions): Promise<VmInfo> { return createDisposable(this.ctx, options); }
  watchDisposable(name: string): Promise<void> { return watchDisposable(this.ctx, name); }
  reapDisposable(name: string): Promise<boolean> { return reapDisposable(this.ctx, name); }
  repair() { return repair(this.ctx); }
  displayUri(name: string): Promise<string | undefined> { return domainDisplay(this.ctx.config.uri, name); }
  consolePty(name: string): Promise<string> { return ttyConsole(this.ctx.config.uri, name); }
  /** Follows libvirt's lifecycle events (every domain, not only vms's) until `stop()`. */
  watchLifecycle(onEvent: (event: LifecycleEvent) => void, options?: WatchOptions): LifecycleWatch { return watchLifecycle(this.ctx.config.uri, onEvent, options); }
}

export { VmsError, isVmsError } from './errors.js';
export { resolveConfig, type EngineConfig } from './config.js';
export type { VmInfo, VmKind, VmMeta, VmState } from './types.js';
export { vmNameProblem, labelProblem } from './names.js';
export { parseLifecycleLine, type LifecycleEvent, type LifecycleEventName, type LifecycleWatch } from './events.js';
