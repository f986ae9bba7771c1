import { delimiter } from 'node:path';

/**
 * "Open viewer" and "Console" from the tray and the windows run the same engine code as `vms view`
 * (main/engine/viewer.ts, through VmsService: virt-viewer attached through libvirt); this is only the
 * environment they get.
 */

/** Variables the AppImage runtime sets for the app itself (its mount point, its file, its start folder). */
const APPIMAGE_VARIABLES = ['APPDIR', 'APPIMAGE', 'ARGV0', 'OWD'];

/** Library and data search paths an AppImage may point into its own mount. */
const SEARCH_PATHS = ['LD_LIBRARY_PATH', 'PATH', 'XDG_DATA_DIRS', 'GSETTINGS_SCHEMA_DIR', 'GDK_PIXBUF_MODULE_FILE', 'GIO_MODULE_DIR'];

/**
 * The environment for virt-viewer and the terminal: the app's own, without what was meant for Electron and
 * Chromium or points into the AppImage (the viewer must load the system's GTK and libraries, not the app's).
 * Pure.
 */
export function viewerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const clean = { ...env };
  for (const key of Object.keys(clean)) if (key.startsWith('ELECTRON_') || key === 'CHROME_DESKTOP') delete clean[key];
  const appDir = env.APPDIR;
  for (const key of APPIMAGE_VARIABLES) delete clean[key];
  if (appDir) {
    const inside = (entry: string) => entry === appDir || entry.startsWith(`${appDir}/`);
    for (const key of SEARCH_PATHS) {
      const value = clean[key];
      if (value === undefined) continue;
      const kept = value.split(delimiter).filter((entry) => entry && !inside(entry));
      if (kept.length > 0) clean[key] = kept.join(delimiter);
      else delete clean[key];
    }
  }
  return clean;
}
