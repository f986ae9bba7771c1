import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
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

describe('the Electron edge stays thin', () => {
  it('only main/app/ imports electron or electron-store', () => {
    const importers = files(join(DIST, 'main')).filter((file) => ELECTRON_IMPORT.test(readFileSync(file, 'utf8'))).map((file) => relative(DIST, file));
    assert.ok(importers.length > 0, 'the edge itself was found');
    for (const file of importers) assert.match(file, /^main\/app\//, `${file} imports Electron`);
  });

  it('the modules tested without Electron import without it', async () => {
    for (const module of ['main/ipc/handlers.js', 'main/ipc/service.js', 'main/tray/tray-state.js', 'main/tray/actions.js', 'main/app/desktop-entry.js', 'main/app/args.js']) {
      await import(join(DIST, module));
    }
  });

  it('the renderer bundle holds no Node or Electron code', () => {
    const bundle = readFileSync(join(DIST, 'renderer', 'app.js'), 'utf8');
    assert.doesNotMatch(bundle, /require\(|from ['"]node:|['"]electron['"]|process\.env/);
  });
});
