/**
 * "Open viewer" and "Console" from the tray and the windows run the same engine code as `vms view`
 * (main/engine/viewer.ts, through VmsService: virt-viewer attached through libvirt); this is only the
 * environment they get.
 */
export function viewerEnv(): NodeJS.ProcessEnv {
  // virt-viewer and the terminal must not inherit variables meant for Electron itself.
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('ELECTRON_') || key === 'CHROME_DESKTOP') delete env[key];
  return env;
}
