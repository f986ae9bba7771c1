/**
 * The tray app's main process: the Electron edge. Everything below it (engine, service, handlers, menu
 * model, tray state) is plain Node and tested without Electron; this file only wires them to Electron.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, dialog, globalShortcut } from 'electron';
import { assetPath } from '../engine/assets.js';
import { resolveConfig } from '../engine/config.js';
import { Engine } from '../engine/index.js';
import { EVENT_CHANNELS } from '../ipc/channels.js';
import { createHandlers } from '../ipc/handlers.js';
import { VmsService } from '../ipc/service.js';
import type { Settings } from '../settings/schema.js';
import { runTrayAction } from '../tray/actions.js';
import { TrayState } from '../tray/tray-state.js';
import { parseAppArgs, secondInstanceRequest } from './args.js';
import { applyAutostart } from './autostart.js';
import { registerIpc } from './ipc-main.js';
import { notifyOperation, showNotification } from './notifications.js';
import { openSettingsStore } from './settings-store.js';
import { TrayMenu } from './tray.js';
import { viewerEnv } from './viewer.js';
import { Windows } from './windows.js';

const args = parseAppArgs(process.argv);

// One instance per user: a second launch (`vms-tray --new-disposable` from a window manager binding)
// hands its request to the running one and exits.
if (!app.requestSingleInstanceLock({ ...args })) {
  app.quit();
} else {
  // A tray app lives on when its windows close.
  app.on('window-all-closed', () => { /* stay in the tray */ });
  app.whenReady().then(main).catch((error: unknown) => {
    dialog.showErrorBox('vms could not start', error instanceof Error ? error.message : String(error));
    app.exit(1);
  });
}

async function main(): Promise<void> {
  Windows.harden();
  const dist = join(fileURLToPath(import.meta.url), '..', '..', '..');
  const iconsDir = assetPath('icons');
  const appIcon = join(iconsDir, 'icon.png');
  const windows = new Windows(join(dist, 'renderer', 'index.html'), join(dist, 'preload', 'preload.cjs'), appIcon);

  let settings;
  try {
    settings = openSettingsStore();
  } catch (error) {
    throw new Error(`The settings file cannot be read: ${(error as Error).message}. Fix or remove it, then start vms again.`);
  }
  const makeEngine = (stored: Settings) => new Engine(resolveConfig(stored));
  let engine = makeEngine(settings.get());

  const service: VmsService = new VmsService({
    engine: () => engine,
    settings,
    onOperation: (op) => {
      windows.broadcast(EVENT_CHANNELS.operation, op);
      trayState.setBusy(service.busy());
    },
    onOperationEnd: (op) => notifyOperation(op, appIcon),
    onSettingsChanged: async (stored) => {
      const uriBefore = engine.config.uri;
      engine = makeEngine(stored);
      registerHotkey(stored.hotkey);
      await applyAutostart(stored.autostart === true, appIcon);
      if (engine.config.uri !== uriBefore) await trayState.restart();
      else await trayState.refresh();
    },
    pickImage: async () => {
      const result = await dialog.showOpenDialog({
        title: 'Choose a disk image',
        properties: ['openFile'],
        filters: [{ name: 'Disk images', extensions: ['qcow2', 'img', 'raw'] }, { name: 'All files', extensions: ['*'] }],
      });
      return result.canceled ? undefined : result.filePaths[0];
    },
    openWindow: (view, vm) => { windows.show(view as Parameters<Windows['show']>[0], vm ? (view === 'create' ? { template: vm } : { vm }) : {}); },
    spawnEnv: viewerEnv,
  });

  registerIpc(createHandlers(service, { pageUrl: windows.pageUrl, webContentsIds: () => windows.ids() }));

  const tray = new TrayMenu(iconsDir, (action) => void runTrayAction(action, {
    service,
    showWindow: (view, params) => windows.show(view, params),
    confirm: async (confirmation) => {
      const { response } = await dialog.showMessageBox({
        type: 'warning',
        message: confirmation.message,
        detail: confirmation.detail,
        buttons: ['Cancel', confirmation.button],
        defaultId: 0,
        cancelId: 0,
        noLink: true,
      });
      return response === 1;
    },
    showError: (message) => showNotification('vms', message, 'critical', appIcon),
    quit: () => app.quit(),
  }), () => windows.show('main'));

  const trayState: TrayState = new TrayState({
    list: () => engine.list(),
    watch: (onEvent, options) => engine.watchLifecycle(onEvent, options),
    labelColors: () => engine.config.labelColors,
    defaultTemplate: () => settings.get().defaultTemplate ?? engine.config.defaultTemplate,
    render: (model) => tray.render(model),
    onChange: () => windows.broadcast(EVENT_CHANNELS.vmsChanged),
  });

  function registerHotkey(hotkey: string | undefined): void {
    globalShortcut.unregisterAll();
    const accelerator = hotkey ?? 'Super+Shift+D';
    if (!accelerator) return;
    // Many Linux desktops (i3, Hyprland, most Wayland compositors) do not deliver these: bind
    // `vms-tray --new-disposable` in the window manager instead (see the README).
    try {
      if (!globalShortcut.register(accelerator, () => void service.newDisposable().catch(() => undefined))) {
        process.stderr.write(`vms: the hotkey ${accelerator} could not be registered here; bind "vms-tray --new-disposable" in your window manager.\n`);
      }
    } catch (error) {
      process.stderr.write(`vms: the hotkey ${accelerator} is not valid: ${(error as Error).message}\n`);
    }
  }

  app.on('second-instance', (_event, argv, _cwd, additionalData) => {
    const request = secondInstanceRequest(argv, additionalData);
    if (request.newDisposable) void service.newDisposable().catch(() => undefined);
    else if (!request.hidden) windows.show('main');
  });
  app.on('will-quit', () => {
    globalShortcut.unregisterAll();
    trayState.stop();
  });

  const stored = settings.get();
  registerHotkey(stored.hotkey);
  await applyAutostart(stored.autostart === true, appIcon).catch(() => undefined);
  await trayState.start();
  // A preloaded disposable ready for the first "New disposable" (when the pool is on).
  const poolTemplate = service.defaultDisposableTemplate(trayState.current() ?? []);
  if (poolTemplate) service.refillPool(poolTemplate);
  if (args.newDisposable) void service.newDisposable().catch(() => undefined);
  else if (!args.hidden) windows.show('main');
}
