import { makeTestEngine } from '../test/helpers/engine-fixture.js';
import { SerialConsole } from '../test/helpers/serial-console.js';
import type { BenchSection } from './sections.js';
import { fixtureRepository } from '../test/helpers/arch-repo.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * `vms template build` with a warm cache (the local pacman repository fixture stands in for Arch's
 * mirrors), and the time from `virsh start` of a VM made from it to `login:` on its serial console.
 */
export const templateBuildSection: BenchSection = {
  title: 'Template build (warm cache) and boot to login:',
  async run() {
    const pacmanConf = await fixtureRepository();
    const t = await makeTestEngine('benchtpl', { defaultMemoryMiB: 1024 });
    try {
      const builds: number[] = [];
      for (let i = 0; i < Math.min(RUNS, 3); i++) {
        const start = performance.now();
        const run = await t.vms(['template', 'build', `arch${i}`, '--pacman-conf', pacmanConf, '--disk-size', '20G'], { asRoot: true });
        if (run.exitCode !== 0) throw new Error(run.stderr);
        builds.push((performance.now() - start) / 1000);
      }
      await t.engine.create('mail', { template: 'arch0' });
      const boots: number[] = [];
      for (let i = 0; i < Math.min(RUNS, 3); i++) {
        const start = performance.now();
        await t.engine.start('mail');
        const console = await SerialConsole.forDomain('mail', t.config.uri);
        await console.waitFor(/login:/, 600_000);
        boots.push((performance.now() - start) / 1000);
        console.close();
        await t.engine.kill('mail');
      }
      return [
        `vms template build (warm cache, median of ${builds.length})   ${median(builds).toFixed(1)} s`,
        `virsh start → login: (TCG, median of ${boots.length})           ${median(boots).toFixed(1)} s`,
      ].join('\n');
    } finally {
      await t.cleanup();
    }
  },
};
