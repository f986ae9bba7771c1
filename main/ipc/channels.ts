import type { VmInfo } from '../engine/types.js';
import type { Settings } from '../settings/schema.js';
import type { EngineConfig } from '../engine/config.js';
import type { TemplateProfile } from '../engine/template-build.js';

/**
 * The IPC contract between the main process and the preload (electron/fiddle style): one channel per
 * action, shared by main/app/ipc-main.ts, preload/preload.ts and the renderer's types. No imports with
 * side effects: the preload bundle and the renderer bundle include this file.
 */

/** Request → response channels (`ipcRenderer.invoke` / `ipcMain.handle`), one per `window.vms` method. */
export const INVOKE_CHANNELS = {
  validateName: 'vms:validate-name',
  listVms: 'vms:list-vms',
  listTemplates: 'vms:list-templates',
  createVm: 'vms:create-vm',
  cloneVm: 'vms:clone-vm',
  vmAction: 'vms:vm-action',
  openViewer: 'vms:open-viewer',
  importTemplate: 'vms:import-template',
  buildTemplate: 'vms:build-template',
  chooseImage: 'vms:choose-image',
  listOperations: 'vms:list-operations',
  getSettings: 'vms:get-settings',
  setSettings: 'vms:set-settings',
  openWindow: 'vms:open-window',
  getQuestion: 'vms:get-question',
  answerQuestion: 'vms:answer-question',
} as const;

export type InvokeMethod = keyof typeof INVOKE_CHANNELS;
export const INVOKE_METHODS = Object.keys(INVOKE_CHANNELS) as InvokeMethod[];

/** Main → renderer notifications (`webContents.send` / `ipcRenderer.on`). */
export const EVENT_CHANNELS = {
  /** An operation started, moved on, finished or failed: the Operation. */
  operation: 'vms:event:operation',
  /** libvirt reported a lifecycle change: re-read the list. */
  vmsChanged: 'vms:event:vms-changed',
} as const;

/** What every invoke channel answers: errors travel as the engine's one-line message. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: string };

export interface CreateRequest {
  name: string;
  template: string;
  /** The domain (work, personal, …). */
  label: string;
  memoryMiB: number;
  vcpus: number;
  /** Private disk size, such as `10G`. */
  diskSize: string;
  standalone: boolean;
}

export interface CloneRequest {
  source: string;
  name: string;
  /** An independent copy (with progress) instead of a linked clone. */
  full: boolean;
}

export type VmActionName = 'start' | 'stop' | 'kill' | 'restart' | 'delete' | 'disposable';
export const VM_ACTIONS: readonly VmActionName[] = ['start', 'stop', 'kill', 'restart', 'delete', 'disposable'];

export interface VmActionRequest {
  action: VmActionName;
  /** The VM; not for `disposable`, which makes a new one. */
  name?: string;
  /** For `disposable`: the template (default: the default template). */
  template?: string;
}

export interface ImportTemplateRequest {
  name: string;
  /** Absolute path of a qcow2 or raw disk image. */
  image: string;
}

export interface BuildTemplateRequest {
  name: string;
  profile: TemplateProfile;
}

/** The windows the renderer may ask for. */
export type WindowView = 'main' | 'create' | 'clone' | 'templates' | 'settings';
export const WINDOW_VIEWS: readonly WindowView[] = ['main', 'create', 'clone', 'templates', 'settings'];
/** Every window of the app: those, and the ask dialog, which only the main process opens. */
export type AppWindow = WindowView | 'ask';

/** One side of a call the ask dialog shows. */
export interface AskParty {
  name: string;
  /** Its domain (label), when known. */
  label?: string;
  /** The domain's color, #rrggbb. */
  color: string;
}

/** A call an `ask` policy line holds until the user answers (main/ipc/ask-dialogs.ts). */
export interface AskView {
  id: string;
  service: string;
  source: AskParty & { label: string };
  /** A VM, or a new disposable (`disposable`: its name says of which template). */
  target: AskParty & { disposable: boolean };
  /** The policy line that asks, FILE:LINE. */
  rule: string;
  /** When it is denied by itself (ms since the epoch). */
  deadline: number;
}

export interface AnswerRequest {
  id: string;
  allow: boolean;
}

export interface OpenWindowRequest {
  view: WindowView;
  /** For `clone`: the source VM; for `create`: the template. */
  vm?: string;
}

export type OperationKind = 'create' | 'clone' | 'action' | 'disposable' | 'template';

/** A long (or not so long) operation, shown with its progress in the main window. */
export interface Operation {
  id: number;
  kind: OperationKind;
  /** The VM it concerns (the new one, for create and clone). */
  vm: string;
  /** `Cloning "a" to "b"`. */
  title: string;
  /** What the tray shows next to the VM meanwhile: `cloning`. */
  verb: string;
  state: 'running' | 'done' | 'failed';
  /** 0–100 when the operation reports progress. */
  percent?: number;
  /** The result, or the engine's one-line error. */
  message?: string;
  startedAt: number;
  endedAt?: number;
}

/** What the settings window and the dialogs' defaults need. */
export interface SettingsView {
  /** What is stored (the shared settings file). */
  stored: Settings;
  /** What the engine uses, defaults filled in. */
  effective: Pick<EngineConfig, 'uri' | 'imagesDir' | 'accel' | 'defaultTemplate' | 'defaultLabel' | 'defaultMemoryMiB' | 'defaultVcpus' | 'defaultDiskSize' | 'labelColors'> & {
    hotkey: string;
    autostart: boolean;
  };
  host: { cpus: number; memoryMiB: number };
  /** The desktop the app runs in, for the login-start and hotkey advice. */
  session?: SessionView;
}

/** A line to add to a window manager's configuration file. */
export interface ConfigLineView {
  file: string;
  line: string;
}

export interface SessionView {
  /** hyprland, sway, i3, gnome, kde or other. */
  desktop: string;
  /** XDG autostart (the checkbox writes the file) or a line for the window manager's configuration. */
  loginStart: { kind: 'xdg'; path: string } | ({ kind: 'wm' } & ConfigLineView);
  /** The window manager's own "New disposable" binding, where it has one. */
  disposableBinding?: ConfigLineView;
  /** Electron's global shortcuts go through the desktop portal here and may never fire. */
  wayland: boolean;
}

/** The API the preload puts on `window.vms`: one named method per action, nothing generic. */
export interface VmsApi {
  /** The engine's problem with a new VM's name (rules, or already taken), or null when it is fine. */
  validateName(name: string): Promise<string | null>;
  listVms(): Promise<VmInfo[]>;
  listTemplates(): Promise<VmInfo[]>;
  createVm(request: CreateRequest): Promise<VmInfo>;
  cloneVm(request: CloneRequest): Promise<VmInfo>;
  vmAction(request: VmActionRequest): Promise<VmInfo | null>;
  openViewer(name: string): Promise<void>;
  importTemplate(request: ImportTemplateRequest): Promise<VmInfo>;
  buildTemplate(request: BuildTemplateRequest): Promise<VmInfo>;
  /** Asks for a disk image with the desktop's file chooser; null when cancelled. */
  chooseImage(): Promise<string | null>;
  listOperations(): Promise<Operation[]>;
  getSettings(): Promise<SettingsView>;
  setSettings(patch: Partial<Record<keyof Settings, unknown>>): Promise<SettingsView>;
  openWindow(request: OpenWindowRequest): Promise<void>;
  /** The question the ask dialog shows; null once it was answered or timed out. */
  getQuestion(id: string): Promise<AskView | null>;
  /** Allow once, or deny; only the question's own dialog may answer it. */
  answerQuestion(request: AnswerRequest): Promise<void>;
  onOperation(listener: (operation: Operation) => void): void;
  onVmsChanged(listener: () => void): void;
}

declare global {
  interface Window {
    vms: VmsApi;
  }
}
