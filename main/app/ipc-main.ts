import { ipcMain, type IpcMainInvokeEvent } from 'electron';
import { INVOKE_CHANNELS, INVOKE_METHODS } from '../ipc/channels.js';
import type { Handlers, SenderInfo } from '../ipc/handlers.js';

/** What the handlers need to know about who sent a request. */
export function senderInfo(event: IpcMainInvokeEvent): SenderInfo {
  const frame = event.senderFrame;
  return {
    url: frame?.url ?? '',
    webContentsId: event.sender.id,
    isMainFrame: frame !== null && frame.parent === null && frame.frameTreeNodeId === event.sender.mainFrame.frameTreeNodeId,
  };
}

/** Registers every handler on its own channel; the handlers check the sender and the arguments. */
export function registerIpc(handlers: Handlers): void {
  for (const method of INVOKE_METHODS) {
    ipcMain.handle(INVOKE_CHANNELS[method], (event, ...args: unknown[]) => handlers[method](senderInfo(event), ...args));
  }
}
