/**
 * The tray app's main process: the Electron edge. Everything below it (engine, service, handlers, menu
 * model, tray state) is plain Node and tested without Electron; this file only wires them to Electron.
 */
import { join } from 'node:path';
import { app, dialog, globalShortcut, type BrowserWindow } from 'electron';
import { assetPath } from '../engine/assets.js';
import { resolveConfig } from '../engine/config.js';
import { Engine } from '../engine/index.js';
import { EVENT_CHANNELS, type SessionView } from '../ipc/channels.js';
import { createHandlers } from '../ipc/handlers.js';
import { RpcdKeeper } from '../ipc/rpcd-keeper.js';
import { VmsService } from '../ipc/service.js';
import { settingsSchema, type Settings } from '../settings/schema.js';
import { runTrayAction } from '../tray/actions.js';
import type { MenuEntry } from '../tray/menu-model.js';
import { displayServer, trayHostBoundMs, waitForTrayHost, type TrayHostWait } from '../tray/tray-host.js';
import { TrayState } from '../tray/tray-state.js';
import { chromiumProfileDir, INSTALLED_APP_DIR } from './app-paths.js';
import { NEW_DISPOSABLE_FLAG, parseAppArgs, secondInstanceRequest } from './args.js';
import { applyAutostart, launchCommand, loginCommand } from './autostart.js';
import { childEnv } from './child-env.js';
import { detectDesktop, disposableBinding, loginStart } from './desktop-session.js';
import { registerIpc } from './ipc-main.js';
import { notifyOperation, showNotification } from './notifications.js';
import { openSettingsStore } from './settings-store.js';
import { TrayMenu } from './tray.js';
import { Windows } from './windows.js';

const args = parseAppArgs(process.argv);
// Chromium's profile (and with it the single-instance lock) lives apart from config.json, and apart for a
// development checkout and the installed app; set before anything reads it.
app.setPath('userData', chromiumProfileDir(app.getPath('appData'), app.isPackaged || app.getAppPath() === INSTALLED_APP_DIR));

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
  // The app's folder (a checkout, /usr/lib/vms or the AppImage's app.asar) holds dist/ whether this
  // module runs from tsc's output or from the bundle.
  const dist = join(app.getAppPath(), 'dist');
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
  const desktop = detectDesktop(process.env);
  const session: SessionView = {
    desktop,
    loginStart: loginStart(desktop, loginCommand(), process.env),
    disposableBinding: disposableBinding(desktop, [...launchCommand(), NEW_DISPOSABLE_FLAG], process.env),
    wayland: displayServer(process.env, process.argv) === 'wayland',
  };
  let trayHostWait: TrayHostWait | undefined;
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
      // The old engine's long-lived virsh goes with it.
      engine.close();
      engine = makeEngine(stored);
      registerHotkey(stored.hotkey);
      await applyAutostart(stored.autostart === true, session.loginStart, appIcon);
      // Not awaited: with the new URI unreachable the save still answers, and the tray says so.
      if (engine.config.uri !== uriBefore) void trayState.restart();
      else void trayState.refresh();
      void rpcd.restart();
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
    spawnEnv: () => childEnv(process.env),
    session: () => session,
    showAsk: (id) => {
      const window = windows.show('ask', { id });
      if (askWindows.has(window)) return;
      askWindows.add(window);
      // Closing the dialog denies the question it shows (the page's id; a no-op once answered).
      window.on('close', () => {
        const shown = new URL(window.webContents.getURL() || 'file:///').searchParams.get('id');
        if (shown) service.asks.dialogClosed(shown);
      });
    },
    hideAsk: () => windows.close('ask'),
  });
  const askWindows = new WeakSet<BrowserWindow>();
  // Calls between VMs: the app runs the rpc service, and its `ask` lines ask here.
  const rpcd = new RpcdKeeper({
    engine: () => engine,
    ask: (question) => service.asks.ask(question),
    onNotice: (message) => showNotification('vms', message, 'normal', appIcon),
  });

  registerIpc(createHandlers(service, { pageUrl: windows.pageUrl, webContentsIds: () => windows.ids() }));

  // The tray is made once a tray host is there (see main/tray/tray-host.ts); until then the state
  // renders into nothing and the latest model is kept for it.
  let tray: TrayMenu | undefined;
  let lastModel: MenuEntry[] | undefined;
  const makeTray = () => {
    if (tray) return;
    tray = new TrayMenu(iconsDir, (action) => void runTrayAction(action, {
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
      refreshDevices: () => void trayState.refreshDevices(),
      retry: () => trayState.retry(),
      quit: () => app.quit(),
    }), () => windows.show('main'));
    if (lastModel) tray.render(lastModel);
  };

  const trayState: TrayState = new TrayState({
    list: () => engine.list(),
    watch: (onEvent, options) => engine.watchLifecycle(onEvent, options),
    labelColors: () => engine.config.labelColors,
    defaultTemplate: () => settings.get().defaultTemplate ?? engine.config.defaultTemplate,
    render: (model) => {
      lastModel = model;
      tray?.render(model);
    },
    onChange: () => windows.broadcast(EVENT_CHANNELS.vmsChanged),
    // USB passthrough is for VMs on this computer: over qemu+ssh:// usbList refuses and the submenu stays hidden.
    listUsb: () => engine.usbList(),
    watchUsb: (onChange) => engine.watchUsb(onChange),
  });

  function registerHotkey(hotkey: string | undefined): void {
    globalShortcut.unregisterAll();
    const accelerator = hotkey ?? settingsSchema.hotkey.default;
    if (!accelerator) return;
    // Where the desktop does not deliver these (i3 keeps grabbed keys, Wayland goes through a portal
    // that tiling compositors lack, and may accept and never fire), the settings page shows the window
    // manager's own binding for `vms-tray --new-disposable`.
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
    void rpcd.stop();
    trayState.stop();
    trayHostWait?.stop();
  });

  const stored = settings.get();
  registerHotkey(stored.hotkey);
  void rpcd.restart();
  await applyAutostart(stored.autostart === true, session.loginStart, appIcon).catch(() => undefined);
  // Not awaited for the window: with libvirt down the menu says "libvirt unreachable" and recovers by
  // itself once libvirtd answers.
  void trayState.start().then(() => {
    // A preloaded disposable ready for the first "New disposable" (when the pool is on).
    const poolTemplate = service.defaultDisposableTemplate(trayState.current() ?? []);
    if (poolTemplate) service.refillPool(poolTemplate);
  });
  if (args.newDisposable) void service.newDisposable().catch(() => undefined);
  else if (!args.hidden) windows.show('main');

  // The tray: at once where a tray host is there or X11's fallback is a real tray; on Wayland only once
  // a host registered, and past the bound the window opens with a notice instead (and the tray still
  // comes when a bar starts later).
  const server = displayServer(process.env, process.argv);
  const firstLook = waitForTrayHost(process.env, trayHostBoundMs(server));
  trayHostWait = firstLook;
  const host = await firstLook.result;
  if (host !== 'absent' || server === 'x11') {
    makeTray();
    return;
  }
  windows.show('main', { notice: 'no-tray' });
  // With no tray to come back to, closing the window is the only way to quit.
  app.on('window-all-closed', () => { if (!tray) app.quit(); });
  trayHostWait = waitForTrayHost(process.env, Infinity);
  if ((await trayHostWait.result) === 'present') makeTray();
}
