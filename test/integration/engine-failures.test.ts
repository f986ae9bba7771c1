import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { bootableBlank, CLI, makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';

/** Failure and bad input, on the real libvirtd, as the unprivileged desktop user, with no guest booted. */
// Names unique to this run: domains are global to libvirtd, and another run may share it.
const run = Math.random().toString(36).slice(2, 6);
const n = (name: string) => `${name}${run}`;

describe('failures leave nothing behind', { timeout: 300_000 }, () => {
  let t: TestEngine;
  let blank: string;

  before(async () => {
    t = await makeTestEngine('fail');
    blank = join(t.scratch, 'blank.qcow2');
    await bootableBlank(blank, '2G');
    assert.equal((await t.vms(['template', 'import', n('tpl'), blank])).exitCode, 0);
  });
  after(async () => t.cleanup());

  /** What the test's pool holds, and every domain libvirt has: "nothing written" means neither changed. */
  async function state(): Promise<{ volumes: string[]; domains: string }> {
    return { volumes: await t.volumes(), domains: (await execa('virsh', ['-q', '-c', t.config.uri, 'list', '--all', '--name'])).stdout };
  }

  test('every generated domain XML passes libvirt’s own schema', async () => {
    await t.engine.create(n('schema1'), { template: n('tpl'), label: 'work' });
    await t.engine.clone(n('schema1'), n('schema2'));
    for (const name of [n('tpl'), n('schema1'), n('schema2')]) {
      const xml = (await execa('virsh', ['-c', t.config.uri, 'dumpxml', '--inactive', name])).stdout;
      const file = join(t.scratch, `${name}.xml`);
      await writeFile(file, xml);
      const check = await execa('virt-xml-validate', [file, 'domain'], { reject: false });
      assert.equal(check.exitCode, 0, `${name}: ${check.stderr}${check.stdout}`);
    }
    await t.engine.delete(n('schema2'));
    await t.engine.delete(n('schema1'));
  });

  test('bad names, missing templates and taken names: one line, non-zero exit, nothing written', async () => {
    const before = await state();
    const cases: Array<[string[], RegExp]> = [
      [['create', '../escape', '--template', n('tpl')], /^vms: The name "\.\.\/escape" is not allowed: use a letter/],
      [['create', 'a;reboot', '--template', n('tpl')], /is not allowed/],
      [['create', "x'><y", '--template', n('tpl')], /is not allowed/],
      [['create', n('ok1'), '--template', 'missing'], /^vms: There is no template named "missing": see `vms list`/],
      [['create', n('tpl'), '--template', n('tpl')], new RegExp(`^vms: A VM named "${n('tpl')}" already exists: choose another name\\.`)],
      [['create', n('ok2'), '--template', n('tpl'), '--memory', 'lots'], /--memory: "lots" is not a size/],
      [['create', n('ok3'), '--template', n('tpl'), '--disk-size', '10'], /has no unit/],
      [['create', n('ok4'), '--template', n('tpl'), '--domain', 'Work Stuff'], /The domain "Work Stuff" is not allowed/],
      [['start', n('nothere')], new RegExp(`^vms: There is no VM named "${n('nothere')}": see \`vms list\`\\.`)],
      [['template', 'import', n('t2'), '/nonexistent.qcow2'], /^vms: Cannot read the disk image/],
      [['clone', n('tpl'), 'x/y'], /is not allowed/],
    ];
    for (const [argv, message] of cases) {
      const run = await t.vms(argv);
      assert.notEqual(run.exitCode, 0, argv.join(' '));
      assert.match(run.stderr, message, argv.join(' '));
      assert.equal(run.stderr.trim().split('\n').length, 1, `one line: ${run.stderr}`);
    }
    assert.deepEqual(await state(), before);
  });

  test('libvirt not reachable: a sentence that says what to do', async () => {
    const run = await execa(process.execPath, [CLI, 'list'], { env: { ...t.env, VMS_URI: 'qemu+unix:///system?socket=/run/nonexistent.sock' }, reject: false });
    assert.equal(run.exitCode, 1);
    assert.match(run.stderr, /^vms: Cannot reach libvirt at qemu\+unix:\/\/\/system\?socket=\/run\/nonexistent\.sock: start it \(sudo systemctl start libvirtd\)/);
  });

  test('two commands on the same name at once: one wins, the other gets a clear error', async () => {
    const runs = await Promise.all([t.vms(['create', n('race'), '--template', n('tpl')]), t.vms(['create', n('race'), '--template', n('tpl')])]);
    const codes = runs.map((r) => r.exitCode).sort();
    assert.deepEqual(codes, [0, 1], runs.map((r) => r.stderr).join('\n'));
    const loser = runs.find((r) => r.exitCode === 1)!;
    assert.match(loser.stderr, new RegExp(`^vms: (Another vms command is working on "${n('race')}" right now|A VM named "${n('race')}" already exists)`));
    assert.equal((await t.engine.info(n('race'))).meta.kind, 'appvm');
    await t.engine.delete(n('race'));
  });

  test('a full clone killed with SIGKILL half-way leaves nothing once the next command ran', async () => {
    // A template with real data, so libvirt's copy takes a moment.
    const data = join(t.scratch, 'data.qcow2');
    await bootableBlank(data, '4G');
    // After the GPT, so the image still passes the template check.
    await execa('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 1500M', data]);
    assert.equal((await t.vms(['template', 'import', n('big'), data])).exitCode, 0);
    await rm(data);
    const child = spawn(process.execPath, [CLI, 'clone', n('big'), n('half'), '--full'], { env: t.env, stdio: 'ignore' });
    const halfVolumes = async () => (await t.volumes()).filter((v) => v.startsWith(`${n('half')}.`));
    const deadline = Date.now() + 20_000;
    while ((await halfVolumes()).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok((await halfVolumes()).length > 0, 'the clone had begun');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    // libvirtd may still be writing the copy: the next commands remove it once it may.
    const cleanBy = Date.now() + 60_000;
    do {
      const list = await t.vms(['list', '--json']);
      assert.equal(list.exitCode, 0, list.stderr);
    } while ((await halfVolumes()).length > 0 && Date.now() < cleanBy && (await new Promise((r) => setTimeout(r, 500)), true));
    assert.deepEqual(await halfVolumes(), [], 'the next command removed the half-made volumes');
    assert.equal(await t.engine.find(n('half')), undefined);
    // The name is free again.
    assert.equal((await t.vms(['clone', n('big'), n('half')])).exitCode, 0);
    await t.engine.delete(n('half'));
    await t.engine.delete(n('big'));
  });
});
