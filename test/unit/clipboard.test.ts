import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { clearBuffer, clipboardBufferPath, newEntry, readBuffer, writeBuffer } from '../../main/engine/clipboard/buffer.js';
import { parseActiveWindow, parseViewerTitle, parseWindowName } from '../../main/engine/clipboard/focus.js';
import { notifyArgs, vmMarkup } from '../../main/engine/clipboard/notify.js';
import { guestClipboardProblem } from '../../main/engine/clipboard/transfer.js';
import { classifyLibvirtError } from '../../main/engine/libvirt/errors.js';
import { agentReturn, guestExecCommand } from '../../main/engine/libvirt/guest-agent.js';
import { BUILT_IN_RULES, decide, explainDecision, parsePolicy } from '../../main/engine/rpc/policy.js';
import { HOST_ONLY_SERVICES } from '../../main/engine/rpc/rpc-names.js';
import { viewerEnv } from '../../main/engine/viewer.js';

describe('which VM has focus', () => {
  test('a viewer title is [label] name, with the display number, a grab hint or the program name around it', () => {
    assert.deepEqual(parseViewerTitle('[work] mail'), { label: 'work', name: 'mail' });
    assert.deepEqual(parseViewerTitle('[work] mail (1)'), { label: 'work', name: 'mail' });
    assert.deepEqual(parseViewerTitle('(Press Ctrl+Alt to release pointer) [personal] web-2 (1) - Remote Viewer'), { label: 'personal', name: 'web-2' });
    assert.deepEqual(parseViewerTitle('[vault] keys - Virt Viewer'), { label: 'vault', name: 'keys' });
  });

  test('any other window is not a VM', () => {
    for (const title of ['mail', 'Firefox', '[work] mail; rm -rf /', '[Work] mail', '[work] 1mail', 'x [work] mail', '[work] mail (one)', '']) {
      assert.equal(parseViewerTitle(title), undefined, title);
    }
  });

  test('the viewer leaves the keyboard to the desktop’s bindings (SPICE_NOGRAB), unless VMS_VIEWER_GRAB=1', () => {
    assert.equal(viewerEnv({ DISPLAY: ':0' }).SPICE_NOGRAB, '1');
    assert.equal(viewerEnv({ DISPLAY: ':0', VMS_VIEWER_GRAB: '1' }).SPICE_NOGRAB, undefined);
  });

  test('xprop: the active window id (none for 0x0) and its name, escapes undone', () => {
    assert.equal(parseActiveWindow('_NET_ACTIVE_WINDOW(WINDOW): window id # 0x1e00007'), '0x1e00007');
    assert.equal(parseActiveWindow('_NET_ACTIVE_WINDOW(WINDOW): window id # 0x0'), undefined);
    assert.equal(parseActiveWindow('_NET_ACTIVE_WINDOW:  not found.'), undefined);
    assert.equal(parseWindowName('_NET_WM_NAME(UTF8_STRING) = "[work] mail (1)"\nWM_NAME(STRING) = "x"'), '[work] mail (1)');
    assert.equal(parseWindowName('_NET_WM_NAME:  not found.\nWM_NAME(STRING) = "say \\"hi\\""'), 'say "hi"');
    assert.equal(parseWindowName('_NET_WM_NAME:  not found.\nWM_NAME:  not found.'), undefined);
  });
});

describe('the host-held buffer', () => {
  const dirs: string[] = [];
  after(async () => { for (const dir of dirs) await rm(dir, { recursive: true, force: true }); });
  const scratch = async () => { const dir = await mkdtemp(join(tmpdir(), 'vms-clip-')); dirs.push(dir); return dir; };

  test('lives on $XDG_RUNTIME_DIR when there is one, else in the state folder', () => {
    assert.equal(clipboardBufferPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, '/home/u/.local/state/vms'), '/run/user/1000/vms/clipboard.json');
    assert.equal(clipboardBufferPath({}, '/home/u/.local/state/vms'), '/home/u/.local/state/vms/clipboard.json');
  });

  test('written for the user only, read back, and gone once its time is up', async () => {
    const path = join(await scratch(), 'vms', 'clipboard.json');
    const entry = newEntry('mail', 'work', 'secret ünïcode', 1_000, 60);
    await writeBuffer(path, entry);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readBuffer(path, 2_000), entry);
    assert.equal(await readBuffer(path, 61_000), undefined);
    await assert.rejects(readFile(path), { code: 'ENOENT' });
  });

  test('clearing with a copy id leaves a newer copy alone; junk counts as empty', async () => {
    const path = join(await scratch(), 'clipboard.json');
    const first = newEntry('mail', 'work', 'one', Date.now(), 60);
    await writeBuffer(path, first);
    const second = newEntry('web', 'personal', 'two', Date.now(), 60);
    await writeBuffer(path, second);
    assert.equal(await clearBuffer(path, first.id), false);
    assert.equal((await readBuffer(path))?.text, 'two');
    assert.equal(await clearBuffer(path, second.id), true);
    assert.equal(await readBuffer(path), undefined);
    await writeFile(path, '{not json');
    assert.equal(await readBuffer(path), undefined);
  });
});

describe('the guest side, through the guest agent', () => {
  test('guest-exec carries the program, its environment and its input', () => {
    assert.deepEqual(JSON.parse(guestExecCommand({ path: '/etc/vms/rpc.d/vms.ClipboardPaste', env: ['A=1'], input: Buffer.from('hi') })), {
      execute: 'guest-exec',
      arguments: { path: '/etc/vms/rpc.d/vms.ClipboardPaste', arg: [], env: ['A=1'], 'input-data': 'aGk=', 'capture-output': true },
    });
  });

  test('the agent’s return, or its error as a sentence', () => {
    assert.deepEqual(agentReturn('{"return":{"pid":42}}'), { pid: 42 });
    assert.throws(() => agentReturn('{"error":{"class":"GenericError","desc":"Guest agent command failed"}}'), /refused: Guest agent command failed/);
    assert.throws(() => agentReturn('oops'), /not JSON/);
  });

  test('libvirt saying the agent is away is its own kind of error', () => {
    assert.equal(classifyLibvirtError('error: Guest agent is not responding: QEMU guest agent is not connected'), 'no-agent');
    assert.equal(classifyLibvirtError('error: argument unsupported: QEMU guest agent is not configured'), 'no-agent');
  });

  test('the clipboard service’s exit status reads as what to do', () => {
    const result = (exitCode: number, stderr = '') => ({ exitCode, stderr: Buffer.from(stderr) });
    assert.equal(guestClipboardProblem('mail', result(0), 65536), undefined);
    assert.match(guestClipboardProblem('mail', result(3), 65536)!, /clipboard of "mail" is empty/);
    assert.match(guestClipboardProblem('mail', result(4), 65536)!, /no desktop running/);
    assert.match(guestClipboardProblem('mail', result(5), 65536)!, /more than 65536 bytes/);
    assert.match(guestClipboardProblem('mail', result(127), 65536)!, /rebuild its template/);
    assert.match(guestClipboardProblem('mail', result(1, 'first\nvms-clipboard: boom\n'), 65536)!, /exit 1\): vms-clipboard: boom$/);
  });
});

describe('the paste policy', () => {
  const mail = { name: 'mail', label: 'work', kind: 'appvm' as const };
  const web = { name: 'web', label: 'personal', kind: 'appvm' as const };
  const request = { service: 'vms.ClipboardPaste', source: mail, target: 'web', targetVm: web };

  test('no line about it: the built-in rule allows (both halves are the user’s keystrokes), and says so', () => {
    const decision = decide(BUILT_IN_RULES, request);
    assert.equal(decision.action, 'allow');
    assert.match(explainDecision(decision, request), /: allow by vms's built-in rule: vms.ClipboardPaste @anyvm @anyvm allow$/);
    assert.equal(decide(BUILT_IN_RULES, { ...request, service: 'vms.FileCopy' }).action, 'deny', 'nothing else is allowed by it');
  });

  test('the user’s lines come first: deny and ask win over the built-in rule', () => {
    const { rules } = parsePolicy('vms.ClipboardPaste @label:work @label:personal deny\nvms.ClipboardPaste @anyvm @label:vault ask\n', 'policy');
    assert.equal(decide([...rules, ...BUILT_IN_RULES], request).action, 'deny');
    assert.equal(decide([...rules, ...BUILT_IN_RULES], { ...request, target: 'keys', targetVm: { name: 'keys', label: 'vault', kind: 'appvm' } }).action, 'ask');
    assert.equal(decide([...rules, ...BUILT_IN_RULES], { ...request, source: web, targetVm: mail, target: 'mail' }).action, 'allow');
  });

  test('a VM can never call the clipboard services itself (rpcd refuses them)', () => {
    assert.ok(HOST_ONLY_SERVICES.has('vms.ClipboardCopy'));
    assert.ok(HOST_ONLY_SERVICES.has('vms.ClipboardPaste'));
  });
});

describe('notifications', () => {
  test('VMs by [label] name in their label colors, markup escaped', () => {
    assert.equal(vmMarkup({ name: 'mail', label: 'work', color: '#2563eb' }), '<span foreground="#2563eb"><b>[work] mail</b></span>');
    assert.equal(vmMarkup({ name: 'a<b', label: 'x&y' }), '<b>[x&amp;y] a&lt;b</b>');
    assert.equal(vmMarkup({ name: 'mail', label: 'work', color: 'red"/><x' }), '<b>[work] mail</b>');
  });

  test('the color dot as the icon when vms ships one', () => {
    const args = notifyArgs('Copied', 'body', '#2563eb');
    assert.equal(args[0], '--app-name=vms');
    assert.match(args[args.indexOf('--icon') + 1], /icons\/dot-2563eb\.png$/);
    assert.deepEqual(notifyArgs('Copied', 'body', '#123456').slice(-2), ['Copied', 'body']);
    assert.equal(notifyArgs('Copied', 'body', '#123456').includes('--icon'), false);
  });
});
