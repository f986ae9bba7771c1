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

test('groups have help, --version prints the version, typos get a suggestion', { timeout: 10_000 }, async () => {
  for (const group of ['network', 'template', 'usb', 'cache', 'config']) {
    const run = capture();
    assert.equal(await runCli([group, '--help'], { io: run.io }), 0, group);
    assert.match(run.seen.out.join(''), new RegExp(`vms ${group} \\w+`), group);
  }
  const version = capture();
  assert.equal(await runCli(['--version'], { io: version.io }), 0);
  assert.match(version.seen.out.join(''), /^vms \d+\.\d+\.\d+$/);
  const typo = capture();
  assert.equal(await runCli(['lsit'], { io: typo.io }), 2);
  assert.match(typo.seen.err.join(''), /"lsit" is not a vms verb: see `vms --help`\. Did you mean "list"\?/);
  const groupTypo = capture();
  assert.equal(await runCli(['network', 'delet'], { io: groupTypo.io }), 2);
  assert.match(groupTypo.seen.err.join(''), /Did you mean "delete"\?/);
});

test('destructive verbs need --yes without a terminal, and nothing runs before', { timeout: 10_000 }, async () => {
  // No io.ask: like a pipe. An unreachable libvirt proves the refusal comes before any libvirt call.
  const env = { VMS_URI: 'test:///nowhere', VMS_ACCEL: 'tcg' };
  const run = capture();
  assert.equal(await runCli(['network', 'delete', 'work'], { io: run.io, env }), 1);
  assert.equal(run.seen.err.join(''), 'vms: `vms network delete work` asks first, and there is no terminal to ask on: add --yes (vms network delete work --yes).\n');
  const answered: string[] = [];
  const no = capture();
  const io = { ...no.io, ask: async (q: string) => { answered.push(q); return 'n'; } };
  assert.equal(await runCli(['cache', 'prune', '--keep', '0'], { io, env }), 1);
  assert.match(answered[0], /Remove every cached version of every package \(--keep 0\).*\[y\/N\] $/);
  assert.equal(no.seen.err.join(''), 'vms: Nothing was changed.\n');
});
