/**
 * Benchmark sections of issue 5 (daily use):
 *  - preloaded disposables: time from `vms disposable` to a shell answering on the serial console, with the
 *    pool (a booted, paused disposable is resumed) and without (cold boot), medians and their ratio;
 *  - memory: six idle VMs at the default settings, the host memory each costs (QEMU and its virtiofsd
 *    helpers, RSS and PSS from /proc/PID/smaps_rollup), and free page reporting: memory a guest frees goes
 *    back to the host.
 * Both use the small busybox test guest under TCG (see docs/daily-use.md for what that means for KVM).
 */
import { readdir, readFile } from 'node:fs/promises';
import { execa } from 'execa';
import { CLI, makeTestEngine, testGuestImage, type TestEngine } from '../test/helpers/engine-fixture.js';
import { sh } from '../test/helpers/guest.js';
import { SerialConsole } from '../test/helpers/serial-console.js';
import type { BenchSection } from './sections.js';

const POOL_RUNS = Number(process.env.BENCH_POOL_RUNS ?? 3);
const MEMORY_VMS = Number(process.env.BENCH_MEMORY_VMS ?? 6);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   ')).join('\n');
}

/** `vms disposable` → name; then the time until the guest's shell answers on the serial console. */
async function disposableToShell(t: TestEngine, template: string, pool: number): Promise<{ name: string; seconds: number }> {
  const started = performance.now();
  const run = await execa(process.execPath, [CLI, 'disposable', '--template', template, '--json'], { env: { ...t.env, VMS_DISPOSABLE_POOL: String(pool) } });
  const vm = JSON.parse(run.stdout) as { name: string };
  const console = await SerialConsole.forDomain(vm.name);
  try {
    // A cold guest prints its marker once its shell starts; a resumed one has long been at its prompt.
    if (pool === 0) await console.waitFor('VMS-GUEST-UP', 600_000);
    await sh(console, 'true');
    return { name: vm.name, seconds: (performance.now() - started) / 1000 };
  } finally {
    console.close();
  }
}

async function poolSection(): Promise<string> {
  // Disposables get the product's defaults (2048 MiB, 2 vCPUs): they are made by the CLI, as users do.
  const t = await makeTestEngine('benchpool', { disposablePoolSize: 1, defaultMemoryMiB: 2048, defaultVcpus: 2 });
  const template = `bp${process.pid}`;
  try {
    await t.engine.importTemplate(template, await testGuestImage());
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < POOL_RUNS; i++) {
      process.stderr.write(`  cold disposable ${i + 1}/${POOL_RUNS}…\n`);
      const { name, seconds } = await disposableToShell(t, template, 0);
      cold.push(seconds);
      await t.engine.kill(name);
    }
    // The pool: fill it once, as `vms disposable` does (same CLI defaults: 2048 MiB, 2 vCPUs); afterwards
    // each `vms disposable` starts its own replacement in the background.
    await execa(process.execPath, [CLI, '__fill-disposable-pool', template], { env: { ...t.env, VMS_DISPOSABLE_POOL: '1' } });
    for (let i = 0; i < POOL_RUNS; i++) {
      process.stderr.write(`  preloaded disposable ${i + 1}/${POOL_RUNS}: waiting for the pool…\n`);
      const deadline = Date.now() + 600_000;
      let ready: string | undefined;
      while (!(ready = (await t.engine.readyDisposables(template))[0]?.name)) {
        if (Date.now() > deadline) throw new Error('the pool did not refill within 10 minutes');
        await sleep(500);
      }
      // Let the filler that just finished exit, so the measurement is not shared with its last steps.
      await sleep(2000);
      const { name, seconds } = await disposableToShell(t, template, 1);
      if (name !== ready) throw new Error(`vms disposable started ${name} instead of the preloaded ${ready}`);
      warm.push(seconds);
      await t.engine.kill(name);
    }
    const coldMedian = median(cold);
    const warmMedian = median(warm);
    return table([
      ['vms disposable → shell answering on ttyS0', 'median', 'runs'],
      ['cold (boot under TCG)', `${coldMedian.toFixed(2)} s`, cold.map((s) => s.toFixed(1)).join(', ')],
      ['preloaded (resume from the pool)', `${warmMedian.toFixed(2)} s`, warm.map((s) => s.toFixed(1)).join(', ')],
      ['cold ÷ preloaded', `${(coldMedian / warmMedian).toFixed(1)}×`, 'goal ≥ 10×'],
    ]);
  } finally {
    await t.cleanup();
  }
}

/**
 * Rss and Pss of one process in KiB, from smaps_rollup; for QEMU, Pss_Shmem is the guest's RAM (memfd, shared
 * with virtiofsd) and Pss_Anon is QEMU itself, TCG's translation cache included.
 */
async function rollup(pid: number): Promise<{ rss: number; pss: number; anon: number; shmem: number }> {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8').catch(() => '');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
  return { rss: field('Rss'), pss: field('Pss'), anon: field('Pss_Anon'), shmem: field('Pss_Shmem') };
}

/** The pids of a process and all its descendants. */
async function withChildren(pids: number[]): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(/\) \S+ (\d+)/.exec(stat)?.[1]);
    if (ppid) parents.set(Number(entry), ppid);
  }
  const all = new Set(pids);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) if (all.has(ppid) && !all.has(pid)) { all.add(pid); grew = true; }
  }
  return [...all];
}

const RUN_DIR = '/run/libvirt/qemu';

/** QEMU's pid and the pids of the domain's virtiofsd processes (with their sandboxed children). */
async function domainPids(name: string): Promise<{ qemu: number; helpers: number[] }> {
  const qemu = Number((await readFile(`${RUN_DIR}/${name}.pid`, 'utf8')).trim());
  const files = (await readdir(RUN_DIR)).filter((f) => new RegExp(`^\\d+-${name}-fs\\d+-fs\\.pid$`).test(f));
  const helpers = await Promise.all(files.map(async (f) => Number((await readFile(`${RUN_DIR}/${f}`, 'utf8')).trim())));
  return { qemu, helpers: await withChildren(helpers.filter((p) => p > 0)) };
}

async function hostUsedMiB(): Promise<number> {
  const text = await readFile('/proc/meminfo', 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return (kb('MemTotal') - kb('MemAvailable')) / 1024;
}

const mib = (kib: number) => `${(kib / 1024).toFixed(0)} MiB`;

async function memorySection(): Promise<string> {
  // The product's defaults (2048 MiB, 2 vCPUs), not the tests' small guests.
  const t = await makeTestEngine('benchmem', { defaultMemoryMiB: 2048, defaultVcpus: 2, defaultDiskSize: '10G' });
  const template = `bm${process.pid}`;
  const consoles: SerialConsole[] = [];
  try {
    await t.engine.importTemplate(template, await testGuestImage());
    const names = Array.from({ length: MEMORY_VMS }, (_, i) => `${template}-${i + 1}`);
    for (const name of names) await t.engine.create(name, { template });
    const usedBefore = await hostUsedMiB();
    process.stderr.write(`  booting ${names.length} VMs (${t.config.defaultMemoryMiB} MiB, ${t.config.defaultVcpus} vCPUs each)…\n`);
    // One after the other: six 2-vCPU TCG guests booting at once on 2 host cores can make a guest kernel's
    // timer check fail ("IO-APIC + timer doesn't work"); under KVM they would all boot at once.
    const bootStart = performance.now();
    for (const name of names) {
      await t.engine.start(name);
      const console = await SerialConsole.forDomain(name);
      consoles.push(console);
      await console.waitFor('VMS-GUEST-UP', 300_000);
    }
    const bootSeconds = (performance.now() - bootStart) / 1000;
    process.stderr.write('  idling 30 s…\n');
    await sleep(30_000);

    const rows = [['VM (idle)', 'QEMU RSS', 'QEMU PSS', '= guest RAM', '+ QEMU/TCG', 'virtiofsd PSS', 'total PSS']];
    let totalPss = 0;
    for (const name of names) {
      const { qemu, helpers } = await domainPids(name);
      const q = await rollup(qemu);
      const h = (await Promise.all(helpers.map(rollup))).reduce((sum, r) => sum + r.pss, 0);
      totalPss += q.pss + h;
      rows.push([name, mib(q.rss), mib(q.pss), mib(q.shmem), mib(q.pss - q.shmem), mib(h), mib(q.pss + h)]);
    }
    const usedAfter = await hostUsedMiB();
    rows.push([`all ${names.length}`, '', '', '', '', '', mib(totalPss)]);

    // Free page reporting: fill 100 MiB of the guest's tmpfs, free it, and watch QEMU's RSS come back down.
    process.stderr.write('  free page reporting…\n');
    const { qemu } = await domainPids(names[0]);
    const idle = (await rollup(qemu)).rss;
    await sh(consoles[0], 'dd if=/dev/urandom of=/tmp/fill bs=1M count=100 2>/dev/null && sync');
    await sleep(3000);
    const filled = (await rollup(qemu)).rss;
    await sh(consoles[0], 'rm /tmp/fill');
    let freed = filled;
    const freeStart = performance.now();
    for (let i = 0; i < 60; i++) {
      await sleep(1000);
      freed = (await rollup(qemu)).rss;
      if (freed < idle + (filled - idle) / 4) break;
    }
    const returnSeconds = (performance.now() - freeStart) / 1000;

    return [
      table(rows),
      `host memory in use: ${usedBefore.toFixed(0)} MiB before, ${usedAfter.toFixed(0)} MiB with ${names.length} idle VMs `
        + `(+${((usedAfter - usedBefore) / names.length).toFixed(0)} MiB each); booted one after the other in ${bootSeconds.toFixed(0)} s (TCG)`,
      '',
      table([
        ['free page reporting (VM 1, QEMU RSS)', 'MiB'],
        ['idle', (idle / 1024).toFixed(0)],
        ['after writing 100 MiB to the guest’s tmpfs', (filled / 1024).toFixed(0)],
        [`after deleting it (${returnSeconds.toFixed(0)} s later)`, (freed / 1024).toFixed(0)],
      ]),
    ].join('\n');
  } finally {
    for (const c of consoles) c.close();
    await t.cleanup();
  }
}

export const dailyUseSections: BenchSection[] = [
  { title: 'Preloaded disposables (issue 5)', run: poolSection },
  { title: `Memory: ${MEMORY_VMS} idle VMs at the default settings (issue 5)`, run: memorySection },
];

/** `node dist/bench/daily-use.js [preloaded|memory]` runs these sections alone. */
if (process.argv[1]?.endsWith('daily-use.js')) {
  const only = process.argv[2];
  for (const section of dailyUseSections) {
    if (only && !section.title.toLowerCase().includes(only)) continue;
    console.log(`\n${section.title}`);
    console.log(await section.run());
  }
}
