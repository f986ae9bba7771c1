// Bundles what must be one file: the CLI (one file starts about twice as fast as hundreds of modules),
// the sandboxed preload (it may only require 'electron'), and the renderer (plain browser script).
import { build } from 'esbuild';
import { chmodSync, cpSync, mkdirSync } from 'node:fs';

const common = { bundle: true, logLevel: 'warning', sourcemap: true, target: 'es2022' };

await build({
  ...common,
  entryPoints: ['main/cli/vms.ts'],
  outfile: 'dist/cli/vms.mjs',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  banner: { js: "#!/usr/bin/env node\nimport { createRequire as vmsCreateRequire } from 'node:module';\nconst require = vmsCreateRequire(import.meta.url);" },
});
chmodSync('dist/cli/vms.mjs', 0o755);
