import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { volumeInfo } from '../../main/engine/libvirt/storage.js';
import { makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { guestHasFile, sh, startAndConnect } from '../helpers/guest.js';
import { SerialConsole } from '../helpers/serial-console.js';

/**
 * The engine with real guests, as the unprivileged desktop user: a busybox guest booted by OVMF and
 * systemd-boot under TCG, its disks volumes of the test's own libvirt pool, its /home on the private disk
 * the engine made. Each test leaves its VMs shut off for the next.
 */
// Names unique to this run: domains are global to libvirtd, and another run may share it.
const run = Math.random().toString(36).slice(2, 6);
const TPL = `tpl${run}`;
const W1 = `work1${run}`;
const W2 = `work2${run}`;

describe('VMs with booted guests', { timeout: 900_000 }, () => {
  let t: TestEngine;
  const consoles: SerialConsole[] = [];
  const open = (c: SerialConsole) => (consoles.push(c), c);

  before(async () => {
    t = await makeTestEngine('guests');
    await t.engine.importTemplate(TPL, await testGuestImage());
  });
  after(async () => {
    for (const c of consoles) c.close();
    await t.cleanup();
  });

  test('a file in an appvm’s private disk survives a restart; its root is fresh from the template', async () => {
    await t.engine.create(W1, { template: TPL, label: 'work' });
    let c = open(await startAndConnect(t.engine, W1));
    await sh(c, 'echo kept > /home/note && echo scratch > /root-scratch && sync');
    c.close();
    await t.engine.stop(W1);
    assert.equal((await t.engine.info(W1)).state, 'shut off');

    c = open(await startAndConnect(t.engine, W1));
    assert.equal(await sh(c, 'cat /home/note'), 'kept');
    assert.equal(await guestHasFile(c, '/root-scratch'), false, 'the root is remade from the template at start');
    c.close();
    await t.engine.stop(W1);
  });

  test('a template update reaches an appvm at its next start and never touches a running one', async () => {
    const running = open(await startAndConnect(t.engine, W1));
    const versionBefore = (await t.engine.info(TPL)).meta.imageVersion!;
    const layout = t.engine.ctx.layout;
    const versionVolume = layout.templateVersionVolume(TPL, versionBefore);
    const runningRoot = await volumeInfo(t.engine.ctx.libvirt, t.pool, layout.rootVolume(W1));
    assert.equal(runningRoot?.backingPath, layout.volumePath(versionVolume), 'libvirt’s volume XML names the published version as backing');
    assert.equal((await volumeInfo(t.engine.ctx.libvirt, t.pool, versionVolume))?.readOnly, true, 'a published version is read-only');

    const tpl = open(await startAndConnect(t.engine, TPL));
    await sh(tpl, 'echo v2 > /etc/template-update && sync');
    tpl.close();
    await t.engine.stop(TPL);
    const template = await t.engine.info(TPL);
    assert.equal(template.meta.imageVersion, versionBefore + 1, 'the update was published');
    assert.equal(template.meta.updating, undefined);

    assert.equal(await guestHasFile(running, '/etc/template-update'), false, 'a running child keeps its version');
    assert.ok(await volumeInfo(t.engine.ctx.libvirt, t.pool, versionVolume), 'the version a running child uses is kept');
    const published = await volumeInfo(t.engine.ctx.libvirt, t.pool, layout.templateVersionVolume(TPL, versionBefore + 1));
    assert.equal(published?.readOnly, true, 'the new version is read-only');
    assert.equal(published?.backingPath, undefined, 'and flattened');
    running.close();
    await t.engine.stop(W1);

    const c = open(await startAndConnect(t.engine, W1));
    assert.equal(await sh(c, 'cat /etc/template-update'), 'v2');
    assert.equal(await sh(c, 'cat /home/note'), 'kept');
    c.close();
    await t.engine.stop(W1);
  });

  test('a linked clone and its source do not see each other’s writes', async () => {
    const clone = await t.engine.clone(W1, W2);
    assert.equal(clone.meta.kind, 'appvm');
    assert.notEqual(clone.uuid, (await t.engine.info(W1)).uuid);

    const [a, b] = await Promise.all([startAndConnect(t.engine, W1, 300_000), startAndConnect(t.engine, W2, 300_000)]);
    open(a); open(b);
    assert.equal(await sh(b, 'cat /home/note'), 'kept', 'the clone starts with the source’s data');
    await sh(a, 'echo a > /home/only-a && sync');
    await sh(b, 'echo b > /home/only-b && sync');
    a.close(); b.close();
    await Promise.all([t.engine.stop(W1), t.engine.stop(W2)]);

    const [a2, b2] = await Promise.all([startAndConnect(t.engine, W1, 300_000), startAndConnect(t.engine, W2, 300_000)]);
    open(a2); open(b2);
    assert.equal(await guestHasFile(a2, '/home/only-a'), true);
    assert.equal(await guestHasFile(a2, '/home/only-b'), false);
    assert.equal(await guestHasFile(b2, '/home/only-b'), true);
    assert.equal(await guestHasFile(b2, '/home/only-a'), false);
    a2.close(); b2.close();
    await Promise.all([t.engine.stop(W1), t.engine.stop(W2)]);
  });

  test('a disposable is gone, with its disk and NVRAM, after it powers off from inside', async () => {
    const run = await t.vms(['disposable', '--template', TPL, '--json']);
    assert.equal(run.exitCode, 0, run.stderr);
    const vm = JSON.parse(run.stdout) as { name: string; nvramPath: string; disks: Array<{ volume: string }> };
    assert.match(vm.name, /^disp\d{4}$/);
    const own = async (name: string) => (await t.volumes()).filter((v) => v.startsWith(`${name}.`));
    const c = open(await SerialConsole.forDomain(vm.name));
    await c.waitFor('VMS-GUEST-UP', 120_000);
    await sh(c, 'echo secret > /root/left-behind && sync');
    assert.deepEqual(vm.disks.map((d) => d.volume), [`${vm.name}.root.qcow2`]);
    assert.ok((await own(vm.name)).includes(`${vm.name}.root.qcow2`));
    c.write('poweroff\n');
    c.close();

    // The detached watcher reaps it on libvirt's lifecycle event.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && ((await t.engine.find(vm.name)) || (await own(vm.name)).length > 0)) await new Promise((r) => setTimeout(r, 200));
    assert.equal(await t.engine.find(vm.name), undefined, 'domain gone');
    assert.deepEqual(await own(vm.name), [], 'its root, NVRAM and console log volumes are gone');

    const next = await t.engine.disposable({ template: TPL });
    const c2 = open(await SerialConsole.forDomain(next.name));
    await c2.waitFor('VMS-GUEST-UP', 120_000);
    assert.equal(await guestHasFile(c2, '/root/left-behind'), false, 'a new disposable starts clean');
    c2.close();
    await t.engine.kill(next.name);
    assert.deepEqual(await own(next.name), [], 'kill discards it too');
  });

  test('deleting a template with children is refused, naming them; then everything deletes cleanly', async () => {
    const refused = await t.vms(['delete', TPL, '--yes']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, new RegExp(`^vms: "${TPL}" cannot be deleted: ${W1}, ${W2} are built on it; delete them first\\.$`));
    assert.ok(await t.engine.find(TPL), 'still there');

    for (const name of [W2, W1, TPL]) assert.equal((await t.vms(['delete', name, '--yes', '--force'])).exitCode, 0, name);
    // `vms list` shows every vms VM on this libvirt; none of this test's may be left.
    const left = JSON.parse((await t.vms(['list', '--json'])).stdout) as Array<{ name: string }>;
    assert.deepEqual(left.filter((vm) => [W1, W2, TPL].includes(vm.name)), []);
    // Nothing is left in the pool but the shared empty /home base.
    assert.deepEqual((await t.volumes()).filter((v) => !v.startsWith('_home-')), []);
  });
});
