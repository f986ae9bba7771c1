import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { startRpcd, type RunningRpcd } from '../helpers/rpcd.js';
import { sh, startAndConnect } from '../helpers/guest.js';
import type { SerialConsole } from '../helpers/serial-console.js';

/**
 * vms rpc with real parts: `vms rpcd` as the desktop user on the real libvirtd, two booted busybox guests
 * (A and B) that call each other with the guest's own vms-rpc, vms-copy, vms-move, vms-open-in-vm and
 * vms-open-in-dvm over their virtio consoles, a third VM (C) that is never started, disposables (cold, and
 * preloaded from the pool of one that rpcd refills), and the host's own `vms copy-to` and `vms run`. The
 * policy is the user's ~/.config/vms/policy. The busybox guest's opener (what xdg-open is in a template)
 * is a stand-in that logs what it opened and edits a file it opens (test/fixtures/guest/build-test-guest.sh).
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
    `vms.OpenURL ${A} ${B} allow`,
    `vms.OpenInVM ${A} @dispvm allow`,
    `* ${A} ${B} allow`,
    extra,
    '',
  ].join('\n');
}

/** The seconds of the guest's uptime clock, for timing inside the guest. */
const uptime = (text: string) => Number(text.trim().split(/\s+/)[0]);

/** Polls until `check` holds (a disposable is killed just after its call's answer went out). */
async function eventually(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('calls between VMs under a policy', { timeout: 900_000 }, () => {
  let t: TestEngine;
  let rpcd: RunningRpcd | undefined;
  let a: SerialConsole;
  let b: SerialConsole;
  let policyFile: string;

  before(async () => {
    // A pool of one preloaded disposable: rpcd refills it after each disposable it starts.
    t = await makeTestEngine('rpc', { disposablePoolSize: 1 });
    policyFile = join(t.env.VMS_CONFIG_DIR!, 'policy');
    await writeFile(policyFile, policyText());
    await t.engine.importTemplate(TPL, await testGuestImage());
    await t.engine.create(A, { template: TPL, label: 'work' });
    await t.engine.create(B, { template: TPL, label: 'personal' });
    await t.engine.create(C, { template: TPL, label: 'work' });
    rpcd = await startRpcd(t);
    // Two guests boot at once on a shared 2-core TCG host: more than the helper's 120 s may pass.
    [a, b] = await Promise.all([startAndConnect(t.engine, A, 300_000), startAndConnect(t.engine, B, 300_000)]);
  });

  after(async () => {
    a?.close();
    b?.close();
    await rpcd?.stop();
    await t?.cleanup();
  });

  /** The disposable a call ran in is gone, and so are its volumes. */
  const goneWithItsDisk = async (name: string) => {
    const left = async () => [...((await t.engine.find(name)) ? [`the domain ${name}`] : []), ...(await t.volumes()).filter((v) => v.startsWith(`${name}.`))];
    await eventually(async () => (await left()).length === 0, `${name} and its disk are gone`).catch(async (error: Error) => {
      assert.fail(`${error.message}; left: ${(await left()).join(', ')}; rpcd said: ${rpcd?.log().slice(-1000)}`);
    });
  };

  test('an allowed vms-copy delivers the file with the same hash; an empty call\'s round trip', async () => {
    // Small: under TCG on a busy 2-core host a console carries tens of KiB/s (bench/rpc.ts measures it).
    const size = 256 * 1024;
    const hash = await sh(a, `head -c ${size} /dev/urandom >/tmp/payload.bin && sha256sum /tmp/payload.bin | cut -d' ' -f1`);
    const times = (await a.run(`cat /proc/uptime; vms-copy /tmp/payload.bin ${B}; echo "rc=$?"; cat /proc/uptime`, 180_000)).output;
    const [before, rc, after] = times.split('\n');
    assert.equal(rc, 'rc=0', times);
    const seconds = uptime(after) - uptime(before);
    assert.equal(await sh(b, `sha256sum /root/Incoming/${A}/payload.bin | cut -d' ' -f1`), hash);
    console.log(`# vms-copy of ${size / 1024} KiB from ${A} to ${B}: ${seconds.toFixed(2)} s, ${(size / 1024 / seconds).toFixed(0)} KiB/s`);

    const again = await a.run(`mkdir -p /tmp/again && echo other >/tmp/again/payload.bin && vms-copy /tmp/again/payload.bin ${B}`, 120_000);
    assert.notEqual(again.exitCode, 0, 'a second copy of the same name does not overwrite');
    assert.match(again.output, /exists already/);

    assert.equal(await sh(b, `sha256sum /root/Incoming/${A}/payload.bin | cut -d' ' -f1`), hash, 'the first copy is untouched');

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
    assert.match(rpcd!.log(), /test\.Ask from .* ask .*no tray app is running/);
  });

  test('a bad policy line is reported with its file and line, and the policy from before stays', async () => {
    // The new text would deny pings (line 1), but line 10 is bad: nothing of it applies.
    await writeFile(policyFile, `vms.Ping @anyvm @anyvm deny\n${policyText('vms.Ping A B alow')}`);
    const check = await t.vms(['policy', 'check', 'vms.Ping', A, B]);
    assert.equal(check.exitCode, 1);
    assert.match(check.stderr, new RegExp(`${policyFile}:10: "alow" is not an action`));
    const ping = await a.run(`vms-rpc vms.Ping ${B} </dev/null; echo "rc=$?"`, 60_000);
    assert.match(ping.output, /rc=0/, 'the old policy still allows it');
    assert.match(rpcd!.log(), new RegExp(`${policyFile}:10: .*The policy from before stays in force`));

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
    await goneWithItsDisk(entry!.ranIn!);
  });

  test('vms-move copies, then removes the file here; a shell service is never allowed by a * line', async () => {
    await sh(a, 'echo moving >/tmp/moved.txt');
    const moved = await a.run(`vms-move /tmp/moved.txt ${B}; echo "rc=$?"; ls /tmp/moved.txt`, 60_000);
    assert.match(moved.output, /rc=0/);
    assert.match(moved.output, /No such file/, 'the source is gone');
    assert.equal(await sh(b, `cat /root/Incoming/${A}/moved.txt`), 'moving');

    const shell = await a.run(`vms-rpc vms.Run ${B} 'touch /tmp/pwned' </dev/null; echo "rc=$?"`, 60_000);
    assert.match(shell.output, /refused by the host's policy \(no line allows it\)/);
    assert.match(shell.output, /rc=126/);
    assert.equal((await b.run('test -e /tmp/pwned')).exitCode, 1);
  });

  test('vms-open-in-vm opens a link in a named VM, which the opener gets as it was sent', async () => {
    const url = 'https://example.org/a?b=c&d=e#f';
    const result = await a.run(`vms-open-in-vm ${B} '${url}'; echo "rc=$?"`, 60_000);
    assert.match(result.output, /rc=0/);
    await eventually(async () => (await b.run('cat /run/vms-test-opener.log')).output.includes(`url ${url} in boot`), 'the opener ran in B');
    const bad = await a.run(`vms-open-in-vm ${B} /etc/passwd; echo "rc=$?"`);
    assert.match(bad.output, /is not a link/);
    assert.match(bad.output, /rc=2/);
  });

  test('the host copies into a VM (vms copy-to) and runs commands there (vms run), with output and exit status', async () => {
    const file = join(t.scratch, 'from host.txt');
    await writeFile(file, 'from the host\n');
    await chmod(file, 0o644);
    const copied = await t.vms(['copy-to', B, file]);
    assert.equal(copied.exitCode, 0, copied.stderr);
    assert.equal(copied.stdout.trim(), `${file} → ${B}:/root/Incoming/host/from host.txt`);
    assert.equal(await sh(b, "cat '/root/Incoming/host/from host.txt'"), 'from the host');
    const twice = await t.vms(['copy-to', B, file]);
    assert.equal(twice.exitCode, 1);
    assert.match(twice.stderr, /exists already/);
    const folder = await t.vms(['copy-to', B, t.scratch]);
    assert.equal(folder.exitCode, 1);
    assert.match(folder.stderr, /^vms: .* is not a file: `vms copy-to` copies files/);
    const off = await t.vms(['copy-to', C, file]);
    assert.equal(off.exitCode, 1);
    assert.equal(off.stderr.trim(), `vms: "${C}" is shut off: start it with \`vms start ${C}\`, or pass --start.`);
    assert.equal((await t.engine.info(C)).state, 'shut off');

    const ran = await t.vms(['run', B, '-n', '--', 'sh', '-c', 'echo "out $0"; echo err >&2; exit 3', 'it\'s']);
    assert.equal(ran.exitCode, 3);
    // (execa drops the final newline.)
    assert.equal(ran.stdout, "out it's");
    assert.equal(ran.stderr, 'err');
    const piped = await t.vms(['run', B, '--', 'sha256sum'], { input: 'piped in\n' });
    assert.equal(piped.exitCode, 0, piped.stderr);
    assert.equal(piped.stdout.split(' ')[0], createHash('sha256').update('piped in\n').digest('hex'));
    const log = JSON.parse((await t.vms(['rpc', 'log', '--json'])).stdout) as Array<{ source: string; service: string; decision: string; exitCode?: number }>;
    assert.deepEqual(log.filter((e) => e.source === '@host').map((e) => [e.service, e.decision, e.exitCode]).slice(0, 2), [['vms.FileCopy', 'host', 0], ['vms.FileCopy', 'host', 1]]);
  });

  test('vms-open-in-dvm opens a file in a preloaded disposable; the edited copy comes back; the disposable is gone with its disk', async () => {
    // rpcd refilled the pool after the disposable of the @dispvm test: wait for that one to be ready.
    let pooled: string | undefined;
    await eventually(async () => Boolean(pooled = (await t.engine.readyDisposables(TPL))[0]?.name), 'a preloaded disposable is ready', 400_000);
    const original = await sh(a, 'printf "dear diary\\n" >/tmp/diary.txt; sha256sum /tmp/diary.txt | cut -d" " -f1');
    const aBoot = await sh(a, 'cat /proc/sys/kernel/random/boot_id');
    const opened = await a.run('vms-open-in-dvm /tmp/diary.txt; echo "rc=$?"; cat /tmp/diary.txt', 180_000);
    assert.match(opened.output, /rc=0/);
    assert.match(opened.output, /the edited copy replaced it/);
    // The opener ran with the file as sent (its hash), in another machine (another boot), for A.
    const edit = new RegExp(`^dear diary\nopened ${original} in boot ([0-9a-f-]+) for ${A}$`, 'm');
    const match = edit.exec(opened.output);
    assert.ok(match, opened.output);
    assert.notEqual(match[1], aBoot);
    const log = JSON.parse((await t.vms(['rpc', 'log', '--json'])).stdout) as Array<{ service: string; ranIn?: string; exitCode?: number }>;
    const entry = log.filter((e) => e.service === 'vms.OpenInVM').pop();
    assert.equal(entry?.ranIn, pooled, 'it ran in the preloaded disposable');
    assert.equal(entry?.exitCode, 0);
    await goneWithItsDisk(pooled!);
  });

  test('without a running rpcd, vms run opens the VM\'s console itself', async () => {
    await rpcd!.stop();
    const ran = await t.vms(['run', B, '-n', '--', 'cat', '/etc/hostname']);
    assert.equal(ran.exitCode, 0, ran.stderr);
    assert.equal(ran.stdout, 'vms-test');
  });
});
