// Writes the files a system package installs besides the build itself, all made from the code they
// describe: the app's package.json for the system's electron, the menu entry (the same builder as the
// autostart entry), and the shell completions (from the command table of `vms --help`).
//   node scripts/package-files.mjs OUT_DIR     (after npm run build)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { desktopEntry } from '../dist/main/app/desktop-entry.js';
import { INSTALLED_LAUNCHER } from '../dist/main/app/app-paths.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/package-files.mjs OUT_DIR');
  process.exit(2);
}
mkdirSync(join(out, 'completions'), { recursive: true });

// Only what Electron reads: the name (the app's name), the entry point, and the desktop file it belongs to.
const project = JSON.parse(readFileSync('package.json', 'utf8'));
const app = { name: project.name, version: project.version, description: project.description, main: project.main, desktopName: project.desktopName, type: project.type };
writeFileSync(join(out, 'package.json'), `${JSON.stringify(app, null, 2)}\n`);

writeFileSync(join(out, 'vms.desktop'), desktopEntry({ exec: [INSTALLED_LAUNCHER], icon: 'vms', autostart: false }));

const completions = { bash: 'vms', zsh: '_vms', fish: 'vms.fish' };
for (const [shell, file] of Object.entries(completions)) {
  const script = execFileSync(process.execPath, ['dist/cli/vms.mjs', 'completion', shell], { env: { ...process.env, LC_ALL: 'C' } });
  writeFileSync(join(out, 'completions', file), script);
}
