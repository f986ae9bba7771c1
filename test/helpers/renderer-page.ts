import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Handlers, SenderInfo } from '../../main/ipc/handlers.js';
import { INVOKE_CHANNELS, INVOKE_METHODS } from '../../main/ipc/channels.js';

/**
 * The renderer in Debian's Chromium, its `window.vms` made by the real preload bundle with a stand-in for
 * Electron's IPC that calls the real handlers. Only the transport between preload and main is simulated;
 * the sender the handlers check is the page's real frame URL.
 */

const DIST = new URL('../../', import.meta.url).pathname; // dist/
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/** Serves dist/renderer on loopback, as the app loads it from disk. */
export async function serveRenderer(): Promise<{ server: Server; base: string }> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.map': 'application/json' };
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://x').pathname;
    if (path === '/other.html') {
      // Another page on the same origin: the handlers must not trust it.
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>other</title><p>other</p>');
      return;
    }
    if (!/^\/[a-z]+\.(html|js|css|js\.map)$/.test(path)) {
      response.writeHead(404).end();
      return;
    }
    try {
      const body = await readFile(join(DIST, 'renderer', path));
      response.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The real preload bundle, run in the page with a stand-in `require('electron')` that bridges to Node. */
export async function preloadScript(): Promise<string> {
  const preload = await readFile(join(DIST, 'preload', 'preload.cjs'), 'utf8');
  return `(() => {
    const listeners = {};
    window.__vmsEmit = (channel, payload) => (listeners[channel] || []).forEach((listener) => listener({ sender: 'main' }, payload));
    const electron = {
      contextBridge: { exposeInMainWorld: (key, api) => Object.defineProperty(window, key, { value: Object.freeze(api) }) },
      ipcRenderer: {
        invoke: (channel, ...args) => window.__vmsInvoke(channel, args),
        on: (channel, listener) => { (listeners[channel] = listeners[channel] || []).push(listener); },
      },
    };
    const require = (name) => { if (name !== 'electron') throw new Error('the preload required ' + name); return electron; };
    const module = { exports: {} };
    const exports = module.exports;
    ${preload}
  })();`;
}

export interface RendererPage {
  page: Page;
  context: BrowserContext;
  /** `http://127.0.0.1:PORT`: the page is `${base}/index.html`. */
  base: string;
  /** Console errors and exceptions of the page. */
  pageErrors: string[];
  /** Loads a view and waits until it has rendered. */
  open(view: string, query?: string): Promise<void>;
  close(): Promise<void>;
}

/** Serves the renderer, starts Chromium with a private profile and binds the page to `makeHandlers`' handlers. */
export async function startRendererPage(makeHandlers: (pageUrl: string) => Handlers, viewport = { width: 600, height: 640 }): Promise<RendererPage> {
  const { server, base } = await serveRenderer();
  const handlers = makeHandlers(`${base}/index.html`);
  const byChannel = new Map(INVOKE_METHODS.map((method) => [INVOKE_CHANNELS[method] as string, handlers[method]]));
  const profile = await mkdtemp(join(tmpdir(), 'vms-chromium-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, viewport, deviceScaleFactor: 1 });
  await context.exposeBinding('__vmsInvoke', async (source, channel: string, args: unknown[]) => {
    const handler = byChannel.get(channel);
    if (!handler) return { ok: false, error: `No handler for ${channel}` };
    const sender: SenderInfo = { url: source.frame.url(), webContentsId: 1, isMainFrame: source.frame === source.page.mainFrame() };
    return handler(sender, ...args);
  });
  await context.addInitScript({ content: await preloadScript() });
  const page = context.pages()[0] ?? await context.newPage();
  const pageErrors: string[] = [];
  // Any console error (a CSP violation, an exception) is collected for the test to check.
  page.on('console', (message) => { if (message.type() === 'error') pageErrors.push(message.text()); });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  return {
    page, context, base, pageErrors,
    async open(view, query = '') {
      await page.goto(`${base}/index.html?view=${view}${query}`);
      await page.waitForSelector('body[data-ready=true]');
    },
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
