import { app, BrowserWindow, session, shell, type WebContents } from 'electron';
import { pathToFileURL } from 'node:url';
import type { AppWindow } from '../ipc/channels.js';

/**
 * The app's windows, per Electron's security checklist: context isolation, sandbox, no Node integration,
 * web security on, the strict CSP from index.html, no navigation, no new windows, no webviews, no
 * permissions. One window per view; showing a view again focuses (and re-targets) it.
 */

const SIZES: Record<AppWindow, { width: number; height: number; title: string; alwaysOnTop?: boolean }> = {
  main: { width: 760, height: 640, title: 'vms' },
  create: { width: 600, height: 640, title: 'New VM — vms' },
  clone: { width: 600, height: 560, title: 'Clone a VM — vms' },
  templates: { width: 600, height: 760, title: 'Templates — vms' },
  settings: { width: 700, height: 720, title: 'Settings — vms' },
  // A call waits for the answer: the question stays above the windows it may have popped up over.
  ask: { width: 520, height: 330, title: 'Allow a call? — vms', alwaysOnTop: true },
};

export class Windows {
  private readonly open = new Map<AppWindow, BrowserWindow>();
  /** The page every window loads, as the handlers' trust policy compares it. */
  readonly pageUrl: string;

  constructor(private readonly pagePath: string, private readonly preloadPath: string, private readonly icon?: string) {
    this.pageUrl = pathToFileURL(pagePath).href;
  }

  /** Locks down every webContents the app ever makes, and the default session. */
  static harden(): void {
    session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    app.on('web-contents-created', (_event, contents: WebContents) => {
      contents.on('will-navigate', (event) => event.preventDefault());
      contents.on('will-redirect', (event) => event.preventDefault());
      contents.on('will-attach-webview', (event) => event.preventDefault());
      contents.setWindowOpenHandler(({ url }) => {
        // Links to documentation go to the browser; nothing opens inside the app.
        if (url.startsWith('https://')) void shell.openExternal(url);
        return { action: 'deny' };
      });
    });
  }

  /** The webContents ids of the app's windows (the only senders the handlers trust). */
  ids(): number[] {
    return [...this.open.values()].filter((w) => !w.isDestroyed()).map((w) => w.webContents.id);
  }

  show(view: AppWindow, params: Record<string, string> = {}): BrowserWindow {
    const query = { view, ...params };
    const existing = this.open.get(view);
    if (existing && !existing.isDestroyed()) {
      // A different VM for the same dialog: load it again with the new parameters.
      if (Object.keys(params).length > 0) void existing.loadFile(this.pagePath, { query });
      existing.show();
      existing.focus();
      return existing;
    }
    const size = SIZES[view];
    const window = new BrowserWindow({
      width: size.width,
      height: size.height,
      minWidth: Math.min(480, size.width),
      minHeight: Math.min(400, size.height),
      title: size.title,
      alwaysOnTop: size.alwaysOnTop ?? false,
      icon: this.icon,
      show: false,
      autoHideMenuBar: true,
      backgroundColor: '#f5f6f8',
      webPreferences: {
        preload: this.preloadPath,
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        webSecurity: true,
        allowRunningInsecureContent: false,
        experimentalFeatures: false,
        navigateOnDragDrop: false,
        spellcheck: false,
        devTools: !app.isPackaged,
      },
    });
    window.setMenu(null);
    // Shown on whichever comes first: 'ready-to-show' (no blank frame on X11) or the page's load. On
    // native Wayland (Electron >= 38's default) a hidden window never presents a frame, so
    // 'ready-to-show' may never fire and the window would stay invisible (electron/electron#48859);
    // the load events fire regardless of painting, so the window always appears.
    let shown = false;
    const reveal = () => {
      if (shown || window.isDestroyed()) return;
      shown = true;
      window.show();
    };
    window.once('ready-to-show', reveal);
    window.webContents.once('did-finish-load', reveal);
    window.webContents.once('did-fail-load', reveal);
    // On 'close', not 'closed': a window on its way out is never shown again (the ask dialog opens a new one).
    window.on('close', () => { if (this.open.get(view) === window) this.open.delete(view); });
    this.open.set(view, window);
    void window.loadFile(this.pagePath, { query });
    return window;
  }

  /** Closes a view's window, if it is open. */
  close(view: AppWindow): void {
    const window = this.open.get(view);
    if (window && !window.isDestroyed()) window.close();
  }

  /** Sends an event to every open window. */
  broadcast(channel: string, payload?: unknown): void {
    for (const window of this.open.values()) {
      if (!window.isDestroyed()) window.webContents.send(channel, payload);
    }
  }
}
