import { app } from 'electron';
import { HIDDEN_FLAG } from './args.js';
import { autostartPath, desktopEntry, setAutostart } from './desktop-entry.js';

/** How this app is started again at login: the AppImage, the installed binary, or `electron <app>` in development. */
export function launchCommand(): string[] {
  if (process.env.APPIMAGE) return [process.env.APPIMAGE, HIDDEN_FLAG];
  if (app.isPackaged) return [process.execPath, HIDDEN_FLAG];
  return [process.execPath, app.getAppPath(), HIDDEN_FLAG];
}

/** Writes or removes ~/.config/autostart/vms.desktop, following the "autostart" setting. */
export async function applyAutostart(enabled: boolean, icon?: string): Promise<void> {
  await setAutostart(enabled, desktopEntry({ exec: launchCommand(), icon }), autostartPath());
}
