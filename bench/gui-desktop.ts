import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { execa } from 'execa';
import { makeTestEngine } from '../test/helpers/engine-fixture.js';
import { stopClipboardTimers } from '../test/helpers/clipboard-timers.js';
import { colorPixels, I3_FOCUSED_WORKSPACE, startXvfb } from '../test/helpers/display.js';
import { SerialConsole } from '../test/helpers/serial-console.js';
import type { BenchSection } from './sections.js';
import { fixtureRepository } from '../test/helpers/arch-repo.js';

/**
 * Issue 12, the desktop inside a VM: the gui template's build with a warm cache (the local pacman
 * repository fixture stands in for Arch's mirrors), one VM's `vms start` until i3's bar shows in `vms view`
 * under Xvfb (TCG here), and `vms clipboard copy` + `vms clipboard paste` between two running gui VMs
 * (named, so only vms and the guests are timed, not a window manager).
 */

const REPO = new URL('../../', import.meta.url).pathname;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const USER = 'tester';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const guiDesktopSection: BenchSection = {
  id: 'gui',
  title: 'The desktop inside a VM: gui template build, start → i3, copy → paste',
  async run() {
    const pacmanConf = await fixtureRepository();
    const t = await makeTestEngine('benchgui', { defaultMemoryMiB: 1024 });
    const { xvfb, display } = await startXvfb();
    const xenv = { ...process.env, DISPLAY: display };
    const consoles: SerialConsole[] = [];
    try {
      const builds: number[] = [];
      for (let i = 0; i < 2; i++) {
        const start = performance.now();
        const run = await t.vms(['template', 'build', `gui${i}`, '--profile', 'gui', '--pacman-conf', pacmanConf, '--user', USER, '--password', USER, '--disk-size', '20G'], { asRoot: true });
        if (run.exitCode !== 0) throw new Error(run.stderr);
        builds.push((performance.now() - start) / 1000);
      }
      for (const vm of ['a', 'b']) await t.vms(['create', vm, '--template', 'gui0', '--domain', 'work']);

      // One VM alone: start → i3's focused workspace button (#285577) in the viewer.
      const started = performance.now();
      await t.vms(['start', 'a']);
      await t.vms(['view', 'a'], { env: { DISPLAY: display } });
      const window = String((await execa('xdotool', ['search', '--sync', '--onlyvisible', '--name', '^\\[work\\] a'], { env: xenv })).stdout).split('\n')[0];
      const shot = join(t.scratch, 'shot.png');
      let toI3 = Number.NaN;
      while (performance.now() - started < 900_000) {
        await sleep(2000);
        await execa('import', ['-window', 'root', shot], { env: xenv });
        if (await colorPixels(shot, '1600x1000+0+0', I3_FOCUSED_WORKSPACE) > 30) { toI3 = (performance.now() - started) / 1000; break; }
      }
      process.kill(Number((await execa('xdotool', ['getwindowpid', window], { env: xenv })).stdout));

      // Copy → paste, named VMs, a fresh text each time.
      await t.vms(['start', 'b']);
      for (const vm of ['a', 'b']) {
        const console = await SerialConsole.forDomain(vm, t.config.uri);
        consoles.push(console);
        console.write('\n');
        await console.waitFor(/login:/, 600_000);
        console.write(`${USER}\n`);
        await console.waitFor(/Password:/, 60_000);
        console.write(`${USER}\n`);
        await console.waitFor(/\$ ?$/m, 120_000);
        await console.run('for i in $(seq 1 120); do [ -S /tmp/.X11-unix/X0 ] && break; sleep 1; done', 150_000);
      }
      const env = { XDG_RUNTIME_DIR: t.scratch };
      const copies: number[] = [];
      const pastes: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        await consoles[0].run(`printf bench-${i} | DISPLAY=:0 xclip -selection clipboard -i`, 30_000);
        let start = performance.now();
        const copy = await t.vms(['clipboard', 'copy', 'a'], { env });
        copies.push((performance.now() - start) / 1000);
        start = performance.now();
        const paste = await t.vms(['clipboard', 'paste', 'b'], { env });
        pastes.push((performance.now() - start) / 1000);
        if (copy.exitCode !== 0 || paste.exitCode !== 0) throw new Error(`${copy.stderr}${paste.stderr}`);
      }
      const trace = await t.vms(['clipboard', 'copy', 'a'], { env: { ...env, VMS_TRACE: '1' } });
      const numbers = {
        guiTemplateBuildWarmSeconds: median(builds),
        startToI3OnScreenSeconds: toI3,
        copySeconds: median(copies),
        pasteSeconds: median(pastes),
        copyToPasteSeconds: median(copies.map((c, i) => c + pastes[i])),
      };
      await writeFile(join(REPO, 'test-output', 'bench-gui-desktop.json'), `${JSON.stringify({ ...numbers, copies, pastes, builds }, null, 2)}\n`).catch(() => undefined);
      return [
        `vms template build --profile gui (warm cache, 20G disk, median of ${builds.length})   ${numbers.guiTemplateBuildWarmSeconds.toFixed(1)} s`,
        `vms start → i3's bar in vms view (TCG; KVM not measured here)              ${toI3.toFixed(1)} s`,
        `vms clipboard copy (median of ${RUNS})                                       ${numbers.copySeconds.toFixed(2)} s`,
        `vms clipboard paste (median of ${RUNS})                                      ${numbers.pasteSeconds.toFixed(2)} s`,
        `copy → paste (median of ${RUNS})                                             ${numbers.copyToPasteSeconds.toFixed(2)} s`,
        `libvirt round trips of one copy: ${trace.stderr.split('\n').filter((line) => /^\[vms\] \d+ ms {2}virsh /.test(line)).length}`,
        ...trace.stderr.split('\n').filter((line) => line.startsWith('[vms]')).map((line) => `  ${line}`),
      ].join('\n');
    } finally {
      for (const console of consoles) console.close();
      await stopClipboardTimers();
      xvfb.kill();
      await xvfb;
      await t.cleanup();
    }
  },
};
