import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCli } from '../../main/cli/run-cli.js';
import { COMMANDS } from '../../main/cli/commands/index.js';
import { groupByLabel, progressBar } from '../../main/cli/format.js';
import { parseDomainList } from '../../main/engine/libvirt/domains.js';
import type { VmInfo } from '../../main/engine/types.js';

function capture() {
  const io = { out: [] as string[], err: [] as string[], interactive: false };
  return { io: { out: (t: string) => io.out.push(t), err: (t: string) => io.err.push(t), interactive: false }, seen: io };
}

test('every verb has --help, and --help lists every visible verb', async () => {
  const main = capture();
  assert.equal(await runCli(['--help'], { io: main.io }), 0);
  for (const command of COMMANDS.filter((c) => !c.hidden)) {
    assert.ok(main.seen.out.join('').includes(command.name), command.name);
    const one = capture();
    assert.equal(await runCli([...command.name.split(' '), '--help'], { io: one.io }), 0, command.name);
    assert.match(one.seen.out.join(''), new RegExp(`Usage: vms ${command.name}`));
    if (command.json) assert.match(one.seen.out.join(''), /--json/, `${command.name} prints state, so it takes --json`);
  }
});

test('usage mistakes get one line and exit 2, before anything runs', async () => {
  for (const argv of [['frobnicate'], ['create'], ['create', 'a', 'b'], ['create', 'x', '--bogus'], ['template'], ['list', 'extra']]) {
    const run = capture();
    assert.equal(await runCli(argv, { io: run.io, env: { VMS_URI: 'test:///nowhere' } }), 2, argv.join(' '));
    const text = run.seen.err.join('');
    assert.match(text, /^vms: /);
    assert.equal(text.trim().split('\n').length, 1, text);
  }
});

test('bad names are refused with exit 1 and one line', async () => {
  const run = capture();
  // An unreachable libvirt URI proves the name check comes first.
  assert.equal(await runCli(['create', '../../etc', '--template', 't'], { io: run.io, env: { VMS_URI: 'qemu+unix:///system?socket=/nonexistent', VMS_IMAGES_DIR: '/nonexistent', VMS_ACCEL: 'tcg' } }), 1);
  assert.match(run.seen.err.join(''), /^vms: The name "\.\.\/\.\.\/etc" is not allowed/);
});

test('virsh list output is parsed, two-word states included', () => {
  const out = ' Id   Name    State\n----------------------\n 3    work1   running\n -    tpl     shut off\n';
  assert.deepEqual(parseDomainList(out), [{ name: 'work1', state: 'running' }, { name: 'tpl', state: 'shut off' }]);
  assert.deepEqual(parseDomainList(' -   tpl   shut off\n'), [{ name: 'tpl', state: 'shut off' }], 'virsh --quiet has no header');
});

test('list groups by domain in the usual order with templates last', () => {
  const vm = (name: string, label: string, kind: VmInfo['meta']['kind']) => ({ name, meta: { kind, label } }) as VmInfo;
  const groups = groupByLabel([vm('t', 'template', 'template'), vm('z', 'zoo', 'appvm'), vm('b', 'work', 'appvm'), vm('d1', 'disposable', 'disposable'), vm('h', 'hobby', 'appvm'), vm('a', 'work', 'standalone')]);
  assert.deepEqual(groups.map((g) => g.label), ['work', 'hobby', 'disposable', 'zoo', 'templates']);
  assert.deepEqual(groups[0].vms.map((v) => v.name), ['b', 'a']);
  assert.equal(progressBar(50, 10), '[#####.....]  50%');
});
