import { volumeInfo } from '../../main/engine/libvirt/storage.js';
import { readDomain } from '../../main/engine/xml/domain-read.js';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';
import type { Page } from 'playwright-core';
import { vmNameProblem } from '../../main/engine/names.js';
import { EVENT_CHANNELS, type Operation } from '../../main/ipc/channels.js';
import { createHandlers } from '../../main/ipc/handlers.js';
import { VmsService } from '../../main/ipc/service.js';
import type { Settings } from '../../main/settings/schema.js';
import { makeTestEngine, URI, type TestEngine } from '../helpers/engine-fixture.js';
import { startRendererPage, type RendererPage } from '../helpers/renderer-page.js';

/**
 * The renderer in Debian's Chromium, its `window.vms` made by the real preload bundle (with a stand-in for
 * Electron's IPC that calls the real handlers), on a real Engine and libvirtd. Only the transport between
 * preload and main is simulated; the sender the handlers check is the page's real frame URL.
 */

const DIST = new URL('../../', import.meta.url).pathname; // dist/
const OUTPUT = join(DIST, '..', 'test-output');
const tag = randomBytes(2).toString('hex');
const TEMPLATE = `rt${tag}-arch`;
const VM = `rt${tag}-mail`;
const FULL = `rt${tag}-mail-full`;
const LINKED = `rt${tag}-mail-linked`;
const IMPORTED = `rt${tag}-imported`;

async function domainXml(name: string): Promise<string | undefined> {
  const result = await execa('virsh', ['-c', URI, 'dumpxml', '--inactive', name], { reject: false });
  return result.exitCode === 0 ? String(result.stdout) : undefined;
}

describe('renderer on the real engine', { timeout: 240_000 }, () => {
  let env: TestEngine;
  let renderer: RendererPage;
  let base: string;
  let page: Page;
  let stored: Settings = {};
  const operations: Operation[] = [];
  let pageErrors: string[] = [];

  /** The private disk's volume of a domain, as libvirt describes it. */
  async function homeVolume(xml: string) {
    const volume = readDomain(xml)?.disks.find((d) => d.target === 'vdb')?.volume;
    return volume ? volumeInfo(env.engine.ctx.libvirt, env.pool, volume) : undefined;
  }

  before(async () => {
    env = await makeTestEngine('renderer');
    // A blank disk is enough for create and clone: nothing boots here.
    const image = join(env.scratch, 'blank.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '256M']);
    await env.engine.importTemplate(TEMPLATE, image);
    await rm(image);

    const service = new VmsService({
      engine: () => env.engine,
      settings: { get: () => stored, set: (patch) => { stored = { ...stored, ...patch }; } },
      onOperation: (op) => {
        operations.push(op);
        if (page && !page.isClosed()) void page.evaluate(([channel, payload]) => (window as unknown as { __vmsEmit(c: string, p: unknown): void }).__vmsEmit(channel as string, payload), [EVENT_CHANNELS.operation, op] as const).catch(() => undefined);
      },
    });
    renderer = await startRendererPage((pageUrl) => createHandlers(service, { pageUrl }));
    ({ page, base, pageErrors } = renderer);
    await mkdir(OUTPUT, { recursive: true });
  });

  after(async () => {
    await renderer?.close();
    await env?.cleanup();
  });

  const open = (view: string, query = '') => renderer.open(view, query);

  it('creates a VM from the dialog, after showing the engine’s message for a bad name', async () => {
    await open('create');
    assert.equal(await page.title(), 'New VM — vms');

    // A bad name: the engine's own message as you type, Create stays off.
    await page.fill('#name', '9lives');
    await page.waitForFunction((text) => document.querySelector('#name-hint')?.textContent === text, `${vmNameProblem('9lives')}.`);
    assert.equal(await page.getAttribute('#name-hint', 'class'), 'hint error');
    assert.equal(await page.isDisabled('#submit'), true);
    await page.screenshot({ path: join(OUTPUT, 'create-dialog-bad-name.png') });

    // A name that passes the rules but is taken (the engine looks it up).
    await page.fill('#name', TEMPLATE);
    await page.waitForFunction((text) => document.querySelector('#name-hint')?.textContent === text, `A VM named "${TEMPLATE}" already exists: choose another name.`);
    assert.equal(await page.isDisabled('#submit'), true);

    await page.fill('#name', VM);
    await page.waitForFunction((name) => document.querySelector('#name-hint')?.textContent === `“${name}” is free.`, VM);
    await page.selectOption('#template', TEMPLATE);
    await page.click('label[for=domain-work]');
    await page.fill('#memory', '256');
    await page.fill('#cpus', '1');
    await page.fill('#disk', '64M');
    assert.equal(await page.isDisabled('#submit'), false);
    await page.screenshot({ path: join(OUTPUT, 'create-dialog.png') });

    // A bad disk size passes the form but not main's checks: the one-line message shows, nothing is defined.
    await page.fill('#disk', '64X');
    await page.click('#submit');
    await page.waitForSelector('#status.error');
    assert.equal(await page.textContent('#status'), 'The disk size: "64X" is not a size: use a number and a unit, such as 512M, 2G or 20GiB.');
    assert.equal(await domainXml(VM), undefined);

    await page.fill('#disk', '64M');
    await page.click('#submit');
    await page.waitForSelector('#status.ok', { timeout: 60_000 });
    assert.equal(await page.textContent('#status'), `Created appvm “${VM}” in work.`);

    const xml = await domainXml(VM);
    assert.ok(xml, 'the domain is defined');
    assert.match(xml, /<vms:kind>appvm<\/vms:kind>/);
    assert.match(xml, /<vms:label>work<\/vms:label>/);
    assert.match(xml, new RegExp(`<vms:template>${TEMPLATE}</vms:template>`));
    assert.match(xml, /<vms:color>#2563eb<\/vms:color>/);
    assert.match(xml, /<memory unit='KiB'>262144<\/memory>/);
    assert.match(xml, /<vcpu placement='static'>1<\/vcpu>/);
    const home = await homeVolume(xml);
    assert.equal(home?.capacity, 64 * 2 ** 20, 'the private disk has the size asked for');
    assert.deepEqual(operations.filter((op) => op.vm === VM).map((op) => op.state), ['running', 'done']);
  });

  it('clones a VM from the dialog, full with progress and linked', async () => {
    await open('clone', `&vm=${VM}`);
    assert.equal(await page.inputValue('#source'), VM);

    // A taken name is refused as you type.
    await page.fill('#name', VM);
    await page.waitForFunction((name) => document.querySelector('#name-hint')?.textContent === `A VM named "${name}" already exists: choose another name.`, VM);
    assert.equal(await page.isDisabled('#submit'), true);

    await page.fill('#name', FULL);
    await page.waitForFunction((name) => document.querySelector('#name-hint')?.textContent === `“${name}” is free.`, FULL);
    await page.check('#mode-full');
    await page.screenshot({ path: join(OUTPUT, 'clone-dialog.png') });
    const before = operations.length;
    await page.click('#submit');
    await page.waitForSelector('#status.ok', { timeout: 120_000 });
    assert.equal(await page.textContent('#status'), `Cloned “${VM}” to “${FULL}” (full copy).`);
    assert.equal(await page.getAttribute('#clone-progress', 'aria-valuenow'), '100');
    const progress = operations.slice(before).filter((op) => op.vm === FULL && op.state === 'running' && op.percent !== undefined);
    assert.ok(progress.length > 0, 'progress reached the window');
    assert.equal(progress.at(-1)!.percent, 100);
    await page.screenshot({ path: join(OUTPUT, 'clone-dialog-done.png') });

    const full = await domainXml(FULL);
    assert.ok(full, 'the full clone is defined');
    assert.match(full, /<vms:kind>appvm<\/vms:kind>/);
    assert.match(full, /<vms:label>work<\/vms:label>/);
    const fullHome = await homeVolume(full);
    assert.ok(fullHome?.name.startsWith(`${FULL}.home.`), 'the full clone has its own private volume');
    assert.equal(fullHome?.backingPath, undefined, 'a full copy has no backing file');

    await page.fill('#name', LINKED);
    await page.waitForFunction((name) => document.querySelector('#name-hint')?.textContent === `“${name}” is free.`, LINKED);
    await page.check('#mode-linked');
    await page.click('#submit');
    await page.waitForFunction((name) => document.querySelector('#status')?.textContent === `Cloned “${document.querySelector<HTMLSelectElement>('#source')!.value}” to “${name}” (linked).`, LINKED, { timeout: 60_000 });
    const linked = await domainXml(LINKED);
    assert.ok(linked, 'the linked clone is defined');
    assert.ok((await homeVolume(linked))?.backingPath, 'a linked clone is an overlay');
  });

  it('lists the VMs by domain in the main window', async () => {
    await page.setViewportSize({ width: 760, height: 560 });
    await open('main');
    await page.waitForSelector(`li[data-vm="${LINKED}"]`);
    const rows = await page.$$eval('li.vm', (items) => items.map((li) => `${li.getAttribute('data-vm')}:${li.getAttribute('data-state')}`));
    assert.deepEqual(rows.filter((r) => r.startsWith(`rt${tag}`)), [`${VM}:shut off`, `${FULL}:shut off`, `${LINKED}:shut off`, `${TEMPLATE}:shut off`]);
    const groups = await page.$$eval('.group h2', (headers) => headers.map((h) => h.textContent));
    assert.ok(groups.indexOf('Work') < groups.indexOf('Templates'));
    await page.waitForSelector('.operation.done');
    await page.screenshot({ path: join(OUTPUT, 'main-window.png') });
  });

  it('saves settings from the settings window, refusing a bad hotkey', async () => {
    await page.setViewportSize({ width: 700, height: 760 });
    await open('settings');
    await page.selectOption('#defaultTemplate', TEMPLATE);
    await page.fill('#hotkey', 'Super+Nope+');
    await page.click('#submit');
    await page.waitForSelector('#status.error');
    assert.equal(await page.textContent('#status'), 'The hotkey "Super+Nope+" is not understood: use modifiers and a key, such as Super+Shift+D.');
    assert.equal(stored.defaultTemplate, undefined, 'nothing was saved');
    await page.fill('#hotkey', 'Super+Shift+X');
    await page.click('#submit');
    await page.waitForSelector('#status.ok');
    assert.equal(stored.defaultTemplate, TEMPLATE);
    assert.equal(stored.hotkey, 'Super+Shift+X');
    assert.equal(stored.labelColors, undefined, 'untouched colors stay defaults, not frozen copies');
    await page.fill('#color-hobby', '#123456');
    // The first save's "Saved." is still shown: clear it, so the wait below sees the second one.
    await page.evaluate(() => { document.querySelector('#status')!.textContent = ''; });
    await page.click('#submit');
    await page.waitForFunction(() => document.querySelector('#status')?.textContent?.startsWith('Saved'));
    assert.deepEqual(stored.labelColors, { hobby: '#123456' }, 'only the color chosen by hand is stored');
    await page.screenshot({ path: join(OUTPUT, 'settings-window.png') });
  });

  it('imports a template from the templates window', async () => {
    const image = join(env.scratch, 'second.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '32M']);
    await open('templates', '&tab=import');
    await page.fill('#import-name', IMPORTED);
    await page.waitForFunction((name) => document.querySelector('#import-form .hint')?.textContent === `“${name}” is free.`, IMPORTED);
    await page.fill('#import-image', image);
    await page.click('#import-form button[type=submit]');
    await page.waitForSelector('#import-form .status.ok', { timeout: 60_000 });
    const xml = await domainXml(IMPORTED);
    assert.ok(xml, 'the template is defined');
    assert.match(xml, /<vms:kind>template<\/vms:kind>/);
    await page.screenshot({ path: join(OUTPUT, 'templates-window.png') });
  });

  it('refuses a page that is not the app’s', async () => {
    await page.goto(`${base}/other.html`);
    await page.waitForSelector('p');
    const answer = await page.evaluate(() => (window as unknown as { vms: { listVms(): Promise<unknown> } }).vms.listVms().then(() => 'answered', (error: Error) => error.message));
    assert.equal(answer, 'This request did not come from a vms window, so it was refused.');
  });

  it('ran without console errors or CSP violations', () => {
    assert.deepEqual(pageErrors.filter((e) => !/404 \(Not Found\)/.test(e)), []);
  });
});
