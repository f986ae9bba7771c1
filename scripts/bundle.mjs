// Bundles what must be one file: the CLI (one file starts about twice as fast as hundreds of modules),
// the sandboxed preload (it may only require 'electron'), and the renderer (plain browser script).
import { build } from 'esbuild';
import { chmodSync, cpSync, mkdirSync } from 'node:fs';

const common = { bundle: true, logLevel: 'warning', sourcemap: true, target: 'es2022' };
// ESM bundles of CommonJS dependencies need a require of their own.
const nodeRequire = "import { createRequire as vmsCreateRequire } from 'node:module';\nconst require = vmsCreateRequire(import.meta.url);";

await build({
  ...common,
  entryPoints: ['main/cli/vms.ts'],
  outfile: 'dist/cli/vms.mjs',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: `#!/usr/bin/env node\n${nodeRequire}` },
});
chmodSync('dist/cli/vms.mjs', 0o755);

// The tray app's main process, with its dependencies, as one file: packages (the Arch package on the
// system's electron, the AppImage) ship it without a node_modules folder. 'electron' is Electron's own.
await build({
  ...common,
  entryPoints: ['main/app/electron-main.ts'],
  outfile: 'dist/app/electron-main.mjs',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['electron'],
  banner: { js: nodeRequire },
});

// The tray app's sandboxed preload: CommonJS, and 'electron' is the only module it may require.
await build({
  ...common,
  entryPoints: ['preload/preload.ts'],
  outfile: 'dist/preload/preload.cjs',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['electron'],
});

// The renderer: plain browser code, one script for every view, served with a strict CSP (no inline code).
await build({
  ...common,
  entryPoints: ['renderer/app.ts'],
  outfile: 'dist/renderer/app.js',
  platform: 'browser',
  format: 'iife',
});
mkdirSync('dist/renderer', { recursive: true });
cpSync('renderer/index.html', 'dist/renderer/index.html');
cpSync('renderer/style.css', 'dist/renderer/style.css');
// esbuild does not type-check: the browser and preload code are checked here (the main tsc run covers the rest).
const { execFileSync } = await import('node:child_process');
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'renderer/tsconfig.json'], { stdio: 'inherit' });
