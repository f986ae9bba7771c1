/**
 * `npm run bench`: how long vms takes for what users do most, beside what they would use instead.
 * Each figure is the median of BENCH_RUNS (default 5) runs of the real `vms` command line on the real
 * libvirtd, as the desktop user (run as root, `vms` runs as VMS_TEST_USER, default vmstest), with the
 * source holding each of BENCH_SIZES GiB (default 1,8) of written data, after the page cache was dropped
 * (as root) before each run. Beside each time: how many round trips to libvirt the operation makes.
 * Other benchmark sections (template build, disposable pool, memory) live in bench/*.ts and register here.
 */
import { execa } from 'execa';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { bootableBlank, makeTestEngine, type TestEngine } from '../test/helpers/engine-fixture.js';
import { extraSections } from './sections.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SIZES = (process.env.BENCH_SIZES ?? '1,8').split(',').map(Number);

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

/** Runs `measure` RUNS times with `reset` after each (untimed) and returns the median in seconds. */
export async function medianOf(measure: () => Promise<unknown>, reset: () => Promise<unknown>, runs = RUNS): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    times.push(await timed(measure));
    await reset();
  }
  return median(times);
}

async function vmsOk(t: TestEngine, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const run = await t.vms(args, { env });
  if (run.exitCode !== 0) throw new Error(`vms ${args.join(' ')} failed: ${run.stderr}`);
  return env?.VMS_TRACE ? run.stderr : run.stdout;
}

/** A cold start for the next run: the page cache is dropped (root only; elsewhere a warm cache is measured). */
async function dropCaches(): Promise<void> {
  if (process.getuid?.() !== 0) return;
  await execa('sync');
  await writeFile('/proc/sys/vm/drop_caches', '3\n');
}

/** How many round trips to libvirt one run of the command makes (VMS_TRACE lists each: shell batches and processes). */
async function virshProcesses(t: TestEngine, args: string[], reset: () => Promise<unknown>): Promise<number> {
  const trace = await vmsOk(t, args, { VMS_TRACE: '1' });
  await reset();
  return trace.split('\n').filter((line) => /^\[vms\] \d+ ms {2}virsh /.test(line)).length;
}

async function sizeSection(gib: number): Promise<Record<string, number>> {
  const t = await makeTestEngine(`bench${gib}`);
  try {
    const image = join(t.scratch, 'data.qcow2');
    await bootableBlank(image, `${gib + 4}G`);
    process.stderr.write(`  writing ${gib} GiB of data…\n`);
    // qemu-io writes at most 2 GiB per request: one request per GiB, after the partition table.
    await execa('qemu-io', ['-f', 'qcow2', ...Array.from({ length: gib }, (_, i) => ['-c', `write -P 0x5a ${i + 1}G 1G`]).flat(), image]);
    // Names of their own, so a benchmark never meets another run's VMs on the same libvirtd.
    const id = Math.random().toString(36).slice(2, 6);
    const [tpl, src, vc, full, app, linked] = ['tpl', 'src', 'vc', 'full', 'app', 'linked'].map((n) => `b${id}-${n}`);
    await vmsOk(t, ['template', 'import', tpl, image]);
    await vmsOk(t, ['create', src, '--template', tpl, '--standalone']);
    const uri = t.config.uri;
    const results: Record<string, number> = {};
    await dropCaches();

    process.stderr.write('  virt-clone --auto-clone…\n');
    results['virt-clone --auto-clone'] = await medianOf(
      () => execa('virt-clone', ['--connect', uri, '--original', src, '--name', vc, '--auto-clone'], { env: { ...process.env, LC_ALL: 'C' } }),
      async () => {
        await execa('virsh', ['-c', uri, 'undefine', '--nvram', '--remove-all-storage', vc], { env: { LC_ALL: 'C' } });
        await dropCaches();
      });
    const reset = (name: string) => async () => { await vmsOk(t, ['delete', name, '--yes', '--force']); await dropCaches(); };
    process.stderr.write('  vms clone --full…\n');
    results['vms clone --full'] = await medianOf(() => vmsOk(t, ['clone', src, full, '--full']), reset(full));
    process.stderr.write('  vms create…\n');
    results['vms create'] = await medianOf(() => vmsOk(t, ['create', app, '--template', tpl]), reset(app));
    results['  libvirt round trips: vms create'] = await virshProcesses(t, ['create', app, '--template', tpl], reset(app));
    process.stderr.write('  vms clone (linked)…\n');
    results['vms clone (linked)'] = await medianOf(() => vmsOk(t, ['clone', src, linked]), reset(linked));
    results['  libvirt round trips: vms clone (linked)'] = await virshProcesses(t, ['clone', src, linked], reset(linked));
    process.stderr.write('  vms disposable…\n');
    let last = '';
    results['vms disposable (to running)'] = await medianOf(
      async () => { last = JSON.parse(await vmsOk(t, ['disposable', '--template', tpl, '--json'])).name; },
      async () => { await vmsOk(t, ['kill', last]); await dropCaches(); });
    return results;
  } finally {
    await t.cleanup();
  }
}

function seconds(value: number): string {
  return `${value.toFixed(2)} s`;
}

async function main(): Promise<void> {
  // As the desktop user: the fixture's `vms` runs through runuser when this process is root.
  if (process.getuid?.() === 0) process.env.VMS_TEST_USER ??= 'vmstest';
  // BENCH_SECTIONS=gui (a section's id) runs only that section.
  const only = extraSections.filter((section) => section.id === process.env.BENCH_SECTIONS);
  if (only.length > 0) {
    for (const section of only) console.log(`\n${section.title}\n${await section.run()}`);
    return;
  }
  const rows = new Map<string, Record<number, number>>();
  for (const gib of SIZES) {
    process.stderr.write(`Source with ${gib} GiB written (${RUNS} runs each):\n`);
    for (const [name, value] of Object.entries(await sizeSection(gib))) rows.set(name, { ...rows.get(name), [gib]: value });
  }
  const header = ['operation (median)', ...SIZES.map((g) => `${g} GiB`)];
  const lines = [header, ...[...rows].map(([name, bySize]) => [name, ...SIZES.map((g) => (name.includes('round trips') ? String(bySize[g]) : seconds(bySize[g])))])];
  const virtClone = rows.get('virt-clone --auto-clone')!;
  for (const name of ['vms clone (linked)', 'vms create', 'vms clone --full']) {
    lines.push([`virt-clone ÷ ${name}`, ...SIZES.map((g) => `${(virtClone[g] / rows.get(name)![g]).toFixed(1)}×`)]);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  console.log('\nClone and create');
  for (const line of lines) console.log(line.map((cell, i) => cell.padEnd(widths[i])).join('   '));
  // BENCH_SECTIONS=clone runs only the table above.
  for (const section of process.env.BENCH_SECTIONS === 'clone' ? [] : extraSections) {
    console.log(`\n${section.title}`);
    console.log(await section.run());
  }
}

await main();
