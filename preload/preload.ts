/**
 * The sandboxed preload: puts `window.vms` into the page, one named method per action, each sending only
 * its own arguments on its own channel. Nothing generic (no `invoke(channel, …)`) and no Electron objects
 * reach the page. Bundled as CommonJS (scripts/bundle.mjs): a sandboxed preload may only require 'electron'.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { EVENT_CHANNELS, INVOKE_CHANNELS as C, type Result, type VmsApi } from '../main/ipc/channels.js';

async function call<T>(channel: string, ...args: unknown[]): Promise<T> {
  const result = (await ipcRenderer.invoke(channel, ...args)) as Result<T>;
  if (!result.ok) throw new Error(result.error);
  return result.value;
}

const api: VmsApi = {
  validateName: (name) => call(C.validateName, name),
  listVms: () => call(C.listVms),
  listTemplates: () => call(C.listTemplates),
  createVm: (request) => call(C.createVm, request),
  cloneVm: (request) => call(C.cloneVm, request),
  vmAction: (request) => call(C.vmAction, request),
  openViewer: (name) => call(C.openViewer, name),
  importTemplate: (request) => call(C.importTemplate, request),
  buildTemplate: (request) => call(C.buildTemplate, request),
  chooseImage: () => call(C.chooseImage),
  listOperations: () => call(C.listOperations),
  getSettings: () => call(C.getSettings),
  setSettings: (patch) => call(C.setSettings, patch),
  openWindow: (request) => call(C.openWindow, request),
  getQuestion: (id) => call(C.getQuestion, id),
  answerQuestion: (request) => call(C.answerQuestion, request),
  // The IPC event (and with it the sender) stays here: the page gets the payload only.
  onOperation: (listener) => { ipcRenderer.on(EVENT_CHANNELS.operation, (_event, operation) => listener(operation)); },
  onVmsChanged: (listener) => { ipcRenderer.on(EVENT_CHANNELS.vmsChanged, () => listener()); },
};

contextBridge.exposeInMainWorld('vms', api);
