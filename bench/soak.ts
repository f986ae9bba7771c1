/**
 * `npm run soak`: SOAK_CYCLES (default 200) disposable cycles as the desktop user (test/helpers/soak.ts),
 * on the busybox test guest, in a private pool and state folder; prints the census table as it goes and
 * exits non-zero when anything was left or memory grew beyond its bound (SOAK_BOUNDS). Run it through
 * scripts/soak.mjs, which builds the guest and drops to the desktop user when started as root.
 */
import { makeTestEngine, testGuestImage } from '../test/helpers/engine-fixture.js';
import { soak, SOAK_BOUNDS, soakProblems, soakTable } from '../test/helpers/soak.js';

const cycles = Number(process.env.SOAK_CYCLES ?? 200);
const every = Number(process.env.SOAK_EVERY ?? 20);
if (!Number.isInteger(cycles) || cycles < 1) throw new Error(`SOAK_CYCLES=${process.env.SOAK_CYCLES} is not a number of cycles`);

const template = `soak${Math.random().toString(36).slice(2, 6)}`;
const t = await makeTestEngine('soak');
let failed = true;
try {
  await t.engine.importTemplate(template, await testGuestImage());
  console.log(`${cycles} disposable cycles on ${template} (busybox guest, TCG), census every ${every}:`);
  let printed = false;
  const result = await soak(t, template, cycles, {
    every,
    onCensus: (row) => {
      const lines = soakTable([row]).split('\n');
      console.log(printed ? lines[1] : lines.join('\n'));
      printed = true;
    },
  });
  const problems = soakProblems(result, cycles);
  const first = result.rows[0];
  const last = result.rows.at(-1)!;
  console.log(`\n${cycles} cycles in ${last.seconds} s; lifecycle events seen by one long-lived watch: ${result.events}`);
  console.log(`engine RSS ${first.engineRssMiB} -> ${last.engineRssMiB} MiB (bound +${SOAK_BOUNDS.engineGrowthMiB}), libvirtd RSS ${first.libvirtdRssMiB} -> ${last.libvirtdRssMiB} MiB (bound +${SOAK_BOUNDS.libvirtdGrowthMiB})`);
  console.log(problems.length ? `PROBLEMS:\n${problems.join('\n')}` : 'Nothing left, nothing leaked.');
  failed = problems.length > 0;
} finally {
  await t.cleanup();
  t.engine.close();
}
process.exit(failed ? 1 : 0);
