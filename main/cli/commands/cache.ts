import type { FolderUsage } from '../../engine/storage/pkg-cache.js';
import { formatBytes } from '../../engine/units.js';
import type { Command } from '../command.js';
import { CONFIRM_OPTIONS, confirmOrStop } from '../confirm.js';
import { wholeNumber } from '../options.js';

/** Keeping fewer versions than this empties the cache of packages in use: asked first. */
const SAFE_KEEP = 1;

/** The table `vms cache` prints. Pure. */
export function formatCacheUsage(folders: readonly FolderUsage[]): string {
  const rows = folders.map((f) => [
    f.name === 'shared' ? 'shared (read-only in VMs)' : f.hasVm === false ? `${f.name} (no such VM)` : f.name,
    formatBytes(f.bytes),
    `${f.files} file${f.files === 1 ? '' : 's'}`,
  ]);
  const total = folders.reduce((sum, f) => sum + f.bytes, 0);
  rows.push(['total', formatBytes(total), '']);
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r[0].padEnd(widths[0])}  ${r[1].padStart(widths[1])}  ${r[2]}`.trimEnd()).join('\n');
}

export const cache: Command = {
  name: 'cache',
  summary: 'Show the size of the shared pacman cache and of each VM’s own',
  usage: '',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  async run({ engine, json, io }) {
    const usage = await engine.cacheUsage();
    io.out(json ? JSON.stringify(usage, null, 2) : `${formatCacheUsage(usage)}\n(in ${engine.config.pkgCacheDir})`);
  },
};

export const cachePrune: Command = {
  name: 'cache prune',
  summary: 'Keep only the newest versions of each package in the pacman caches (like paccache)',
  usage: '[--keep N] [--dry-run] [--yes]',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  options: {
    keep: { type: 'string', short: 'k', valueName: 'N', description: 'Versions of each package to keep (default 2)' },
    'dry-run': { type: 'boolean', short: 'n', description: 'Only say what would be removed' },
    ...CONFIRM_OPTIONS,
  },
  async run({ engine, json, io }, { values }) {
    const keep = wholeNumber(values.keep, 'keep') ?? 2;
    const keepText = String(keep);
    const dryRun = values['dry-run'] === true;
    if (keep < SAFE_KEEP && !dryRun) {
      await confirmOrStop(io, values.yes === true, `Remove every cached version of every package (--keep ${keep}), so VMs download them again?`, `vms cache prune --keep ${keep}`);
    }
    const { pruned, orphans } = await engine.pruneCache(keep, { dryRun });
    if (json) {
      io.out(JSON.stringify({ dryRun, pruned, orphans }, null, 2));
      return;
    }
    const lines = pruned.map((p) => `${p.folder}: ${dryRun ? 'would remove' : 'removed'} ${p.removed.length} file${p.removed.length === 1 ? '' : 's'} (${formatBytes(p.freedBytes)})`);
    for (const name of orphans) lines.push(`${name}: removed the cache of a VM that no longer exists`);
    io.out(lines.length > 0 ? lines.join('\n') : `Nothing to remove: every package has at most ${keepText} version${keepText === '1' ? '' : 's'}.`);
  },
};
