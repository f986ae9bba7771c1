// `npm run soak`: many disposable cycles as the desktop user (dist/bench/soak.js). As root (CI, or a
// developer with sudo) it first builds the cached busybox test guest, as run-tests.mjs does, then runs the
// soak as VMS_TEST_USER (default vmstest); as a member of group libvirt it runs it directly.
// SOAK_CYCLES (default 200) and SOAK_EVERY (census interval, default 20) pass through.
import { spawnSync } from 'node:child_process';

const soak = [process.execPath, '--expose-gc', '--enable-source-maps', 'dist/bench/soak.js'];
let command = soak;
if (process.getuid?.() === 0) {
  const user = process.env.VMS_TEST_USER ?? 'vmstest';
  if (spawnSync('id', ['-u', user]).status !== 0) {
    console.error(`The test user ${user} does not exist: run .ci/prepare-host.sh first (or set VMS_TEST_USER).`);
    process.exit(1);
  }
  const guest = spawnSync('test/fixtures/guest/build-test-guest.sh', [process.env.VMS_TEST_GUEST_DIR || '/var/cache/vms-test/guest'], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (guest.status !== 0) process.exit(guest.status ?? 1);
  command = ['runuser', '-u', user, '--', ...soak];
}
const run = spawnSync(command[0], command.slice(1), { stdio: 'inherit' });
process.exit(run.status ?? 1);
