import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { execa } from 'execa';
import { domainStatus, listDomains } from '../../main/engine/libvirt/domains.js';
import { listFilters, listNetworks } from '../../main/engine/libvirt/networks.js';
import type { VmInfo } from '../../main/engine/types.js';
import type { TestEngine } from './engine-fixture.js';

/**
 * Disposable cycles, over and over, as the desktop user uses them (issue 13, part 5): a disposable
 * started, running, then gone, four ways in turn: from a long-lived engine (the tray's way) it is
 * killed, or it powers off from outside vms and the engine's watch reaps it; from the command line it is
 * killed with `vms kill`, or it powers off and the detached watcher reaps it. After every cycle nothing of
 * it may be left; every `every` cycles (and at the end) the whole census is taken: volumes, domains,
 * networks, filters, state files, child and watcher processes, the engine's and libvirtd's memory.
 * Used by `npm run soak` (bench/soak.ts, 200 cycles) and by a short integration test.
 */

export type CycleWay = 'engine kill' | 'engine watch' | 'vms kill' | 'vms watcher';
const WAYS: CycleWay[] = ['engine kill', 'engine watch', 'vms kill', 'vms watcher'];

export interface Census {
  cycle: number;
  seconds: number;
  /** Things of this soak's disposables still there: volumes, domains, filters, journal entries. */
  leftovers: string[];
  /** Networks and state files that were not there after the first cycle. */
  extra: string[];
  /** virsh processes of this process beyond those it had at the first census (its long-lived ones). */
  children: number;
  /** Detached `vms __watch-disposable` processes of this soak still running. */
  watchers: number;
  engineRssMiB: number;
  libvirtdRssMiB: number;
}

export interface SoakResult {
  rows: Census[];
  /** Lifecycle events of this soak's disposables that the long-lived watch saw. */
  events: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The engine's memory as it really is: after a full garbage collection. */
const collectGarbage: () => void = (globalThis as { gc?: () => void }).gc ?? (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

function engineRssMiB(): number {
  collectGarbage();
  return process.memoryUsage().rss / 2 ** 20;
}

async function libvirtdRssMiB(): Promise<number> {
  const pid = String((await execa('pgrep', ['-x', '-u', 'root', 'libvirtd'], { reject: false })).stdout).trim().split('\n')[0];
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN) / 1024;
}

/** Processes whose parent is this one, by their command line. */
async function childCommands(): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // The fields after the command's closing parenthesis: state, ppid, …
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
    found.push((await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').join(' ').trim());
  }
  return found;
}

/** Detached disposable watchers started for this soak's state folder. */
async function watcherCount(stateDir: string): Promise<number> {
  const pids = String((await execa('pgrep', ['-f', '__watch-disposable '], { reject: false })).stdout).split('\n').filter(Boolean);
  let count = 0;
  for (const pid of pids) {
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (environ.split('\0').includes(`VMS_STATE_DIR=${stateDir}`)) count++;
  }
  return count;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => !e.isDirectory()).map((e) => relative(dir, join(e.parentPath ?? e.path, e.name))).sort();
}

export async function soak(t: TestEngine, template: string, cycles: number, options: { every?: number; onCensus?: (row: Census) => void } = {}): Promise<SoakResult> {
  const lv = t.engine.ctx.libvirt;
  /** The domain label disposables get by default: its network is the one the soak uses. */
  const label = 'disposable';
  const stateDir = t.env.VMS_STATE_DIR!;
  const ours = new Set<string>();
  let events = 0;
  // The tray's watch, for the whole soak: it must see every disposable come and go, and stay one process.
  const watch = t.engine.watchLifecycle((event) => { if (ours.has(event.name)) events++; });
  await watch.ready;
  const started = performance.now();
  const rows: Census[] = [];
  let baseline: { networks: Set<string>; files: Set<string> } | undefined;
  let virshAtFirst: number | undefined;

  /** What is left of one disposable: '' entries when nothing. */
  async function remainsOf(name: string): Promise<string[]> {
    const volumes = (await t.volumes()).filter((v) => v.startsWith(`${name}.`));
    const domain = (await domainStatus(lv, name)) ? [`domain ${name}`] : [];
    const journal = (await readdir(join(stateDir, 'disposable')).catch(() => [])).filter((e) => e === name).map((e) => `journal disposable/${e}`);
    return [...volumes.map((v) => `volume ${v}`), ...domain, ...journal];
  }
  async function gone(name: string, timeoutMs = 60_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let left = await remainsOf(name);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(100);
      left = await remainsOf(name);
    }
    return left;
  }
  async function waitRunning(name: string): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if ((await domainStatus(lv, name))?.state === 'running') return;
      await sleep(100);
    }
    throw new Error(`disposable ${name} did not run within 30 s`);
  }
  async function powerOff(name: string): Promise<void> {
    // As when the guest powers itself off: libvirt's domain ends without any vms command.
    await lv.run(['destroy', name]);
  }
  async function vmsOk(args: string[]): Promise<string> {
    const result = await t.vms(args);
    if (result.exitCode !== 0) throw new Error(`vms ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  async function cycle(way: CycleWay): Promise<string> {
    if (way === 'engine kill' || way === 'engine watch') {
      const vm = await t.engine.disposable({ template });
      ours.add(vm.name);
      const watched = t.engine.watchDisposable(vm.name);
      await waitRunning(vm.name);
      if (way === 'engine kill') await t.engine.kill(vm.name);
      else await powerOff(vm.name);
      await watched;
      return vm.name;
    }
    const vm = JSON.parse(await vmsOk(['disposable', '--template', template, '--json'])) as VmInfo;
    ours.add(vm.name);
    await waitRunning(vm.name);
    if (way === 'vms kill') await vmsOk(['kill', vm.name]);
    else await powerOff(vm.name);
    return vm.name;
  }

  async function census(done: number): Promise<Census> {
    const names = [...ours];
    const [volumes, domains, filters, networks, files] = await Promise.all([
      t.volumes(), listDomains(lv), listFilters(lv), listNetworks(lv), filesUnder(stateDir),
    ]);
    const leftovers = [
      ...volumes.filter((v) => names.some((n) => v.startsWith(`${n}.`))).map((v) => `volume ${v}`),
      ...domains.filter((d) => ours.has(d.name)).map((d) => `domain ${d.name}`),
      ...filters.filter((f) => names.some((n) => f === `vms-fw-${n}` || f === `vms-fw-${n}-rules`)).map((f) => `filter ${f}`),
    ];
    baseline ??= { networks: new Set(networks.map((n) => n.name)), files: new Set(files) };
    // Networks are global to libvirtd (other programs make theirs): only the soak's label's network,
    // which outlives its VMs by design, can be of the soak, and it must not be there twice.
    const extra = [
      ...networks.map((n) => n.name).filter((n) => n.startsWith(`vms-${label}`) && !baseline!.networks.has(n)).map((n) => `network ${n}`),
      ...files.filter((f) => !baseline!.files.has(f)).map((f) => `file ${f}`),
    ];
    // This process keeps a few virsh for good: the engine's and the fixture's shells, the lifecycle watch.
    const virsh = (await childCommands()).filter((c) => /(^|\/)virsh /.test(c)).length;
    virshAtFirst ??= virsh;
    return {
      cycle: done,
      seconds: Math.round((performance.now() - started) / 1000),
      leftovers,
      extra,
      children: virsh - virshAtFirst,
      watchers: await watcherCount(stateDir),
      engineRssMiB: Math.round(engineRssMiB() * 10) / 10,
      libvirtdRssMiB: Math.round((await libvirtdRssMiB()) * 10) / 10,
    };
  }

  try {
    const every = options.every ?? 10;
    for (let i = 1; i <= cycles; i++) {
      const name = await cycle(WAYS[(i - 1) % WAYS.length]);
      const left = await gone(name);
      if (left.length > 0) throw new Error(`cycle ${i} (${WAYS[(i - 1) % WAYS.length]}): ${left.join(', ')} left 60 s after ${name} stopped`);
      if (i === 1 || i % every === 0 || i === cycles) {
        // The detached watcher of the last command-line cycle may still be on its way out.
        for (let wait = 0; wait < 50 && (await watcherCount(stateDir)) > 0; wait++) await sleep(100);
        const row = await census(i);
        rows.push(row);
        options.onCensus?.(row);
      }
    }
  } finally {
    watch.stop();
  }
  return { rows, events };
}

/** The census as a table, one row per census: what the soak report prints. */
export function soakTable(rows: readonly Census[]): string {
  const header = 'cycles  seconds  s/cycle  leftovers  extra  children  watchers  engine RSS MiB  libvirtd RSS MiB';
  return [header, ...rows.map((r) => [
    String(r.cycle).padStart(6),
    String(r.seconds).padStart(7),
    (r.seconds / r.cycle).toFixed(1).padStart(7),
    String(r.leftovers.length).padStart(9),
    String(r.extra.length).padStart(5),
    String(r.children).padStart(8),
    String(r.watchers).padStart(8),
    r.engineRssMiB.toFixed(1).padStart(14),
    r.libvirtdRssMiB.toFixed(1).padStart(16),
  ].join('  '))].join('\n');
}

/** How much the engine's and libvirtd's memory may grow over a soak, from its first census on. */
export const SOAK_BOUNDS = { engineGrowthMiB: 32, libvirtdGrowthMiB: 64 };

/** What a soak left or leaked, one line each; empty when nothing. */
export function soakProblems(result: SoakResult, cycles: number): string[] {
  const problems: string[] = [];
  for (const row of result.rows) {
    if (row.leftovers.length > 0) problems.push(`after ${row.cycle} cycles: left ${row.leftovers.join(', ')}`);
    if (row.extra.length > 0) problems.push(`after ${row.cycle} cycles: new ${row.extra.join(', ')}`);
    if (row.children > 0) problems.push(`after ${row.cycle} cycles: ${row.children} more virsh processes than after the first`);
    if (row.watchers > 0) problems.push(`after ${row.cycle} cycles: ${row.watchers} disposable watchers still running`);
  }
  const first = result.rows[0];
  const last = result.rows.at(-1);
  if (first && last) {
    const engine = last.engineRssMiB - first.engineRssMiB;
    const libvirtd = last.libvirtdRssMiB - first.libvirtdRssMiB;
    if (engine > SOAK_BOUNDS.engineGrowthMiB) problems.push(`the engine's memory grew by ${engine.toFixed(1)} MiB (bound ${SOAK_BOUNDS.engineGrowthMiB})`);
    if (!(libvirtd <= SOAK_BOUNDS.libvirtdGrowthMiB)) problems.push(`libvirtd's memory grew by ${libvirtd.toFixed(1)} MiB (bound ${SOAK_BOUNDS.libvirtdGrowthMiB})`);
  }
  // Each disposable starts and stops: at least two lifecycle events each, all through one watch.
  if (result.events < 2 * cycles) problems.push(`the long-lived watch saw ${result.events} events of ${cycles} disposables`);
  return problems;
}
