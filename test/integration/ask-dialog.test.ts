import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import type { AskQuestion } from '../../main/engine/rpc/index.js';
import { createHandlers } from '../../main/ipc/handlers.js';
import { VmsService, type EngineLike } from '../../main/ipc/service.js';
import { startRendererPage, type RendererPage } from '../helpers/renderer-page.js';

/**
 * The ask dialog of `ask` policy lines in Debian's Chromium: the real renderer bundle and preload, the real
 * handlers and AskDialogs (what the tray's rpcd calls), with Electron's IPC simulated as in renderer.test.ts.
 * No VMs: the question is what rpcd would ask.
 */

const OUTPUT = join(new URL('../../', import.meta.url).pathname, '..', 'test-output');
const COLORS = { work: '#2563eb', personal: '#16a34a', disposable: '#9333ea' };
const QUESTION: AskQuestion = { service: 'vms.FileCopy', source: 'mail', sourceLabel: 'work', target: 'vault', targetLabel: 'personal', rule: '/home/u/.config/vms/policy:3' };
const TIMEOUT_MS = 8000;

describe('the ask dialog', { timeout: 120_000 }, () => {
  let renderer: RendererPage;
  let page: Page;
  let service: VmsService;
  const shown: string[] = [];
  let hidden = 0;

  before(async () => {
    const engine = { config: { labelColors: COLORS } } as unknown as EngineLike;
    service = new VmsService({
      engine: () => engine,
      settings: { get: () => ({}), set: () => undefined },
      showAsk: (id) => { shown.push(id); },
      hideAsk: () => { hidden++; },
      askTimeoutMs: TIMEOUT_MS,
    });
    renderer = await startRendererPage((pageUrl) => createHandlers(service, { pageUrl }), { width: 520, height: 330 });
    page = renderer.page;
    await mkdir(OUTPUT, { recursive: true });
  });

  after(async () => {
    await renderer?.close();
  });

  /** rpcd asks; the dialog opens on the question the app was told to show. */
  async function ask(question: AskQuestion): Promise<{ id: string; answer: Promise<boolean> }> {
    const answer = service.asks.ask(question);
    const id = shown[shown.length - 1];
    await renderer.open('ask', `&id=${id}`);
    return { id, answer };
  }

  const color = (selector: string, property: string) => page.$eval(selector, (element, p) => getComputedStyle(element).getPropertyValue(p), property);

  it('names the source, the service and the target in their domains\' colors; Allow once allows', async () => {
    const { answer } = await ask(QUESTION);
    assert.equal(await page.title(), 'Allow a call? — vms');
    assert.equal(await page.textContent('#ask-source'), 'mailwork');
    assert.equal(await page.textContent('#ask-service'), 'vms.FileCopy');
    assert.equal(await page.textContent('#ask-target'), 'vaultpersonal');
    assert.equal(await color('#ask-source', 'border-top-color'), 'rgb(37, 99, 235)');
    assert.equal(await color('#ask-target', 'border-top-color'), 'rgb(22, 163, 74)');
    assert.equal(await color('#ask-source .dot', 'background-color'), 'rgb(37, 99, 235)');
    assert.match(await page.textContent('.hint') ?? '', /The policy line \/home\/u\/\.config\/vms\/policy:3 asks you\. Denied by itself in [1-8] s\./);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'deny', 'the safe answer has the focus');
    await page.screenshot({ path: join(OUTPUT, 'ask-dialog.png') });
    await page.click('#allow');
    assert.equal(await answer, true);
    await page.waitForSelector('#status.ok');
    assert.equal(await page.textContent('#status'), 'Allowed once.');
    assert.equal(hidden, 1, 'the app closes the dialog');
  });

  it('Deny denies; a new disposable is shown as one', async () => {
    const { answer } = await ask({ ...QUESTION, target: '@dispvm:web', targetLabel: undefined });
    assert.equal(await page.textContent('#ask-target'), 'a new disposable of webdisposable');
    assert.equal(await color('#ask-target', 'border-top-color'), 'rgb(147, 51, 234)');
    await page.keyboard.press('Enter');
    assert.equal(await answer, false);
    await page.waitForSelector('#status.info');
    assert.equal(await page.textContent('#status'), 'Denied.');
  });

  it('no answer in time is a deny, and the dialog says so; a page for an answered question says that', async () => {
    const { id, answer } = await ask(QUESTION);
    assert.equal(await answer, false);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'Time ran out: the call was denied.', undefined, { timeout: 5000 });
    assert.equal(await page.isDisabled('#allow'), true);
    await renderer.open('ask', `&id=${id}`);
    assert.match(await page.textContent('#app') ?? '', /answered already, or its time ran out/);
    // (The favicon is the one 404, as in renderer.test.ts.)
    assert.deepEqual(renderer.pageErrors.filter((e) => !/404 \(Not Found\)/.test(e)), [], 'no CSP violation, no exception');
  });
});
