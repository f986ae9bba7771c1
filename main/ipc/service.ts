import { cpus, totalmem } from 'node:os';
import { isVmsError, VmsError } from '../engine/errors.js';
import type { Engine } from '../engine/index.js';
import { builderStep } from '../engine/template-build.js';
import type { VmInfo } from '../engine/types.js';
import { openConsole, openViewer } from '../engine/viewer.js';
import type { Settings } from '../settings/schema.js';
import { disposableTemplate } from '../tray/menu-model.js';
import { settingsSchema } from '../settings/schema.js';
import { AskDialogs } from './ask-dialogs.js';
import type { BuildTemplateRequest, CloneRequest, CreateRequest, ImportTemplateRequest, Operation, OperationKind, SessionView, SettingsView, VmActionName } from './channels.js';

/**
 * What the tray and the IPC handlers do, on trusted, already checked arguments: engine calls, each
 * tracked as an Operation (busy flags for the tray, progress for the window, a notification at the end).
 * No Electron here: the edge passes callbacks in.
 */

/** The part of the Engine the app uses (a test can pass a fake). */
export type EngineLike = Pick<Engine, 'config' | 'list' | 'find' | 'info' | 'create' | 'clone' | 'start' | 'stop' | 'kill' | 'restart' | 'delete'
  | 'disposable' | 'watchDisposable' | 'fillDisposablePool' | 'importTemplate' | 'buildTemplate' | 'usbList' | 'usbAttach' | 'usbDetach'
  | 'clipboardCopy' | 'clipboardPaste' | 'clipboardClear'>;

/** Where settings live: electron-store in the app, a plain object in tests. */
export interface SettingsAccess {
  get(): Settings;
  /** Sets the given keys; `undefined` removes a key (back to its default). */
  set(patch: Partial<Settings>): void;
}

export interface ServiceDeps {
  /** The engine for the current settings (the app makes a new one when they change). */
  engine: () => EngineLike;
  settings: SettingsAccess;
  /** Every change of an operation (to send to the windows). */
  onOperation?: (operation: Operation) => void;
  /** An operation that took a while finished or failed (for a desktop notification). */
  onOperationEnd?: (operation: Operation) => void;
  /** After settings were saved (the app rebuilds its engine, autostart entry and hotkey). */
  onSettingsChanged?: (settings: Settings) => void | Promise<void>;
  /** Opens the desktop's file chooser for a disk image. */
  pickImage?: () => Promise<string | undefined>;
  /** Opens one of the app's windows. */
  openWindow?: (view: string, vm?: string) => void | Promise<void>;
  /** Environment for virt-viewer and the terminal (DISPLAY, …). */
  spawnEnv?: () => NodeJS.ProcessEnv;
  /** The desktop the app runs in (for the settings page's login-start and hotkey advice). */
  session?: () => SessionView;
  /** Operations shorter than this end without a notification; default 5 s. */
  notifyAfterMs?: number;
  /** Shows the ask dialog for a question of an `ask` policy line; `hideAsk` closes it. */
  showAsk?: (id: string) => void;
  hideAsk?: () => void;
  /** How long a question waits for an answer before it is denied; default 60 s. */
  askTimeoutMs?: number;
}

function oneLine(error: unknown): string {
  if (isVmsError(error)) return error.message;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] || 'Something went wrong.';
}

export class VmsService {
  private nextId = 1;
  private readonly operations = new Map<number, Operation>();
  /** The questions of `ask` policy lines: the tray's rpcd asks here (its `ask` option). */
  readonly asks: AskDialogs;

  constructor(private readonly deps: ServiceDeps) {
    this.asks = new AskDialogs({
      labelColors: () => this.engine.config.labelColors,
      show: (id) => deps.showAsk?.(id),
      hide: () => deps.hideAsk?.(),
      timeoutMs: deps.askTimeoutMs,
    });
  }

  get engine(): EngineLike { return this.deps.engine(); }

  /** Recent operations, newest last (finished ones are kept for a while, for the window). */
  listOperations(): Operation[] {
    return [...this.operations.values()];
  }

  /** The VMs with an operation under way, and what it is: `{ mail: 'cloning' }` (for the tray). */
  busy(): Record<string, string> {
    const busy: Record<string, string> = {};
    for (const op of this.operations.values()) if (op.state === 'running') busy[op.vm] = op.verb;
    return busy;
  }

  /** Runs `work` as a tracked operation; rethrows its error as a one-line VmsError. */
  async track<T>(kind: OperationKind, vm: string, verb: string, title: string, work: (progress: (percent: number | undefined, step?: string) => void) => Promise<T>, result?: (value: T) => string): Promise<T> {
    const op: Operation = { id: this.nextId++, kind, vm, verb, title, state: 'running', startedAt: Date.now() };
    this.operations.set(op.id, op);
    this.prune();
    this.emit(op);
    let lastSent = 0;
    /** A percentage (for a bar) and/or the step under way (shown under it). */
    const progress = (percent: number | undefined, step?: string) => {
      if (percent !== undefined) op.percent = Math.max(0, Math.min(100, Math.round(percent * 10) / 10));
      if (step !== undefined) op.message = step;
      // At most ~20 updates a second reach the windows; steps and the end always do.
      if (Date.now() - lastSent >= 50 || op.percent === 100 || step !== undefined) {
        lastSent = Date.now();
        this.emit(op);
      }
    };
    try {
      const value = await work(progress);
      Object.assign(op, { state: 'done', endedAt: Date.now(), message: result?.(value) ?? `${title}: done.` });
      return value;
    } catch (error) {
      Object.assign(op, { state: 'failed', endedAt: Date.now(), message: oneLine(error) });
      throw isVmsError(error) ? error : new VmsError(oneLine(error), { cause: error });
    } finally {
      this.emit(op);
      if (op.endedAt! - op.startedAt >= (this.deps.notifyAfterMs ?? 5000) || op.state === 'failed') this.deps.onOperationEnd?.({ ...op });
    }
  }

  private emit(op: Operation): void {
    this.deps.onOperation?.({ ...op });
  }

  /** Keeps the 20 most recent finished operations. */
  private prune(): void {
    const finished = [...this.operations.values()].filter((op) => op.state !== 'running');
    for (const op of finished.slice(0, Math.max(0, finished.length - 20))) this.operations.delete(op.id);
  }

  async listVms(): Promise<VmInfo[]> {
    return (await this.engine.list()).filter((vm) => !vm.meta.preloaded);
  }

  async listTemplates(): Promise<VmInfo[]> {
    return (await this.engine.list()).filter((vm) => vm.meta.kind === 'template');
  }

  /** null when no VM has that name (the rules are checked by the caller). */
  async nameTaken(name: string): Promise<string | null> {
    return (await this.engine.find(name)) ? `A VM named "${name}" already exists: choose another name.` : null;
  }

  createVm(request: CreateRequest): Promise<VmInfo> {
    return this.track('create', request.name, 'creating', `Creating "${request.name}"`, () => this.engine.create(request.name, {
      template: request.template,
      label: request.label,
      memoryMiB: request.memoryMiB,
      vcpus: request.vcpus,
      diskSize: request.diskSize,
      standalone: request.standalone,
    }), (vm) => `Created ${vm.meta.kind} "${vm.name}" in ${vm.meta.label}.`);
  }

  cloneVm(request: CloneRequest): Promise<VmInfo> {
    const how = request.full ? 'full copy' : 'linked';
    return this.track('clone', request.name, 'cloning', `Cloning "${request.source}" to "${request.name}" (${how})`,
      (progress) => this.engine.clone(request.source, request.name, { full: request.full, onProgress: request.full ? progress : undefined }),
      (vm) => `Cloned "${request.source}" to "${vm.name}" (${how}).`);
  }

  /** Starts a disposable, opens its viewer, and reaps it when it shuts down. */
  async newDisposable(template?: string, options: { openViewer?: boolean } = {}): Promise<VmInfo> {
    // Choosing the template is part of the tracked operation: the hotkey, a second launch and the tray
    // menu fire and forget, so a failure here (libvirt down, no template) must end in a notification.
    const { vm, from } = await this.track('disposable', 'new disposable', 'starting', template ? `Starting a disposable from "${template}"` : 'Starting a disposable', async () => {
      const chosen = template ?? this.defaultDisposableTemplate(await this.engine.list());
      if (!chosen) throw new VmsError('There is no template to start a disposable from: build or import one, or choose a default template in Settings.');
      return { vm: await this.engine.disposable({ template: chosen }), from: chosen };
    }, (made) => `Started disposable "${made.vm.name}" from ${made.from}.`);
    void this.engine.watchDisposable(vm.name).catch(() => { /* the next repair reaps it */ });
    this.refillPool(from);
    if (options.openViewer !== false) await this.openViewer(vm.name).catch(() => { /* shown by the caller's refresh */ });
    return vm;
  }

  /** Boots a replacement for the pool of preloaded disposables in the background (when the pool is on). */
  refillPool(template: string): void {
    if (this.engine.config.disposablePoolSize > 0) void this.engine.fillDisposablePool(template).catch(() => { /* the next fill retries */ });
  }

  /** The default template if it exists, else the only template there is. */
  defaultDisposableTemplate(vms: readonly VmInfo[]): string | undefined {
    return disposableTemplate(vms, this.deps.settings.get().defaultTemplate ?? this.engine.config.defaultTemplate);
  }

  async vmAction(action: VmActionName, name: string | undefined, template?: string): Promise<VmInfo | null> {
    const engine = this.engine;
    switch (action) {
      case 'disposable':
        return this.newDisposable(template);
      case 'start':
        return this.track('action', name!, 'starting', `Starting "${name}"`, () => engine.start(name!), () => `Started "${name}".`);
      case 'stop':
        await this.track('action', name!, 'shutting down', `Shutting down "${name}"`, () => engine.stop(name!), () => `"${name}" is shut down.`);
        return engine.find(name!).then((vm) => vm ?? null);
      case 'kill':
        await this.track('action', name!, 'forcing off', `Forcing "${name}" off`, () => engine.kill(name!), () => `"${name}" is off.`);
        return engine.find(name!).then((vm) => vm ?? null);
      case 'restart':
        return this.track('action', name!, 'restarting', `Restarting "${name}"`, () => engine.restart(name!), () => `Restarted "${name}".`);
      case 'delete':
        await this.track('action', name!, 'deleting', `Deleting "${name}"`, () => engine.delete(name!), () => `Deleted "${name}".`);
        return null;
    }
  }

  /** Hands a host USB device to a running VM (the tray's Devices submenu). */
  async usbAttach(vm: string, device: string): Promise<void> {
    await this.track('action', vm, 'attaching a device', `Attaching ${device} to "${vm}"`, () => this.engine.usbAttach(vm, device),
      (use) => `${use.name} is in "${vm}".`);
  }

  /** Takes a host USB device back from a VM. */
  async usbDetach(vm: string, device: string): Promise<void> {
    await this.track('action', vm, 'detaching a device', `Detaching ${device} from "${vm}"`, () => this.engine.usbDetach(vm, device),
      () => `Detached ${device} from "${vm}".`);
  }

  /** Opens virt-viewer (as `vms view` does); returns its window title, arguments and pid. */
  async openViewer(name: string): Promise<{ title: string; args: string[]; pid: number | undefined }> {
    const { title, args, child } = await openViewer(this.engine, name, { env: this.deps.spawnEnv?.() });
    return { title, args, pid: child.pid };
  }

  async openConsole(name: string): Promise<void> {
    await openConsole(this.engine, name, { env: this.deps.spawnEnv?.() });
  }

  /** The controlled clipboard, as `vms clipboard copy|paste NAME`; a copy nobody pastes is cleared after its time. */
  async clipboard(action: 'copy' | 'paste', name: string, ask?: (question: { source: string; target: string; rule: string }) => Promise<boolean>): Promise<void> {
    const engine = this.engine;
    const env = this.deps.spawnEnv?.() ?? process.env;
    if (action === 'paste') {
      await engine.clipboardPaste({ vm: name, env, ask });
      return;
    }
    const entry = await engine.clipboardCopy({ vm: name, env });
    setTimeout(() => { void engine.clipboardClear({ id: entry.id, env }).catch(() => undefined); }, entry.expiresAt - Date.now()).unref();
  }

  importTemplate(request: ImportTemplateRequest): Promise<VmInfo> {
    return this.track('template', request.name, 'importing', `Importing the template "${request.name}"`,
      () => this.engine.importTemplate(request.name, request.image), (vm) => `Imported the template "${vm.name}".`);
  }

  /** Builds an Arch template as `vms template build` does (the engine's one path), becoming root through polkit. */
  buildTemplate(request: BuildTemplateRequest): Promise<VmInfo> {
    return this.track('template', request.name, 'building', `Building the template "${request.name}"`, (progress) => this.engine.buildTemplate(request.name, {
      profile: request.profile,
      elevate: 'pkexec',
      // The builder's steps are shown under the bar.
      onLine: (line) => {
        const step = builderStep(line);
        if (step) progress(undefined, step);
      },
    }), (vm) => `Built and imported the template "${vm.name}".`);
  }

  async chooseImage(): Promise<string | null> {
    return (await this.deps.pickImage?.()) ?? null;
  }

  async openWindow(view: string, vm?: string): Promise<void> {
    await this.deps.openWindow?.(view, vm);
  }

  getSettings(): SettingsView {
    const stored = this.deps.settings.get();
    const config = this.engine.config;
    return {
      stored,
      effective: {
        uri: config.uri,
        imagesDir: config.imagesDir,
        accel: config.accel,
        defaultTemplate: config.defaultTemplate,
        defaultLabel: config.defaultLabel,
        defaultMemoryMiB: config.defaultMemoryMiB,
        defaultVcpus: config.defaultVcpus,
        defaultDiskSize: config.defaultDiskSize,
        labelColors: config.labelColors,
        hotkey: stored.hotkey ?? settingsSchema.hotkey.default,
        autostart: stored.autostart ?? settingsSchema.autostart.default,
      },
      host: { cpus: cpus().length, memoryMiB: Math.floor(totalmem() / 2 ** 20) },
      ...(this.deps.session ? { session: this.deps.session() } : {}),
    };
  }

  async setSettings(patch: Partial<Settings>): Promise<SettingsView> {
    this.deps.settings.set(patch);
    await this.deps.onSettingsChanged?.(this.deps.settings.get());
    return this.getSettings();
  }
}
