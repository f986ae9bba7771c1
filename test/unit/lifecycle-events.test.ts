import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineSplitter, parseLifecycleLine } from '../../main/engine/libvirt/events.js';
import type { VmInfo } from '../../main/engine/types.js';
import { applyLifecycleEvent } from '../../main/tray/tray-state.js';

describe('parseLifecycleLine', () => {
  it('parses virsh’s lifecycle lines', () => {
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'work-mail': Started Booted"), { name: 'work-mail', event: 'Started', detail: 'Booted' });
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'disp1234': Stopped Destroyed"), { name: 'disp1234', event: 'Stopped', detail: 'Destroyed' });
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'a': Shutdown Finished after guest request"), { name: 'a', event: 'Shutdown', detail: 'Finished after guest request' });
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'a': Undefined Removed\r"), { name: 'a', event: 'Undefined', detail: 'Removed' });
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'a': PMSuspended"), { name: 'a', event: 'PMSuspended', detail: '' });
  });

  it('accepts the --timestamp prefix and names holding quotes or colons', () => {
    assert.deepEqual(parseLifecycleLine("2026-11-25 19:00:13.948+0000: event 'lifecycle' for domain 'fixture': Resumed Unpaused"), { name: 'fixture', event: 'Resumed', detail: 'Unpaused' });
    assert.deepEqual(parseLifecycleLine("event 'lifecycle' for domain 'it's: odd': Suspended Paused"), { name: "it's: odd", event: 'Suspended', detail: 'Paused' });
  });

  it('ignores everything else', () => {
    for (const line of ['', 'vms-events-ready', 'events received: 3', "event 'reboot' for domain 'a'", "event 'lifecycle' for domain 'a': Exploded Badly", "event 'lifecycle' for domain '': Started Booted"]) {
      assert.equal(parseLifecycleLine(line), undefined, line);
    }
  });
});

describe('lineSplitter', () => {
  it('joins chunks split anywhere into whole lines', () => {
    const lines: string[] = [];
    const feed = lineSplitter((line) => lines.push(line));
    feed("event 'lifecycle' for dom");
    feed("ain 'a': Started Booted\nevent 'lifecycle' for domain 'b': Stopped Destroyed\r\nhalf");
    assert.deepEqual(lines, ["event 'lifecycle' for domain 'a': Started Booted", "event 'lifecycle' for domain 'b': Stopped Destroyed"]);
    feed(' line\n');
    assert.equal(lines[2], 'half line');
  });
});

describe('applyLifecycleEvent', () => {
  const vm = (name: string, state: VmInfo['state'], persistent = true): VmInfo => ({
    name, uuid: name, state, persistent, memoryMiB: 512, vcpus: 1, disks: [], clipboard: true, meta: { kind: persistent ? 'appvm' : 'disposable', label: 'work' },
  });
  const states = (vms: VmInfo[] | undefined) => vms?.map((v) => `${v.name}:${v.state}`);

  it('moves states on', () => {
    const vms = [vm('a', 'shut off'), vm('b', 'running')];
    assert.deepEqual(states(applyLifecycleEvent(vms, { name: 'a', event: 'Started', detail: 'Booted' })), ['a:running', 'b:running']);
    assert.deepEqual(states(applyLifecycleEvent(vms, { name: 'b', event: 'Suspended', detail: 'Paused' })), ['a:shut off', 'b:paused']);
    assert.deepEqual(states(applyLifecycleEvent(vms, { name: 'b', event: 'Stopped', detail: 'Shutdown' })), ['a:shut off', 'b:shut off']);
    assert.deepEqual(states(applyLifecycleEvent(vms, { name: 'b', event: 'Crashed', detail: 'Panicked' })), ['a:shut off', 'b:crashed']);
    assert.deepEqual(states(vms), ['a:shut off', 'b:running'], 'the input is not changed');
  });

  it('drops a stopped transient domain and an undefined one', () => {
    assert.deepEqual(states(applyLifecycleEvent([vm('disp1', 'running', false)], { name: 'disp1', event: 'Stopped', detail: 'Destroyed' })), []);
    assert.deepEqual(states(applyLifecycleEvent([vm('a', 'shut off')], { name: 'a', event: 'Undefined', detail: 'Removed' })), []);
  });

  it('asks for a full read for a domain it does not know', () => {
    assert.equal(applyLifecycleEvent([vm('a', 'shut off')], { name: 'new', event: 'Defined', detail: 'Added' }), undefined);
    assert.equal(applyLifecycleEvent([vm('a', 'shut off')], { name: 'new', event: 'Started', detail: 'Booted' }), undefined);
  });
});
