// Runs every compiled test file with Node's own test runner: unit tests first, then integration tests.
// Node 20 has no glob support for --test, so the file list is collected here.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

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
// One runner invocation, so the run ends with a single summary; files run one at a time, in this order,
// because integration tests boot real guests and share one libvirtd on a 2-core machine.
const files = only.length ? only.flatMap((p) => (p.endsWith('.js') ? [p] : testFiles(p)))
  : [...testFiles('dist/test/unit'), ...testFiles('dist/test/integration')];
if (files.length === 0) {
  console.error('No test files found: run `npm run build` first.');
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(run.status ?? 1);
