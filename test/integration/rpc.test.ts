import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa, type ResultPromise } from 'execa';
import { CLI, makeTestEngine, testGuestImage, testUser, type TestEngine } from '../helpers/engine-fixture.js';
import { sh, startAndConnect } from '../helpers/guest.js';
import type { SerialConsole } from '../helpers/serial-console.js';

/**
 * vms rpc with real parts: `vms rpcd` as the desktop user on the real libvirtd, two booted busybox guests
 * (A and B) that call each other with the guest's own vms-rpc and vms-copy over their virtio consoles,
 * and a third VM (C) that is never started. The policy is the user's ~/.config/vms/policy.
 */
const run = Math.random().toString(36).slice(2, 6);
const TPL = `rtpl${run}`;
const A = `rpca${run}`;
const B = `rpcb${run}`;
const C = `rpcc${run}`;

function policyText(extra = ''): string {
  return [
    '# test policy',
    `vms.FileCopy ${A} ${B} allow`,
    `vms.Ping @label:work @anyvm allow`,
    `test.Ask ${A} ${B} ask`,
    `vms.Ping ${A} @dispvm:${TPL} allow`,
    extra,
    '',
  ].join('\n');
}

/** The seconds of the guest's uptime clock, for timing inside the guest. */
const uptime = (text: string) => Number(text.trim().split(/\s+/)[0]);

describe('calls between VMs under a policy', { timeout: 480_000 }, () => {
  let t: TestEngine;
  let rpcd: ResultPromise;
  let rpcdLog = '';
  let a: SerialConsole;
  let b: SerialConsole;
  let policyFile: string;

  before(async () => {
    t = await makeTestEngine('rpc');
    policyFile = join(t.env.VMS_CONFIG_DIR!, 'policy');
    await writeFile(policyFile, policyText());
    await t.engine.importTemplate(TPL, await testGuestImage());
    await t.engine.create(A, { template: TPL, label: 'work' });
    await t.engine.create(B, { template: TPL, label: 'personal' });
    await t.engine.create(C, { template: TPL, label: 'work' });
    // The service as the desktop user runs it (the tray app calls the same startRpcService).
    const user = testUser();
    const command = user ? ['runuser', '-u', user, '--', process.execPath, CLI, 'rpcd'] : [process.execPath, CLI, 'rpcd'];
    rpcd = execa(command[0], command.slice(1), { env: { ...t.env, VMS_POLICY_DIR: join(t.scratch, 'no-system-policy'), LC_ALL: 'C' }, detached: true, reject: false, buffer: false });
    rpcd.stderr?.on('data', (chunk: Buffer) => { rpcdLog += chunk.toString(); });
    const started = Date.now();
    while (!rpcdLog.includes('ready') && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 100));
    assert.match(rpcdLog, /ready/, `vms rpcd did not start: ${rpcdLog}`);
    [a, b] = await Promise.all([startAndConnect(t.engine, A), startAndConnect(t.engine, B)]);
  });

  after(async () => {
    a?.close();
    b?.close();
    // The group of the one process this test started, by its pid.
    if (rpcd?.pid) try { process.kill(-rpcd.pid, 'SIGTERM'); } catch { /* gone */ }
    await t?.cleanup();
  });

  test('an allowed vms-copy delivers the file with the same hash; an empty call\'s round trip', async () => {
    const size = 2 * 1024 * 1024;
    const hash = await sh(a, `head -c ${size} /dev/urandom >/tmp/payload.bin && sha256sum /tmp/payload.bin | cut -d' ' -f1`);
    // About 30 s under TCG on a shared machine: longer than sh()'s 30 s.
    const times = (await a.run(`cat /proc/uptime; vms-copy /tmp/payload.bin ${B}; echo "rc=$?"; cat /proc/uptime`, 180_000)).output;
    const [before, rc, after] = times.split('\n');
    assert.equal(rc, 'rc=0', times);
    const seconds = uptime(after) - uptime(before);
    assert.equal(await sh(b, `sha256sum /root/Incoming/${A}/payload.bin | cut -d' ' -f1`), hash);
    console.log(`# vms-copy of ${size / 1024 / 1024} MiB from ${A} to ${B}: ${seconds.toFixed(2)} s, ${(size / 1024 / seconds).toFixed(0)} KiB/s`);

    const again = await a.run(`vms-copy /tmp/payload.bin ${B}`, 120_000);
    assert.notEqual(again.exitCode, 0, 'a second copy of the same name does not overwrite');
    assert.match(again.output, /exists already/);

    const pings = (await a.run(`for i in $(seq 20); do s=$(cut -d' ' -f1 /proc/uptime); vms-rpc vms.Ping ${B} </dev/null || echo fail; e=$(cut -d' ' -f1 /proc/uptime); echo "$s $e"; done`, 120_000)).output;
    assert.doesNotMatch(pings, /fail/);
    const rounds = pings.split('\n').map((l) => { const [s, e] = l.split(' ').map(Number); return (e - s) * 1000; }).sort((x, y) => x - y);
    console.log(`# empty call ${A} → ${B}: median ${rounds[10].toFixed(0)} ms of 20 (min ${rounds[0].toFixed(0)}, max ${rounds[19].toFixed(0)}; the guest clock counts 10 ms)`);
  });

  test('a denied copy delivers nothing, and a target that is off is not started for it', async () => {
    await sh(b, 'echo secret >/tmp/small.txt');
    const denied = await b.run(`vms-copy /tmp/small.txt ${A}`, 60_000);
    assert.notEqual(denied.exitCode, 0);
    assert.match(denied.output, /refused by the host's policy/);
    assert.equal((await a.run(`ls /root/Incoming/${B}`)).exitCode, 1, 'nothing arrived');

    await sh(a, 'echo hello >/tmp/small.txt');
    const toOff = await a.run(`vms-copy /tmp/small.txt ${C}`, 60_000);
    assert.match(toOff.output, /refused by the host's policy/);
    assert.equal((await t.engine.info(C)).state, 'shut off', 'the target was never started');
  });

  test('a spoofed source name in the request changes nothing: the host knows the caller by its console', async () => {
    // B writes a call by hand that claims to come from A (which may copy to B; B may not copy to A).
    const arg = Buffer.from('6 spoof.txt').toString('base64');
    const reply = await sh(b, `sh -c 'exec 3<>/dev/hvc0; stty raw -echo <&3; printf "CALL spoof1 vms.FileCopy ${A} ${arg} source=${A} from=${A}\\n" >&3; read -r reply <&3; echo "$reply"'`);
    assert.match(reply, /^F spoof1 refused by the host's policy/);
    assert.equal((await a.run(`ls /root/Incoming/${B} /root/Incoming/${A}`)).exitCode, 1);
    const log = JSON.parse((await t.vms(['rpc', 'log', '--json'])).stdout) as Array<{ id: string; source: string; decision: string }>;
    assert.deepEqual(log.filter((e) => e.id === 'spoof1').map((e) => [e.source, e.decision]), [[B, 'deny']]);
  });

  test('a path in a copied file name is refused: ../../etc/passwd', async () => {
    const before = await sh(b, 'sha256sum /etc/passwd');
    const result = await a.run(`echo root::0:0::/:/bin/sh >/tmp/p; vms-rpc vms.FileCopy ${B} "$(wc -c </tmp/p) ../../etc/passwd" </tmp/p; echo "rc=$?"`, 60_000);
    assert.match(result.output, /holds a slash/);
    assert.match(result.output, /rc=126/);
    assert.equal(await sh(b, 'sha256sum /etc/passwd'), before);
    assert.equal(await sh(b, `ls /root/Incoming/${A}`), 'payload.bin');
  });

  test('ask with no tray app to ask is denied, with a notice', async () => {
    const result = await a.run(`vms-rpc test.Ask ${B} </dev/null; echo "rc=$?"`, 60_000);
    assert.match(result.output, /no tray app is running to ask: denied/);
    assert.match(result.output, /rc=126/);
    assert.match(rpcdLog, /test\.Ask from .* ask .*no tray app is running/);
  });

  test('a bad policy line is reported with its file and line, and the policy from before stays', async () => {
    // The new text would deny pings (line 1), but line 7 is bad: nothing of it applies.
    await writeFile(policyFile, `vms.Ping @anyvm @anyvm deny\n${policyText('vms.Ping A B alow')}`);
    const check = await t.vms(['policy', 'check', 'vms.Ping', A, B]);
    assert.equal(check.exitCode, 1);
    assert.match(check.stderr, new RegExp(`${policyFile}:7: "alow" is not an action`));
    const ping = await a.run(`vms-rpc vms.Ping ${B} </dev/null; echo "rc=$?"`, 60_000);
    assert.match(ping.output, /rc=0/, 'the old policy still allows it');
    assert.match(rpcdLog, new RegExp(`${policyFile}:7: .*The policy from before stays in force`));

    await writeFile(policyFile, policyText());
    const explained = await t.vms(['policy', 'check', 'vms.FileCopy', A, B]);
    assert.equal(explained.exitCode, 0, explained.stderr);
    assert.match(explained.stdout, new RegExp(`allow by ${policyFile}:2`));
  });

  test('a call to @dispvm:TEMPLATE runs in a new disposable, which is gone afterwards', async () => {
    const result = await a.run(`vms-rpc vms.Ping @dispvm:${TPL} </dev/null; echo "rc=$?"`, 240_000);
    assert.match(result.output, /rc=0/);
    const log = JSON.parse((await t.vms(['rpc', 'log', '--json'])).stdout) as Array<{ target: string; ranIn?: string; exitCode?: number }>;
    const entry = log.find((e) => e.target === `@dispvm:${TPL}`);
    assert.match(entry?.ranIn ?? '', /^disp\d+$/);
    assert.equal(entry?.exitCode, 0);
    assert.equal(await t.engine.find(entry!.ranIn!), undefined, 'the disposable is gone');
  });
});
