/**
 * Benchmark section of issue 11 (calls between VMs, docs/rpc.md), with `vms rpcd` as the desktop user and
 * two booted busybox test guests under TCG:
 *  - the round trip of an empty call (vms.Ping) from one running VM to another, median of 20;
 *  - vms-copy from one VM to the other, and `vms copy-to` from the host, BENCH_RPC_COPY_MIB MiB (default 2:
 *    a console carries tens of KiB/s under TCG, so the 100 MiB would take hours here);
 *  - vms-open-in-dvm URL until the disposable's opener runs (the command returns then), cold (no pool) and
 *    from the pool of preloaded disposables, BENCH_DVM_RUNS runs each (default 3).
 * Times inside a guest come from its /proc/uptime (10 ms steps).
 */
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { makeTestEngine, testGuestImage, type TestEngine } from '../test/helpers/engine-fixture.js';
import { sh, startAndConnect } from '../test/helpers/guest.js';
import { startRpcd, type RunningRpcd } from '../test/helpers/rpcd.js';
import type { SerialConsole } from '../test/helpers/serial-console.js';
import { median, table } from './daily-use.js';
import type { BenchSection } from './sections.js';

const COPY_MIB = Number(process.env.BENCH_RPC_COPY_MIB ?? 2);
const DVM_RUNS = Number(process.env.BENCH_DVM_RUNS ?? 3);

/** Runs `command` in the guest between two readings of its uptime; the seconds it took. */
async function guestSeconds(guest: SerialConsole, command: string, timeoutMs: number): Promise<number> {
  const result = await guest.run(`s=$(cut -d' ' -f1 /proc/uptime); ${command} >/tmp/bench.out 2>&1; rc=$?; e=$(cut -d' ' -f1 /proc/uptime); echo "$rc $s $e"`, timeoutMs);
  const [rc, start, end] = result.output.trim().split('\n').pop()!.split(' ');
  if (rc !== '0') throw new Error(`${command} failed (${rc}): ${(await guest.run('cat /tmp/bench.out')).output}`);
  return Number(end) - Number(start);
}

async function pingMedian(a: SerialConsole, target: string): Promise<number[]> {
  const out = (await a.run(`for i in $(seq 20); do s=$(cut -d' ' -f1 /proc/uptime); vms-rpc vms.Ping ${target} </dev/null || echo fail; e=$(cut -d' ' -f1 /proc/uptime); echo "$s $e"; done`, 300_000)).output;
  if (/fail/.test(out)) throw new Error(`a ping failed: ${out}`);
  return out.split('\n').map((line) => { const [s, e] = line.split(' ').map(Number); return (e - s) * 1000; });
}

async function rpcSection(): Promise<string> {
  const t: TestEngine = await makeTestEngine('benchrpc', { disposablePoolSize: 1 });
  const id = Math.random().toString(36).slice(2, 6);
  const [tpl, a, b] = ['tpl', 'a', 'b'].map((n) => `br${id}${n}`);
  let rpcd: RunningRpcd | undefined;
  const consoles: SerialConsole[] = [];
  try {
    await writeFile(join(t.env.VMS_CONFIG_DIR!, 'policy'), [
      `vms.Ping ${a} ${b} allow`, `vms.FileCopy ${a} ${b} allow`, `vms.OpenURL ${a} @dispvm allow`, '',
    ].join('\n'));
    await t.engine.importTemplate(tpl, await testGuestImage());
    await t.engine.create(a, { template: tpl, label: 'work' });
    await t.engine.create(b, { template: tpl, label: 'personal' });
    // Cold disposables first: an rpcd with no pool.
    rpcd = await startRpcd(t, { VMS_DISPOSABLE_POOL: '0' });
    const [ca, cb] = await Promise.all([startAndConnect(t.engine, a), startAndConnect(t.engine, b)]);
    consoles.push(ca, cb);
    const rows: string[][] = [['what (busybox guests, TCG)', 'median', 'runs / size']];

    process.stderr.write('  empty calls…\n');
    const pings = await pingMedian(ca, b);
    rows.push([`empty call ${a} → ${b} (vms.Ping), round trip`, `${median(pings).toFixed(0)} ms`, `20 (min ${Math.min(...pings).toFixed(0)}, max ${Math.max(...pings).toFixed(0)})`]);

    process.stderr.write(`  vms-copy of ${COPY_MIB} MiB…\n`);
    const bytes = COPY_MIB * 1024 * 1024;
    const hash = await sh(ca, `head -c ${bytes} /dev/urandom >/tmp/payload.bin && sha256sum /tmp/payload.bin | cut -d' ' -f1`);
    const copySeconds = await guestSeconds(ca, `vms-copy /tmp/payload.bin ${b}`, 4 * 3600_000);
    if (await sh(cb, `sha256sum /root/Incoming/${a}/payload.bin | cut -d' ' -f1`) !== hash) throw new Error('vms-copy delivered other bytes');
    rows.push([`vms-copy ${a} → ${b}`, `${(bytes / 1024 / copySeconds).toFixed(0)} KiB/s`, `${COPY_MIB} MiB in ${copySeconds.toFixed(1)} s`]);

    process.stderr.write(`  vms copy-to of ${COPY_MIB} MiB…\n`);
    const file = join(t.scratch, 'payload.bin');
    const data = Buffer.alloc(bytes, 0x5a);
    await writeFile(file, data);
    await execa('chmod', ['644', file]);
    const started = performance.now();
    const copied = await t.vms(['copy-to', b, file]);
    const hostSeconds = (performance.now() - started) / 1000;
    if (copied.exitCode !== 0) throw new Error(`vms copy-to failed: ${copied.stderr}`);
    if (await sh(cb, "sha256sum /root/Incoming/host/payload.bin | cut -d' ' -f1") !== createHash('sha256').update(data).digest('hex')) throw new Error('vms copy-to delivered other bytes');
    rows.push([`vms copy-to ${b} (host → VM, the whole command)`, `${(bytes / 1024 / hostSeconds).toFixed(0)} KiB/s`, `${COPY_MIB} MiB in ${hostSeconds.toFixed(1)} s`]);

    const opened = () => guestSeconds(ca, 'vms-open-in-dvm https://example.org/', 900_000);
    const cold: number[] = [];
    for (let i = 0; i < DVM_RUNS; i++) {
      process.stderr.write(`  vms-open-in-dvm, cold ${i + 1}/${DVM_RUNS}…\n`);
      cold.push(await opened());
    }
    // The pool: an rpcd that refills it after each disposable; filled once first, as `vms disposable` does.
    await rpcd.stop();
    rpcd = await startRpcd(t);
    const filled = await t.vms(['__fill-disposable-pool', tpl]);
    if (filled.exitCode !== 0) throw new Error(`the pool was not filled: ${filled.stderr}`);
    const warm: number[] = [];
    for (let i = 0; i < DVM_RUNS; i++) {
      process.stderr.write(`  vms-open-in-dvm, preloaded ${i + 1}/${DVM_RUNS}: waiting for the pool…\n`);
      const deadline = Date.now() + 900_000;
      while ((await t.engine.readyDisposables(tpl)).length === 0) {
        if (Date.now() > deadline) throw new Error('the pool did not refill within 15 minutes');
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      // Let the filler's last steps pass, so the measurement is not shared with them.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      warm.push(await opened());
    }
    rows.push(['vms-open-in-dvm URL → opener runs, cold disposable', `${median(cold).toFixed(1)} s`, cold.map((s) => s.toFixed(1)).join(', ')]);
    rows.push(['vms-open-in-dvm URL → opener runs, preloaded', `${median(warm).toFixed(1)} s`, warm.map((s) => s.toFixed(1)).join(', ')]);
    rows.push(['cold ÷ preloaded', `${(median(cold) / median(warm)).toFixed(1)}×`, '']);
    return table(rows);
  } finally {
    for (const c of consoles) c.close();
    await rpcd?.stop();
    await t.cleanup();
  }
}

export const rpcSections: BenchSection[] = [
  { title: 'Calls between VMs (vms rpc over virtio consoles, busybox guests under TCG)', run: rpcSection },
];
