import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runInNewContext } from 'node:vm';
import { EVENT_CHANNELS, INVOKE_CHANNELS, INVOKE_METHODS } from '../../main/ipc/channels.js';

/**
 * Runs the real preload bundle (dist/preload/preload.cjs) in a fresh context whose `require` offers a fake
 * 'electron' only, and checks what it puts on `window.vms`.
 */
function loadPreload(answer: (channel: string, args: unknown[]) => unknown = () => ({ ok: true, value: 'answer' })) {
  const source = readFileSync(new URL('../../preload/preload.cjs', import.meta.url), 'utf8');
  const required: string[] = [];
  const exposed: Record<string, unknown> = {};
  const invoked: Array<[string, unknown[]]> = [];
  const listeners = new Map<string, (event: unknown, ...args: unknown[]) => void>();
  const electron = {
    contextBridge: { exposeInMainWorld: (key: string, api: unknown) => { exposed[key] = api; } },
    ipcRenderer: {
      invoke: async (channel: string, ...args: unknown[]) => { invoked.push([channel, args]); return answer(channel, args); },
      on: (channel: string, listener: (event: unknown, ...args: unknown[]) => void) => { listeners.set(channel, listener); },
    },
  };
  const module = { exports: {} };
  runInNewContext(source, {
    require: (name: string) => {
      required.push(name);
      if (name !== 'electron') throw new Error(`a sandboxed preload cannot require ${name}`);
      return electron;
    },
    module, exports: module.exports, Promise, Error,
  }, { filename: 'preload.cjs' });
  return { required, exposed, invoked, listeners };
}

describe('preload bundle', () => {
  it('requires nothing but electron and exposes one named method per action on window.vms', () => {
    const { required, exposed } = loadPreload();
    assert.deepEqual([...new Set(required)], ['electron']);
    assert.deepEqual(Object.keys(exposed), ['vms']);
    const api = exposed.vms as Record<string, unknown>;
    assert.deepEqual(Object.keys(api).sort(), [...INVOKE_METHODS, 'onOperation', 'onVmsChanged'].sort());
    for (const value of Object.values(api)) assert.equal(typeof value, 'function');
    assert.equal('invoke' in api || 'send' in api || 'ipcRenderer' in api, false);
  });

  it('sends each method on its own channel with its own arguments only', async () => {
    const { exposed, invoked } = loadPreload();
    const api = exposed.vms as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const method of INVOKE_METHODS) {
      invoked.length = 0;
      const value = await api[method]({ some: 'request' }, 'extra', 'arguments');
      assert.equal(value, 'answer');
      assert.equal(invoked.length, 1);
      assert.equal(invoked[0][0], INVOKE_CHANNELS[method]);
      assert.ok(invoked[0][1].length <= 1, `${method} passed ${invoked[0][1].length} arguments`);
    }
  });

  it('turns an error result into a rejected promise with the one-line message', async () => {
    const { exposed } = loadPreload(() => ({ ok: false, error: 'The name "9" is not allowed: use a letter, then …' }));
    const api = exposed.vms as Record<string, (...args: unknown[]) => Promise<unknown>>;
    await assert.rejects(api.createVm({}), (error: Error) => error.message === 'The name "9" is not allowed: use a letter, then …');
  });

  it('hands event payloads to listeners without the IPC event', () => {
    const { exposed, listeners } = loadPreload();
    const api = exposed.vms as Record<string, (listener: (...args: unknown[]) => void) => void>;
    const seen: unknown[][] = [];
    api.onOperation((...args) => seen.push(args));
    api.onVmsChanged((...args) => seen.push(args));
    listeners.get(EVENT_CHANNELS.operation)!({ sender: 'secret' }, { id: 1 });
    listeners.get(EVENT_CHANNELS.vmsChanged)!({ sender: 'secret' });
    assert.deepEqual(seen, [[{ id: 1 }], []]);
  });
});
