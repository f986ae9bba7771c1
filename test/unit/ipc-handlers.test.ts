import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VmsError } from '../../main/engine/errors.js';
import { vmNameProblem } from '../../main/engine/names.js';
import type { VmInfo } from '../../main/engine/types.js';
import { createHandlers, isTrustedSender, type SenderInfo } from '../../main/ipc/handlers.js';
import type { Operation } from '../../main/ipc/channels.js';
import { VmsService, type EngineLike } from '../../main/ipc/service.js';
import type { Settings } from '../../main/settings/schema.js';

const PAGE = 'file:///opt/vms/resources/app.asar/dist/renderer/index.html';
const GOOD: SenderInfo = { url: `${PAGE}?view=create`, webContentsId: 7, isMainFrame: true };

const VM: VmInfo = {
  name: 'mail', uuid: 'u', state: 'shut off', persistent: true, memoryMiB: 1024, vcpus: 1, disks: [], clipboard: true,
  meta: { kind: 'appvm', label: 'work', template: 'arch' },
};

/** A service on a fake engine that records every call; `engineUses` counts how often the engine was reached. */
function setup(overrides: Partial<Record<keyof EngineLike, unknown>> = {}) {
  const calls: Array<[string, unknown[]]> = [];
  let engineUses = 0;
  let stored: Settings = {};
  const config = { uri: 'qemu:///system', imagesDir: '/var/lib/libvirt/images', accel: 'tcg', defaultLabel: 'personal', defaultMemoryMiB: 2048, defaultVcpus: 2, defaultDiskSize: '10G', labelColors: {} };
  const engine = new Proxy({}, {
    get(_target, property: string) {
      if (property === 'config') return config;
      if (property === 'then') return undefined;
      return async (...args: unknown[]) => {
        calls.push([property, args]);
        const override = overrides[property as keyof EngineLike];
        if (typeof override === 'function') return override(...args);
        if (property === 'list') return [VM];
        if (property === 'find') return args[0] === 'mail' ? VM : undefined;
        return { ...VM, name: String(args[1] ?? args[0]) };
      };
    },
  }) as EngineLike;
  const service = new VmsService({
    engine: () => { engineUses++; return engine; },
    settings: { get: () => stored, set: (patch) => { stored = { ...stored, ...patch }; } },
  });
  const handlers = createHandlers(service, { pageUrl: PAGE, webContentsIds: () => [7, 9] });
  return { handlers, calls, uses: () => engineUses, stored: () => stored };
}

const CREATE = { name: 'work-mail', template: 'arch', label: 'work', memoryMiB: 2048, vcpus: 2, diskSize: '10G', standalone: false };

async function rejected(promise: Promise<{ ok: boolean; error?: string }>, pattern?: RegExp | string): Promise<string> {
  const result = await promise;
  assert.equal(result.ok, false, `expected a rejection, got ${JSON.stringify(result)}`);
  const error = (result as { error: string }).error;
  assert.equal(error.split('\n').length, 1, 'errors are one line');
  if (typeof pattern === 'string') assert.equal(error, pattern);
  else if (pattern) assert.match(error, pattern);
  return error;
}

describe('isTrustedSender', () => {
  const policy = { pageUrl: PAGE, webContentsIds: () => [7] };
  it('trusts the app page in the main frame of an app window, whatever its query or hash', () => {
    assert.equal(isTrustedSender(GOOD, policy), true);
    assert.equal(isTrustedSender({ ...GOOD, url: `${PAGE}#x` }, policy), true);
  });
  it('refuses other pages, origins, frames, windows and malformed senders', () => {
    for (const sender of [
      { ...GOOD, url: 'https://evil.example/index.html' },
      { ...GOOD, url: 'file:///tmp/index.html' },
      { ...GOOD, url: 'file:///opt/vms/resources/app.asar/dist/renderer/other.html' },
      { ...GOOD, url: 'not a url' },
      { ...GOOD, url: '' },
      { ...GOOD, isMainFrame: false },
      { ...GOOD, webContentsId: 8 },
      { ...GOOD, webContentsId: 7.5 },
      { url: GOOD.url, webContentsId: 7 },
      null, undefined, 'file:///opt', 7,
    ]) assert.equal(isTrustedSender(sender, policy), false, JSON.stringify(sender));
  });
});

describe('IPC handlers: refused before any engine call', () => {
  it('refuses an unknown sender on every channel', async () => {
    const { handlers, uses, calls } = setup();
    const evil = { url: 'http://127.0.0.1:8000/index.html', webContentsId: 7, isMainFrame: true };
    for (const [method, handler] of Object.entries(handlers)) {
      await rejected((handler as (s: unknown, ...a: unknown[]) => Promise<{ ok: boolean }>)(evil, CREATE), /did not come from a vms window/);
      assert.equal(uses(), 0, method);
    }
    assert.deepEqual(calls, []);
  });

  it('refuses bad names with the engine’s own message', async () => {
    const { handlers, uses } = setup();
    for (const name of ['', '9lives', 'a/b', '../etc', 'a b', 'x'.repeat(41), 'default', 'VMS', 'é', 42, null, undefined, ['a']]) {
      const problem = `${vmNameProblem(name)}.`;
      await rejected(handlers.createVm(GOOD, { ...CREATE, name }), name === undefined ? 'The new VM needs "name".' : problem);
      await rejected(handlers.cloneVm(GOOD, { source: 'mail', name, full: false }), name === undefined ? 'The clone needs "name".' : problem);
      await rejected(handlers.cloneVm(GOOD, { source: name, name: 'copy', full: false }), name === undefined ? 'The clone needs "source".' : problem);
      if (name !== undefined) {
        await rejected(handlers.vmAction(GOOD, { action: 'start', name }), problem);
        await rejected(handlers.openViewer(GOOD, name), problem);
        const check = await handlers.validateName(GOOD, name);
        assert.deepEqual(check, { ok: true, value: problem });
      }
    }
    assert.equal(uses(), 0);
  });

  it('refuses bad domains with the engine’s rule', async () => {
    const { handlers, uses } = setup();
    for (const label of ['Work', 'a_b', 'toolonglabel', '1st', '', 3]) {
      await rejected(handlers.createVm(GOOD, { ...CREATE, label }), /domain|A domain name/);
    }
    assert.equal(uses(), 0);
  });

  it('refuses wrong types', async () => {
    const { handlers, uses } = setup();
    await rejected(handlers.createVm(GOOD, 'work-mail'), 'The new VM must be an object.');
    await rejected(handlers.createVm(GOOD, [CREATE]), 'The new VM must be an object.');
    await rejected(handlers.createVm(GOOD, null), 'The new VM must be an object.');
    await rejected(handlers.createVm(GOOD, { ...CREATE, memoryMiB: '2048' }), /Memory \(MiB\) must be a whole number/);
    await rejected(handlers.createVm(GOOD, { ...CREATE, vcpus: 1.5 }), /CPUs must be a whole number/);
    await rejected(handlers.createVm(GOOD, { ...CREATE, vcpus: Number.NaN }), /CPUs must be a whole number/);
    await rejected(handlers.createVm(GOOD, { ...CREATE, standalone: 'yes' }), 'Standalone must be true or false.');
    await rejected(handlers.createVm(GOOD, { ...CREATE, diskSize: 10 }), /is not a size/);
    await rejected(handlers.createVm(GOOD, { ...CREATE, extra: 1 }), 'The new VM has an unknown field "extra".');
    await rejected(handlers.cloneVm(GOOD, { source: 'mail', name: 'copy', full: 'true' }), 'Full copy must be true or false.');
    await rejected(handlers.createVm(GOOD), 'This request takes one argument (got 0).');
    await rejected(handlers.createVm(GOOD, CREATE, CREATE), 'This request takes one argument (got 2).');
    await rejected(handlers.listVms(GOOD, 'x'), 'This request takes no arguments.');
    await rejected(handlers.vmAction(GOOD, { action: 'destroy', name: 'mail' }), /The action must be one of start, stop, kill, restart, delete, disposable/);
    await rejected(handlers.vmAction(GOOD, { action: 'disposable', name: 'mail' }), /leave "name" out/);
    await rejected(handlers.vmAction(GOOD, { action: 'start', name: 'mail', template: 'arch' }), /only for a new disposable/);
    await rejected(handlers.importTemplate(GOOD, { name: 'arch', image: 'arch.qcow2' }), /full path/);
    await rejected(handlers.importTemplate(GOOD, { name: 'arch', image: '/tmp/a\0b' }), /full path/);
    await rejected(handlers.buildTemplate(GOOD, { name: 'arch', profile: 'kde' }), 'The profile must be minimal or gui.');
    await rejected(handlers.openWindow(GOOD, { view: 'devtools' }), /The window must be one of/);
    assert.equal(uses(), 0);
  });

  it('refuses numbers out of range', async () => {
    const { handlers, uses } = setup();
    await rejected(handlers.createVm(GOOD, { ...CREATE, memoryMiB: 64 }), 'Memory (MiB) must be a whole number from 128 to 1048576 (got 64).');
    await rejected(handlers.createVm(GOOD, { ...CREATE, memoryMiB: 2 ** 21 }), /from 128 to 1048576/);
    await rejected(handlers.createVm(GOOD, { ...CREATE, vcpus: 0 }), 'CPUs must be a whole number from 1 to 256 (got 0).');
    await rejected(handlers.createVm(GOOD, { ...CREATE, vcpus: 257 }), /from 1 to 256/);
    for (const diskSize of ['0G', '10X', '1234567G', '-1G', '']) await rejected(handlers.createVm(GOOD, { ...CREATE, diskSize }), /is not a size|larger than anything/);
    assert.equal(uses(), 0);
  });

  it('refuses bad settings', async () => {
    const { handlers, uses, stored } = setup();
    await rejected(handlers.setSettings(GOOD, { colour: 'red' }), 'The settings has an unknown field "colour".');
    await rejected(handlers.setSettings(GOOD, { uri: 5 }), /"uri" must be a string/);
    await rejected(handlers.setSettings(GOOD, { imagesDir: 'relative/dir' }), /"imagesDir" has a value in the wrong form/);
    await rejected(handlers.setSettings(GOOD, { defaultVcpus: 0 }), /"defaultVcpus" must be at least 1/);
    await rejected(handlers.setSettings(GOOD, { defaultMemoryMiB: 1e9 }), /from 128 to 1048576/);
    await rejected(handlers.setSettings(GOOD, { labelColors: { work: 'blue' } }), 'The color for work must be written #rrggbb, such as #2563eb.');
    await rejected(handlers.setSettings(GOOD, { labelColors: { Work: '#000000' } }), /The domain "Work" is not allowed/);
    await rejected(handlers.setSettings(GOOD, { hotkey: 'rm -rf' }), /The hotkey "rm -rf" is not understood/);
    await rejected(handlers.setSettings(GOOD, { autostart: 'yes' }), /"autostart" must be a boolean/);
    assert.deepEqual(stored(), {});
    assert.equal(uses(), 0);
  });
});

describe('IPC handlers: good requests', () => {
  it('passes checked arguments to the engine and returns its answer', async () => {
    const { handlers, calls } = setup();
    const created = await handlers.createVm(GOOD, CREATE);
    assert.equal(created.ok, true);
    assert.deepEqual(calls, [['create', ['work-mail', { template: 'arch', label: 'work', memoryMiB: 2048, vcpus: 2, diskSize: '10G', standalone: false }]]]);
    calls.length = 0;
    assert.equal((await handlers.cloneVm(GOOD, { source: 'mail', name: 'mail2', full: false })).ok, true);
    assert.deepEqual(calls, [['clone', ['mail', 'mail2', { full: false, onProgress: undefined }]]]);
  });

  it('checks a free name with the engine, and reports a taken one', async () => {
    const { handlers, calls } = setup();
    assert.deepEqual(await handlers.validateName(GOOD, 'fresh'), { ok: true, value: null });
    assert.deepEqual(await handlers.validateName(GOOD, 'mail'), { ok: true, value: 'A VM named "mail" already exists: choose another name.' });
    assert.deepEqual(calls.map(([m]) => m), ['find', 'find']);
  });

  it('returns the engine’s one-line message, and hides other errors’ details', async () => {
    const { handlers } = setup({
      start: () => { throw new VmsError('There is no VM named "ghost": see `vms list`.'); },
      kill: () => { throw new Error('boom\n    at stack'); },
    });
    await rejected(handlers.vmAction(GOOD, { action: 'start', name: 'ghost' }), 'There is no VM named "ghost": see `vms list`.');
    await rejected(handlers.vmAction(GOOD, { action: 'kill', name: 'mail' }), 'boom');
  });

  it('saves settings, with null putting one back to its default', async () => {
    const { handlers, stored } = setup();
    const saved = await handlers.setSettings(GOOD, { defaultTemplate: 'arch', hotkey: 'Super+Shift+D', labelColors: { work: '#112233' }, autostart: true });
    assert.equal(saved.ok, true);
    assert.deepEqual(stored(), { defaultTemplate: 'arch', hotkey: 'Super+Shift+D', labelColors: { work: '#112233' }, autostart: true });
    await handlers.setSettings(GOOD, { defaultTemplate: null });
    assert.equal(stored().defaultTemplate, undefined);
  });
});

describe('VmsService operations', () => {
  function service(notifyAfterMs = 0) {
    const events: Operation[] = [];
    const ended: Operation[] = [];
    const s = new VmsService({
      engine: () => ({}) as EngineLike,
      settings: { get: () => ({}), set: () => undefined },
      onOperation: (op) => events.push(op),
      onOperationEnd: (op) => ended.push(op),
      notifyAfterMs,
    });
    return { s, events, ended };
  }

  it('reports start, progress, steps and the end, and marks the VM busy meanwhile', async () => {
    const { s, events, ended } = service();
    let busyDuring: Record<string, string> = {};
    await s.track('clone', 'b', 'cloning', 'Cloning "a" to "b"', async (progress) => {
      busyDuring = s.busy();
      progress(40);
      progress(undefined, 'copying the private disk');
      progress(100);
      return 'value';
    }, () => 'Cloned.');
    assert.deepEqual(busyDuring, { b: 'cloning' });
    assert.deepEqual(s.busy(), {});
    assert.deepEqual(events.map((e) => [e.state, e.percent, e.message]), [
      ['running', undefined, undefined], ['running', 40, undefined], ['running', 40, 'copying the private disk'], ['running', 100, 'copying the private disk'], ['done', 100, 'Cloned.'],
    ]);
    assert.equal(ended.length, 1);
  });

  it('turns a failure into the engine’s one-line error, always notified; short successes are not', async () => {
    const { s, ended, events } = service(60_000);
    await s.track('action', 'a', 'starting', 'Starting "a"', async () => 1);
    assert.equal(ended.length, 0, 'a quick success makes no notification');
    await assert.rejects(s.track('action', 'a', 'starting', 'Starting "a"', async () => { throw new VmsError('libvirt refused: no.'); }), { message: 'libvirt refused: no.' });
    assert.equal(ended.length, 1);
    assert.equal(ended[0].state, 'failed');
    assert.equal(ended[0].message, 'libvirt refused: no.');
    assert.equal(s.listOperations().length, 2);
    assert.ok(events.every((e) => typeof e.id === 'number'));
  });
});
