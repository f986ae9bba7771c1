/**
 * The environment for what the app starts for the user (remote-viewer, a terminal with the console): the
 * user's own, without what belongs to the app's launch. Electron sets NO_AT_BRIDGE=1 for itself (it
 * turns off GTK's accessibility bridge, so remote-viewer would lose screen-reader support), CHROME_DESKTOP
 * and ELECTRON_*; an AppImage adds APPDIR, APPIMAGE, ARGV0, OWD and puts its own folders first on PATH,
 * LD_LIBRARY_PATH and XDG_DATA_DIRS, which would make remote-viewer load the AppImage's libraries. Pure.
 */

/** Variables set for the app itself, never meant for its children. */
const APP_ONLY = new Set(['NO_AT_BRIDGE', 'CHROME_DESKTOP', 'APPDIR', 'APPIMAGE', 'ARGV0', 'OWD', 'GIO_LAUNCHED_DESKTOP_FILE',
  'GIO_LAUNCHED_DESKTOP_FILE_PID', 'BAMF_DESKTOP_FILE_HINT']);
const APP_ONLY_PREFIXES = ['ELECTRON_', 'CHROME_', 'APPIMAGE_'];

export function childEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const appDir = env.APPDIR && env.APPDIR.length > 1 ? env.APPDIR.replace(/\/+$/, '') : undefined;
  const clean: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined || APP_ONLY.has(key) || APP_ONLY_PREFIXES.some((prefix) => key.startsWith(prefix))) continue;
    if (appDir && value.includes(appDir)) {
      // A search path the AppImage extended: keep the user's entries, in order.
      const kept = value.split(':').filter((entry) => entry !== appDir && !entry.startsWith(`${appDir}/`));
      if (kept.length > 0 && kept.some(Boolean)) clean[key] = kept.join(':');
      continue;
    }
    clean[key] = value;
  }
  return clean;
}
