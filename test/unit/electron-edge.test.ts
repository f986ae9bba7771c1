import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';

/**
 * Electron cannot run on the test machines, so everything but the thin edge (main/app/) must run without
 * it: no other compiled module may import 'electron' or 'electron-store'. The renderer and preload bundles
 * must not carry Node built-ins either.
 */
const DIST = new URL('../../', import.meta.url).pathname;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.js') ? [path] : [];
  });
}

const ELECTRON_IMPORT = /(?:from\s+|import\s*\(\s*|require\s*\(\s*)['"](electron|electron-store)['"]/;

describe('the Electron edge stays thin', { timeout: 60_000 }, () => {
  it('only main/app/ imports electron or electron-store', () => {
    const importers = files(join(DIST, 'main')).filter((file) => ELECTRON_IMPORT.test(readFileSync(file, 'utf8'))).map((file) => relative(DIST, file));
    assert.ok(importers.length > 0, 'the edge itself was found');
    for (const file of importers) assert.match(file, /^main\/app\//, `${file} imports Electron`);
  });

  it('the modules tested without Electron import without it, and export what the edge uses', async () => {
    const expected: Record<string, string[]> = {
      'main/ipc/handlers.js': ['createHandlers'], 'main/ipc/service.js': ['VmsService'], 'main/tray/tray-state.js': ['TrayState'],
      'main/tray/actions.js': ['runTrayAction'], 'main/tray/tray-host.js': ['waitForTrayHost', 'displayServer'],
      'main/app/desktop-entry.js': ['desktopEntry'], 'main/app/args.js': ['parseAppArgs'], 'main/app/child-env.js': ['childEnv'],
      'main/app/desktop-session.js': ['detectDesktop', 'loginStart'], 'main/app/app-paths.js': ['chromiumProfileDir'],
    };
    for (const [module, names] of Object.entries(expected)) {
      const loaded = await import(join(DIST, module)) as Record<string, unknown>;
      for (const name of names) assert.equal(typeof loaded[name], 'function', `${module} exports ${name}`);
    }
  });

  it('the bundled main process leaves electron to Electron and carries its other dependencies', () => {
    const bundle = readFileSync(join(DIST, 'app', 'electron-main.mjs'), 'utf8');
    assert.match(bundle, /from "electron"/);
    assert.doesNotMatch(bundle, /from "(?:electron-store|execa|fast-xml-parser)"/);
  });

  it('the bundle runs its top level on a stand-in electron: profile apart, then the single-instance lock', async () => {
    // Laid out as a package would be: the bundle and an 'electron' module it resolves, nothing else.
    const dir = mkdtempSync(join(tmpdir(), 'vms-main-bundle-'));
    try {
      mkdirSync(join(dir, 'app'));
      cpSync(join(DIST, 'app', 'electron-main.mjs'), join(dir, 'app', 'electron-main.mjs'));
      cpSync(join(DIST, '..', 'test', 'fixtures', 'electron-stub'), join(dir, 'node_modules', 'electron'), { recursive: true });
      const run = spawnSync(process.execPath, [join(dir, 'app', 'electron-main.mjs'), '--new-disposable'], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH, LC_ALL: 'C' } });
      assert.equal(run.status, 0, run.stderr);
      const calls = JSON.parse(run.stdout.trim().split('\n').pop()!) as unknown[][];
      assert.deepEqual(calls.slice(0, 2), [['setPath', 'userData', '/stub/appData/vms-tray-dev'], ['requestSingleInstanceLock', { newDisposable: true, hidden: false }]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the renderer bundle holds no Node or Electron code', () => {
    const bundle = readFileSync(join(DIST, 'renderer', 'app.js'), 'utf8');
    assert.doesNotMatch(bundle, /require\(|from ['"]node:|['"]electron['"]|process\.env/);
  });
});
