import { join } from 'node:path';

/**
 * Where Chromium keeps its profile (caches, local storage, the single-instance lock): not in
 * ~/.config/vms, which holds config.json shared with the CLI, and apart for an installed app and a
 * development checkout, so `npm start` and the installed vms-tray neither share a lock nor a cache. Pure.
 */
export function chromiumProfileDir(appData: string, installed: boolean): string {
  return join(appData, installed ? 'vms-tray' : 'vms-tray-dev');
}

/** Where the Arch package installs the app (packaging/arch/PKGBUILD). */
export const INSTALLED_APP_DIR = '/usr/lib/vms';
/** The package's launcher for the tray app. */
export const INSTALLED_LAUNCHER = '/usr/bin/vms-tray';
