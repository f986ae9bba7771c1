import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import type { Finding, VmInfo } from '../../main/engine/index.js';
import { bootableBlank, CLI, makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';

/**
 * Twenty operations at once (issue 13, part 3): creates, linked clones, deletes, disposables started and
 * killed, on two templates imported from blank images, each through the real CLI as the desktop user.
 * No deadlock (every command ends within its timeout), every command succeeds or says why in one line
 * (a busy name is fine), and afterwards `vms check` finds nothing.
 */
const run = Math.random().toString(36).slice(2, 6);
const n = (name: string) => `${name}${run}`;
const COMMAND_TIMEOUT_MS = 240_000;

interface CliRun { argv: string[]; exitCode?: number; signal?: string; timedOut: boolean; stdout: string; stderr: string; ms: number }

describe('twenty operations at once', { timeout: 600_000 }, () => {
  let t: TestEngine;

  async function cli(argv: string[]): Promise<CliRun> {
    const started = performance.now();
    const r = await execa(process.execPath, [CLI, ...argv], { env: { ...t.env, LC_ALL: 'C' }, reject: false, timeout: COMMAND_TIMEOUT_MS });
    return { argv, exitCode: r.exitCode, signal: r.signal ?? undefined, timedOut: r.timedOut, stdout: String(r.stdout), stderr: String(r.stderr), ms: Math.round(performance.now() - started) };
  }
  const disposableName = (r: CliRun) => (JSON.parse(r.stdout) as VmInfo).name;

  before(async () => {
    t = await makeTestEngine('par');
    const blank = join(t.scratch, 'blank.qcow2');
    await bootableBlank(blank, '2G');
    for (const template of [n('ta'), n('tb')]) assert.equal((await cli(['template', 'import', template, blank])).exitCode, 0);
    for (const [name, template] of [['s1', 'ta'], ['s2', 'tb'], ['d1', 'ta'], ['d2', 'tb'], ['d3', 'ta'], ['d4', 'tb']]) {
      const made = await cli(['create', n(name), '--template', n(template)]);
      assert.equal(made.exitCode, 0, made.stderr);
    }
  });
  after(async () => t.cleanup());

  test('creates, linked clones, deletes, disposables started and killed: all end, one line each, check clean', async () => {
    // Two disposables already running, to be killed in the burst.
    const running = await Promise.all([cli(['disposable', '--template', n('ta'), '--json']), cli(['disposable', '--template', n('tb'), '--json'])]);
    for (const r of running) assert.equal(r.exitCode, 0, r.stderr);
    const ops: string[][] = [
      ...[1, 2, 3, 4, 5, 6, 7].map((i) => ['create', n(`c${i}`), '--template', n(i % 2 ? 'ta' : 'tb')]),
      // Two clones of each source at once: the second may find the source busy.
      ['clone', n('s1'), n('k1')], ['clone', n('s1'), n('k2')], ['clone', n('s2'), n('k3')], ['clone', n('s2'), n('k4')],
      ...['d1', 'd2', 'd3', 'd4'].map((d) => ['delete', n(d), '--yes']),
      ['disposable', '--template', n('ta'), '--json'], ['disposable', '--template', n('tb'), '--json'], ['disposable', '--template', n('ta'), '--json'],
      ...running.map((r) => ['kill', disposableName(r)]),
    ];
    assert.equal(ops.length, 20);
    const started = performance.now();
    const results = await Promise.all(ops.map(cli));
    const seconds = Math.round((performance.now() - started) / 1000);

    const failures: string[] = [];
    for (const r of results) {
      assert.ok(!r.timedOut, `${r.argv.join(' ')} did not end within ${COMMAND_TIMEOUT_MS / 1000} s: a deadlock?`);
      assert.equal(r.signal, undefined, r.argv.join(' '));
      if (r.exitCode === 0) continue;
      assert.equal(r.exitCode, 1, `${r.argv.join(' ')}: ${r.stderr}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      assert.match(r.stderr, /^vms: Another vms command is working on "[^"]+" right now: wait for it to finish and try again\.$/m, `${r.argv.join(' ')}: only a busy name may fail`);
      failures.push(`${r.argv.slice(0, 3).join(' ')}: busy`);
    }
    console.log(`20 operations at once: ${seconds} s, ${20 - failures.length} succeeded, ${failures.length} busy (${failures.join('; ') || 'none'})`);

    const vms = (await t.engine.list()).map((vm) => vm.name);
    for (const [i, r] of results.entries()) {
      const [verb, first, second] = ops[i];
      if (r.exitCode !== 0) continue;
      if (verb === 'create') assert.ok(vms.includes(first), `${first} was created`);
      if (verb === 'clone') assert.ok(vms.includes(second) && vms.includes(first), `${second} was cloned from ${first}, which is still there`);
      if (verb === 'delete' || verb === 'kill') assert.ok(!vms.includes(first), `${first} is gone`);
    }

    // The disposables started in the burst are killed at once too.
    const killed = await Promise.all(results.filter((r) => r.argv[0] === 'disposable' && r.exitCode === 0).map((r) => cli(['kill', disposableName(r)])));
    for (const r of killed) assert.equal(r.exitCode, 0, r.stderr);

    const check = await cli(['check', '--json']);
    const remaining = (JSON.parse(check.stdout) as { remaining: Finding[] }).remaining;
    const global = new Set(['orphan-filter', 'stale-dhcp-host', 'unused-network']);
    const ours = remaining.filter((f) => !global.has(f.kind) || (f.vm ?? '').endsWith(run) || /^disp\d+$/.test(f.vm ?? '') && results.some((r) => r.stdout.includes(`"${f.vm}"`)));
    assert.deepEqual(ours, [], 'vms check after the burst');
    // Domains are global: only disposables with their disk in this test's pool are this test's.
    assert.deepEqual((await t.engine.list()).filter((vm) => vm.meta.kind === 'disposable' && vm.disks.some((d) => d.pool === t.pool)).map((vm) => vm.name), [], 'no disposable is left');
  });
});
