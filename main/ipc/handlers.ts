import { isAbsolute } from 'node:path';
import { isVmsError } from '../engine/errors.js';
import { labelProblem, vmNameProblem } from '../engine/names.js';
import { sizeProblem } from '../engine/units.js';
import { settingsSchema, type Settings } from '../settings/schema.js';
import { settingProblem } from '../settings/settings-file.js';
import { ASK_ID } from './ask-dialogs.js';
import {
  VM_ACTIONS, WINDOW_VIEWS, type AnswerRequest, type BuildTemplateRequest, type CloneRequest, type CreateRequest, type ImportTemplateRequest,
  type InvokeMethod, type OpenWindowRequest, type Result, type VmActionName, type VmActionRequest, type VmsApi,
} from './channels.js';
import type { VmsService } from './service.js';

/**
 * The IPC handlers as plain functions (no Electron): each checks who is asking, then every argument,
 * and only then calls the service (and so the engine). main/app/ipc-main.ts registers them with
 * `ipcMain.handle`, filling SenderInfo from the event.
 */

/** Who sent a request, as the Electron edge reads it from the IPC event. */
export interface SenderInfo {
  /** `event.senderFrame.url`. */
  url: string;
  /** `event.sender.id`. */
  webContentsId: number;
  /** `event.senderFrame === event.sender.mainFrame`: subframes are never trusted. */
  isMainFrame: boolean;
}

export interface TrustPolicy {
  /** The app's page, e.g. `file:///opt/vms/resources/app.asar/dist/renderer/index.html`; query and hash are ignored. */
  pageUrl: string;
  /** The ids of the app's own windows' webContents; when given, only they are trusted. */
  webContentsIds?: () => Iterable<number>;
}

/** A rejected request: the message goes back to the renderer as is. */
class RequestError extends Error {}

const UNTRUSTED = 'This request did not come from a vms window, so it was refused.';

function pagePart(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return undefined;
  }
}

/** True when the request comes from the app's own page, in the main frame of one of its windows. Pure. */
export function isTrustedSender(sender: unknown, policy: TrustPolicy): boolean {
  if (typeof sender !== 'object' || sender === null) return false;
  const { url, webContentsId, isMainFrame } = sender as Partial<SenderInfo>;
  if (typeof url !== 'string' || !Number.isInteger(webContentsId) || isMainFrame !== true) return false;
  const page = pagePart(url);
  if (page === undefined || page !== pagePart(policy.pageUrl)) return false;
  if (policy.webContentsIds && ![...policy.webContentsIds()].includes(webContentsId!)) return false;
  return true;
}

// ---- argument checks: each returns the value with its type, or throws a one-line RequestError ----

function record(value: unknown, what: string, keys: readonly string[], required: readonly string[] = keys): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new RequestError(`The ${what} must be an object.`);
  const object = value as Record<string, unknown>;
  for (const key of Object.keys(object)) {
    if (!keys.includes(key)) throw new RequestError(`The ${what} has an unknown field "${key}".`);
  }
  for (const key of required) {
    if (object[key] === undefined) throw new RequestError(`The ${what} needs "${key}".`);
  }
  return object;
}

export function checkVmName(value: unknown): string {
  const problem = vmNameProblem(value);
  if (problem) throw new RequestError(`${problem}.`);
  return value as string;
}

export function checkLabel(value: unknown): string {
  const problem = labelProblem(value);
  if (problem) throw new RequestError(`${problem}.`);
  return value as string;
}

export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new RequestError(`${what} must be a whole number from ${min} to ${max}.`);
  if (value < min || value > max) throw new RequestError(`${what} must be a whole number from ${min} to ${max} (got ${value}).`);
  return value;
}

export function checkSize(value: unknown, what: string): string {
  const problem = typeof value === 'string' ? sizeProblem(value.slice(0, 20)) : 'it is not a size: use a number and a unit, such as 20G';
  if (problem) throw new RequestError(`The ${what}: ${problem}.`);
  return value as string;
}

function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw new RequestError(`${what} must be true or false.`);
  return value;
}

function checkImagePath(value: unknown): string {
  if (typeof value !== 'string' || !isAbsolute(value) || value.length > 4096 || value.includes('\0')) {
    throw new RequestError('The disk image must be given as a full path, such as /home/me/arch.qcow2.');
  }
  return value;
}

/** Electron accelerators: modifiers and one key, such as `Super+Shift+D`. */
const ACCELERATOR = /^(?:(?:Command|Cmd|Control|Ctrl|CommandOrControl|CmdOrCtrl|Alt|Option|AltGr|Shift|Super|Meta)\+)+(?:[A-Z0-9]|F(?:[1-9]|1\d|2[0-4])|Space|Tab|Enter|Return|Escape|Esc|Insert|Delete|Home|End|PageUp|PageDown|Up|Down|Left|Right)$/i;

export function checkSettingsPatch(value: unknown): Partial<Settings> {
  // Every key of the shared schema, and nothing else.
  const patch = record(value, 'settings', Object.keys(settingsSchema), []);
  const checked: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(patch)) {
    // null puts a setting back to its default.
    if (setting === null) {
      checked[key] = undefined;
      continue;
    }
    const problem = settingProblem(key, setting);
    if (problem) throw new RequestError(`The setting ${problem}.`);
    if (key === 'labelColors') {
      for (const [label, color] of Object.entries(setting as Record<string, unknown>)) {
        checkLabel(label);
        if (typeof color !== 'string' || !/^#[0-9a-fA-F]{6}$/.test(color)) throw new RequestError(`The color for ${label} must be written #rrggbb, such as #2563eb.`);
      }
    }
    if (key === 'hotkey' && setting !== '' && !ACCELERATOR.test(setting as string)) {
      throw new RequestError(`The hotkey "${String(setting).slice(0, 40)}" is not understood: use modifiers and a key, such as Super+Shift+D.`);
    }
    if (key === 'defaultMemoryMiB') checkInteger(setting, 'The default memory (MiB)', 128, 1048576);
    checked[key] = setting;
  }
  return checked as Partial<Settings>;
}

export function checkCreate(value: unknown): CreateRequest {
  const r = record(value, 'new VM', ['name', 'template', 'label', 'memoryMiB', 'vcpus', 'diskSize', 'standalone']);
  return {
    name: checkVmName(r.name),
    template: checkVmName(r.template),
    label: checkLabel(r.label),
    memoryMiB: checkInteger(r.memoryMiB, 'Memory (MiB)', 128, 1048576),
    vcpus: checkInteger(r.vcpus, 'CPUs', 1, 256),
    diskSize: checkSize(r.diskSize, 'disk size'),
    standalone: checkBoolean(r.standalone, 'Standalone'),
  };
}

export function checkClone(value: unknown): CloneRequest {
  const r = record(value, 'clone', ['source', 'name', 'full']);
  return { source: checkVmName(r.source), name: checkVmName(r.name), full: checkBoolean(r.full, 'Full copy') };
}

export function checkVmAction(value: unknown): VmActionRequest & { action: VmActionName } {
  const r = record(value, 'action', ['action', 'name', 'template'], ['action']);
  if (typeof r.action !== 'string' || !(VM_ACTIONS as readonly string[]).includes(r.action)) {
    throw new RequestError(`The action must be one of ${VM_ACTIONS.join(', ')}.`);
  }
  const action = r.action as VmActionName;
  if (action === 'disposable') {
    if (r.name !== undefined) throw new RequestError('A new disposable gets its own name: leave "name" out.');
    return { action, ...(r.template !== undefined ? { template: checkVmName(r.template) } : {}) };
  }
  if (r.template !== undefined) throw new RequestError(`"template" is only for a new disposable, not for ${action}.`);
  return { action, name: checkVmName(r.name) };
}

function checkImport(value: unknown): ImportTemplateRequest {
  const r = record(value, 'template import', ['name', 'image']);
  return { name: checkVmName(r.name), image: checkImagePath(r.image) };
}

function checkBuild(value: unknown): BuildTemplateRequest {
  const r = record(value, 'template build', ['name', 'profile']);
  if (r.profile !== 'minimal' && r.profile !== 'gui') throw new RequestError('The profile must be minimal or gui.');
  return { name: checkVmName(r.name), profile: r.profile };
}

function checkOpenWindow(value: unknown): OpenWindowRequest {
  const r = record(value, 'window', ['view', 'vm'], ['view']);
  if (typeof r.view !== 'string' || !(WINDOW_VIEWS as readonly string[]).includes(r.view)) throw new RequestError(`The window must be one of ${WINDOW_VIEWS.join(', ')}.`);
  return { view: r.view as OpenWindowRequest['view'], ...(r.vm !== undefined ? { vm: checkVmName(r.vm) } : {}) };
}

function checkQuestionId(value: unknown): string {
  if (typeof value !== 'string' || !ASK_ID.test(value)) throw new RequestError('That is not a question of the ask dialog.');
  return value;
}

function checkAnswer(value: unknown): AnswerRequest {
  const r = record(value, 'answer', ['id', 'allow']);
  return { id: checkQuestionId(r.id), allow: checkBoolean(r.allow, 'allow') };
}

/** Only the ask dialog that shows question `id` may read or answer it (not another of the app's pages). Pure. */
function checkAskSender(sender: unknown, id: string): void {
  const url = new URL((sender as SenderInfo).url);
  if (url.searchParams.get('view') !== 'ask' || url.searchParams.get('id') !== id) throw new RequestError('Only the dialog that shows this question may answer it.');
}

function noArguments(args: unknown[]): void {
  if (args.length > 0) throw new RequestError('This request takes no arguments.');
}

function oneArgument(args: unknown[]): unknown {
  if (args.length !== 1) throw new RequestError(`This request takes one argument (got ${args.length}).`);
  return args[0];
}

/** The handlers: one per invoke channel, each `(sender, ...args) => Promise<Result>`. */
export type Handlers = { [M in InvokeMethod]: (sender: unknown, ...args: unknown[]) => Promise<Result<Awaited<ReturnType<VmsApi[M]>>>> };

/**
 * Builds the handlers. The sender is checked first and every argument next; the service (and the engine)
 * is called only when both pass. Failures come back as `{ ok: false, error }` with a one-line message.
 */
export function createHandlers(service: VmsService, trust: TrustPolicy): Handlers {
  const handle = <T>(run: (args: unknown[], sender: SenderInfo) => Promise<T> | T) => async (sender: unknown, ...args: unknown[]): Promise<Result<T>> => {
    if (!isTrustedSender(sender, trust)) return { ok: false, error: UNTRUSTED };
    try {
      return { ok: true, value: await run(args, sender as SenderInfo) };
    } catch (error) {
      if (error instanceof RequestError || isVmsError(error)) return { ok: false, error: error.message };
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      return { ok: false, error: `Unexpected error: ${message}` };
    }
  };

  return {
    validateName: handle(async (args) => {
      const name = oneArgument(args);
      const problem = vmNameProblem(name);
      return problem ? `${problem}.` : service.nameTaken(name as string);
    }),
    listVms: handle((args) => { noArguments(args); return service.listVms(); }),
    listTemplates: handle((args) => { noArguments(args); return service.listTemplates(); }),
    createVm: handle((args) => service.createVm(checkCreate(oneArgument(args)))),
    cloneVm: handle((args) => service.cloneVm(checkClone(oneArgument(args)))),
    vmAction: handle((args) => {
      const request = checkVmAction(oneArgument(args));
      return service.vmAction(request.action, request.name, request.template);
    }),
    openViewer: handle(async (args) => { await service.openViewer(checkVmName(oneArgument(args))); }),
    importTemplate: handle((args) => service.importTemplate(checkImport(oneArgument(args)))),
    buildTemplate: handle((args) => service.buildTemplate(checkBuild(oneArgument(args)))),
    chooseImage: handle((args) => { noArguments(args); return service.chooseImage(); }),
    listOperations: handle((args) => { noArguments(args); return service.listOperations(); }),
    getSettings: handle((args) => { noArguments(args); return service.getSettings(); }),
    setSettings: handle((args) => service.setSettings(checkSettingsPatch(oneArgument(args)))),
    openWindow: handle((args) => {
      const request = checkOpenWindow(oneArgument(args));
      return service.openWindow(request.view, request.vm);
    }),
    getQuestion: handle((args, sender) => {
      const id = checkQuestionId(oneArgument(args));
      checkAskSender(sender, id);
      return service.asks.view(id) ?? null;
    }),
    answerQuestion: handle((args, sender) => {
      const answer = checkAnswer(oneArgument(args));
      checkAskSender(sender, answer.id);
      if (!service.asks.answer(answer.id, answer.allow)) throw new RequestError('This question was answered already, or it timed out and was denied.');
    }),
  };
}
