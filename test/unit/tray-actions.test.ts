import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runTrayAction, type TrayActionDeps } from '../../main/tray/actions.js';
import { colorDotPng, crc32, dotIconName } from '../../main/tray/color-dot.js';
import { operationNotice } from '../../main/tray/notice.js';

function deps(confirmed = true) {
  const log: string[] = [];
  const d: TrayActionDeps = {
    service: {
      vmAction: async (action, name) => { log.push(`${action} ${name}`); if (name === 'bad') throw new Error('failed'); },
      newDisposable: async () => { log.push('disposable'); },
      openViewer: async (name) => { log.push(`view ${name}`); if (name === 'off') throw new Error('"off" is shut off: start it first.'); },
      openConsole: async (name) => { log.push(`console ${name}`); },
      usbAttach: async (vm, device) => { log.push(`usb-attach ${device} ${vm}`); if (vm === 'bad') throw new Error('failed'); },
      usbDetach: async (vm, device) => { log.push(`usb-detach ${device} ${vm}`); },
      clipboard: async (action, name, ask) => {
        log.push(`clipboard ${action} ${name}`);
        if (action === 'paste' && !(await ask({ source: 'mail', target: name, rule: 'policy:3' }))) throw new Error('You said no: nothing was pasted.');
      },
    },
    showWindow: (view, params) => log.push(`window ${view} ${JSON.stringify(params ?? {})}`),
    confirm: async (c) => { log.push(`confirm ${c.message}`); return confirmed; },
    showError: (message) => log.push(`error ${message}`),
    refreshDevices: () => log.push('refresh devices'),
    retry: async () => { log.push('retry'); },
    quit: () => log.push('quit'),
  };
  return { d, log };
}

describe('runTrayAction', () => {
  it('deletes only after a confirmation', async () => {
    const confirm = { message: 'Delete "a"?', detail: '', button: 'Delete' };
    const yes = deps(true);
    await runTrayAction({ id: 'delete', vm: 'a', confirm }, yes.d);
    assert.deepEqual(yes.log, ['confirm Delete "a"?', 'delete a']);
    const no = deps(false);
    await runTrayAction({ id: 'delete', vm: 'a', confirm }, no.d);
    assert.deepEqual(no.log, ['confirm Delete "a"?']);
  });

  it('maps menu actions to engine actions and windows', async () => {
    const { d, log } = deps();
    for (const action of [
      { id: 'discard', vm: 'd1' }, { id: 'kill-discard', vm: 'd2' }, { id: 'stop', vm: 'a' }, { id: 'restart', vm: 'a' },
      { id: 'clone', vm: 'a' }, { id: 'new-vm', template: 'arch' }, { id: 'build-template' }, { id: 'new-disposable' }, { id: 'start-view', vm: 'a' }, { id: 'retry' }, { id: 'quit' },
    ] as const) await runTrayAction(action, d);
    assert.deepEqual(log, ['stop d1', 'kill d2', 'stop a', 'restart a', 'window clone {"vm":"a"}', 'window create {"template":"arch"}',
      'window templates {"tab":"build"}', 'disposable', 'start a', 'view a', 'retry', 'quit']);
  });

  it('attaches and detaches USB devices, and re-reads the devices afterwards even when it failed', async () => {
    const { d, log } = deps();
    await runTrayAction({ id: 'usb-attach', vm: 'mail', device: '1-2' }, d);
    await runTrayAction({ id: 'usb-detach', vm: 'mail', device: '1-2' }, d);
    await runTrayAction({ id: 'usb-attach', vm: 'bad', device: '1-2' }, d);
    assert.deepEqual(log, ['usb-attach 1-2 mail', 'refresh devices', 'usb-detach 1-2 mail', 'refresh devices', 'usb-attach 1-2 bad', 'refresh devices']);
  });

  it('copies and pastes the controlled clipboard; a policy line that asks gets the confirmation box', async () => {
    const yes = deps(true);
    await runTrayAction({ id: 'clipboard-copy', vm: 'mail' }, yes.d);
    await runTrayAction({ id: 'clipboard-paste', vm: 'web' }, yes.d);
    assert.deepEqual(yes.log, ['clipboard copy mail', 'clipboard paste web', 'confirm Paste the text copied in "mail" into "web"?']);
    const no = deps(false);
    await runTrayAction({ id: 'clipboard-paste', vm: 'web' }, no.d);
    assert.deepEqual(no.log, ['clipboard paste web', 'confirm Paste the text copied in "mail" into "web"?', 'error You said no: nothing was pasted.']);
  });

  it('never throws: untracked failures become an error notice, tracked ones are left to the operation', async () => {
    const { d, log } = deps();
    await runTrayAction({ id: 'view', vm: 'off' }, d);
    await runTrayAction({ id: 'start', vm: 'bad' }, d);
    await runTrayAction({ id: 'start-view', vm: 'bad' }, d);
    assert.deepEqual(log, ['view off', 'error "off" is shut off: start it first.', 'start bad', 'start bad']);
  });
});

describe('color dots and notices', () => {
  it('draws a valid PNG in the given color', () => {
    const png = colorDotPng('#2563eb', 16);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.readUInt32BE(16), 16);
    assert.equal(png.subarray(12, 16).toString('ascii'), 'IHDR');
    assert.equal(png.readUInt32BE(29), crc32(png.subarray(12, 29)), 'IHDR checksum');
    assert.throws(() => colorDotPng('blue'));
    assert.equal(dotIconName('#2563EB'), 'dot-2563eb.png');
    assert.equal(crc32(Buffer.from('IEND')), 0xae426082);
  });

  it('words notifications for finished and failed operations', () => {
    const base = { id: 1, kind: 'clone' as const, vm: 'b', title: 'Cloning "a" to "b" (full copy)', verb: 'cloning', startedAt: 0 };
    assert.deepEqual(operationNotice({ ...base, state: 'done', endedAt: 83_000, message: 'Cloned "a" to "b" (full copy).' }),
      { title: 'Cloning "a" to "b" (full copy): done (1 min 23 s)', body: 'Cloned "a" to "b" (full copy).', urgency: 'normal' });
    assert.deepEqual(operationNotice({ ...base, state: 'failed', endedAt: 1000, message: 'The disk is full: free some space.' }),
      { title: 'Cloning "a" to "b" (full copy) failed', body: 'The disk is full: free some space.', urgency: 'critical' });
  });
});
