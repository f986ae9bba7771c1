// Runs every compiled test file with Node's own test runner: unit tests, then integration tests.
//
// vms runs as the desktop user, so the tests do too: run as root (CI), this script prepares what only
// root may (the cached test guest, a test-output folder the user can write), then runs the unit and
// integration tests as the unprivileged user VMS_TEST_USER (default vmstest, made by .ci/prepare-host.sh),
// and last, as root, the files named *.root.test.js: those test what really needs root (building a
// template with pacstrap), and even they run their VM operations as the user.
import { chownSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

function testFiles(dir) {
  let found = [];
  let entries;
  try { entries = readdirSync(dir).sort(); } catch { return found; }
  for (const entry of entries) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) found = found.concat(testFiles(path));
    else if (entry.endsWith('.test.js')) found.push(path);
  }
  return found;
}

const only = process.argv.slice(2);
const files = only.length ? only.flatMap((p) => (p.endsWith('.js') ? [p] : testFiles(p)))
  : [...testFiles('dist/test/unit'), ...testFiles('dist/test/integration')];
if (files.length === 0) {
  console.error('No test files found: run `npm run build` first.');
  process.exit(1);
}

const isRoot = process.getuid?.() === 0;
const testUser = process.env.VMS_TEST_USER ?? 'vmstest';
const userExists = isRoot && spawnSync('id', ['-u', testUser]).status === 0;
if (isRoot && !userExists) {
  console.error(`The test user ${testUser} does not exist: run .ci/prepare-host.sh first (or set VMS_TEST_USER).`);
  process.exit(1);
}
const userFiles = files.filter((f) => !f.endsWith('.root.test.js'));
const rootFiles = files.filter((f) => f.endsWith('.root.test.js'));

if (isRoot) {
  const uid = Number(spawnSync('id', ['-u', testUser]).stdout);
  const gid = Number(spawnSync('id', ['-g', testUser]).stdout);
  mkdirSync('test-output', { recursive: true });
  chownSync('test-output', uid, gid);
  // The cached busybox test guest is built as root once per machine; the user's tests only read it.
  if (files.some((f) => f.includes('/integration/'))) {
    const guest = spawnSync('test/fixtures/guest/build-test-guest.sh', [process.env.VMS_TEST_GUEST_DIR || '/var/cache/vms-test/guest'], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (guest.status !== 0) process.exit(guest.status ?? 1);
  }
}

let passed = 0;
let failed = 0;

/** Runs one test runner invocation (one at a time: integration tests boot guests on a 2-core machine). */
function runTests(list, asUser) {
  if (list.length === 0) return Promise.resolve(0);
  const node = [process.execPath, '--enable-source-maps', '--test', '--test-concurrency=1', '--test-reporter=spec',
    // A guard for a hung guest: no single test may take longer (each file sets its own, shorter timeout).
    '--test-timeout=1500000', ...list];
  const command = asUser ? ['runuser', '-u', testUser, '--', ...node] : node;
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, VMS_TEST_USER: testUser } });
  let partial = '';
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    const lines = (partial + chunk.toString()).split('\n');
    partial = lines.pop();
    for (const line of lines) {
      // The runner's summary: `ℹ pass 12`, `ℹ fail 0`, `ℹ cancelled 0` (a failed hook cancels its tests).
      const match = /^\S*\s*(pass|fail|cancelled) (\d+)$/.exec(line);
      if (match?.[1] === 'pass') passed += Number(match[2]);
      else if (match) failed += Number(match[2]);
    }
  });
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

const userStatus = await runTests(userFiles, isRoot);
const rootStatus = await runTests(rootFiles, false);
// One closing line for both runs.
console.log(`\n${passed} passed, ${failed} failed`);
if (isRoot) {
  // Empty folders libvirt made for the tests' package-cache pools (the user cannot remove them).
  for (const dir of ['/var/lib/libvirt/filesystems']) {
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir).filter((e) => e.startsWith('vms-test-'))) spawnSync('rmdir', [join(dir, entry)]);
  }
}
process.exit(userStatus || rootStatus);
