import { app } from 'electron';
import { INSTALLED_APP_DIR, INSTALLED_LAUNCHER } from './app-paths.js';
import { HIDDEN_FLAG } from './args.js';
import { desktopEntry, setAutostart } from './desktop-entry.js';
import type { LoginStart } from './desktop-session.js';

/** How this app is started again: the AppImage, the package's launcher, the packaged binary, or `electron <app>` in development. */
export function launchCommand(): string[] {
  if (process.env.APPIMAGE) return [process.env.APPIMAGE];
  if (app.getAppPath() === INSTALLED_APP_DIR) return [INSTALLED_LAUNCHER];
  if (app.isPackaged) return [process.execPath];
  return [process.execPath, app.getAppPath()];
}

/** The command that starts the app in the tray at login. */
export function loginCommand(): string[] {
  return [...launchCommand(), HIDDEN_FLAG];
}

/**
 * Follows the "autostart" setting where the desktop reads XDG autostart entries (writes or removes
 * ~/.config/autostart/vms.desktop); on i3, sway and Hyprland the settings page shows the line to add.
 */
export async function applyAutostart(enabled: boolean, start: LoginStart, icon?: string): Promise<void> {
  if (start.kind !== 'xdg') return;
  await setAutostart(enabled, desktopEntry({ exec: loginCommand(), icon }), start.path);
}
