import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { readBackingChain } from '../../main/engine/qcow2-header.js';
import { makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { guestHasFile, sh, startAndConnect } from '../helpers/guest.js';
import { SerialConsole } from '../helpers/serial-console.js';

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * The engine with real guests: a busybox guest booted by OVMF and systemd-boot under TCG, its /home on the
 * private disk the engine made. Each test leaves its VMs shut off for the next.
 */
describe('VMs with booted guests', { timeout: 900_000 }, () => {
  let t: TestEngine;
  const consoles: SerialConsole[] = [];
  const open = (c: SerialConsole) => (consoles.push(c), c);

  before(async () => {
    t = await makeTestEngine('guests');
    await t.engine.importTemplate('tpl', await testGuestImage());
  });
  after(async () => {
    for (const c of consoles) c.close();
    await t.cleanup();
  });

  test('a file in an appvm’s private disk survives a restart; its root is fresh from the template', async () => {
    await t.engine.create('work1', { template: 'tpl', label: 'work' });
    let c = open(await startAndConnect(t.engine, 'work1'));
    await sh(c, 'echo kept > /home/note && echo scratch > /root-scratch && sync');
    c.close();
    await t.engine.stop('work1');
    assert.equal((await t.engine.info('work1')).state, 'shut off');

    c = open(await startAndConnect(t.engine, 'work1'));
    assert.equal(await sh(c, 'cat /home/note'), 'kept');
    assert.equal(await guestHasFile(c, '/root-scratch'), false, 'the root is remade from the template at start');
    c.close();
    await t.engine.stop('work1');
  });

  test('a template update reaches an appvm at its next start and never touches a running one', async () => {
    const running = open(await startAndConnect(t.engine, 'work1'));
    const versionBefore = (await t.engine.info('tpl')).meta.imageVersion!;
    const runningChain = await readBackingChain(t.engine.ctx.layout.rootDisk('work1'));
    assert.equal(runningChain[1], t.engine.ctx.layout.templateVersion('tpl', versionBefore));

    const tpl = open(await startAndConnect(t.engine, 'tpl'));
    await sh(tpl, 'echo v2 > /etc/template-update && sync');
    tpl.close();
    await t.engine.stop('tpl');
    const template = await t.engine.info('tpl');
    assert.equal(template.meta.imageVersion, versionBefore + 1, 'the update was published');
    assert.equal(template.meta.updating, undefined);

    assert.equal(await guestHasFile(running, '/etc/template-update'), false, 'a running child keeps its version');
    assert.ok(await exists(runningChain[1]), 'the version a running child uses is kept');
    running.close();
    await t.engine.stop('work1');

    const c = open(await startAndConnect(t.engine, 'work1'));
    assert.equal(await sh(c, 'cat /etc/template-update'), 'v2');
    assert.equal(await sh(c, 'cat /home/note'), 'kept');
    c.close();
    await t.engine.stop('work1');
  });

  test('a linked clone and its source do not see each other’s writes', async () => {
    const clone = await t.engine.clone('work1', 'work2');
    assert.equal(clone.meta.kind, 'appvm');
    assert.notEqual(clone.uuid, (await t.engine.info('work1')).uuid);

    const [a, b] = await Promise.all([startAndConnect(t.engine, 'work1'), startAndConnect(t.engine, 'work2')]);
    open(a); open(b);
    assert.equal(await sh(b, 'cat /home/note'), 'kept', 'the clone starts with the source’s data');
    await sh(a, 'echo a > /home/only-a && sync');
    await sh(b, 'echo b > /home/only-b && sync');
    a.close(); b.close();
    await Promise.all([t.engine.stop('work1'), t.engine.stop('work2')]);

    const [a2, b2] = await Promise.all([startAndConnect(t.engine, 'work1'), startAndConnect(t.engine, 'work2')]);
    open(a2); open(b2);
    assert.equal(await guestHasFile(a2, '/home/only-a'), true);
    assert.equal(await guestHasFile(a2, '/home/only-b'), false);
    assert.equal(await guestHasFile(b2, '/home/only-b'), true);
    assert.equal(await guestHasFile(b2, '/home/only-a'), false);
    a2.close(); b2.close();
    await Promise.all([t.engine.stop('work1'), t.engine.stop('work2')]);
  });

  test('a disposable is gone, with its disk and NVRAM, after it powers off from inside', async () => {
    const run = await t.vms(['disposable', '--template', 'tpl', '--json']);
    assert.equal(run.exitCode, 0, run.stderr);
    const vm = JSON.parse(run.stdout) as { name: string; nvramPath: string; disks: Array<{ path: string }> };
    assert.match(vm.name, /^disp\d{4}$/);
    const dir = t.engine.ctx.layout.vmDir(vm.name);
    const c = open(await SerialConsole.forDomain(vm.name));
    await c.waitFor('VMS-GUEST-UP', 120_000);
    await sh(c, 'echo secret > /root/left-behind && sync');
    assert.ok(await exists(vm.disks[0].path));
    c.write('poweroff\n');
    c.close();

    // The detached watcher reaps it on libvirt's lifecycle event.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ((await t.engine.find(vm.name)) || (await exists(dir)))) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await t.engine.find(vm.name), undefined, 'domain gone');
    assert.equal(await exists(dir), false, 'disk folder gone');
    assert.equal(await exists(vm.nvramPath), false, 'NVRAM gone');

    const next = await t.engine.disposable({ template: 'tpl' });
    const c2 = open(await SerialConsole.forDomain(next.name));
    await c2.waitFor('VMS-GUEST-UP', 120_000);
    assert.equal(await guestHasFile(c2, '/root/left-behind'), false, 'a new disposable starts clean');
    c2.close();
    await t.engine.kill(next.name);
    assert.equal(await exists(t.engine.ctx.layout.vmDir(next.name)), false, 'kill discards it too');
  });

  test('deleting a template with children is refused, naming them; then everything deletes cleanly', async () => {
    const refused = await t.vms(['delete', 'tpl', '--yes']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /^vms: "tpl" cannot be deleted: work1, work2 are built on it; delete them first\.$/);
    assert.ok(await t.engine.find('tpl'), 'still there');

    for (const name of ['work2', 'work1', 'tpl']) assert.equal((await t.vms(['delete', name, '--yes', '--force'])).exitCode, 0, name);
    // `vms list` shows every vms VM on this libvirt; none of this test's may be left.
    const left = JSON.parse((await t.vms(['list', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(left.filter((vm) => ['work1', 'work2', 'tpl'].includes(vm.name)), []);
  });
});
