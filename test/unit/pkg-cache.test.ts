import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatCacheUsage } from '../../main/cli/commands/cache.js';
import { pkgSharedFolders, PkgCacheLayout } from '../../main/engine/pkg-cache.js';
import { parsePackageFileName, planPrune, vercmp } from '../../main/engine/pkg-versions.js';

// Expected values are what pacman's own `vercmp` (pacman-package-manager 6.0.2) prints for each pair.
const VERCMP: Array<[string, string, number]> = [
  ['1.5.0', '1.5.0', 0], ['1.5.1', '1.5.0', 1], ['1.5.0', '1.5', 1], ['1.5b', '1.5', -1],
  ['1.0a', '1.0alpha', -1], ['1.0alpha', '1.0b', -1], ['1.0b', '1.0beta', -1], ['1.0beta', '1.0rc', -1],
  ['1.0rc', '1.0', -1], ['1.0', '1.0.a', -1], ['1.0.a', '1.0.1', -1], ['1.0.1', '1.0.1a', 1],
  ['1.0a', '1.0.1', -1], ['1.0', '1.0a', 1], ['1.0.0', '1.0..0', -1], ['1.0..0', '1.0.1', 1],
  ['1:1.0', '2.0', 1], ['2.0', '1:1.0', -1], ['1:1.0-1', '1:1.0-2', -1], ['1.0-1', '1.0', 0],
  ['1.0', '1.0-1', 0], ['1.0-2', '1.0-10', -1], ['0:1.0', '1.0', 0], ['010', '10', 0],
  ['1.001', '1.1', 0], ['2.3.4-1.1', '2.3.4-1', 1], ['2.3.4-1.1', '2.3.4-1.2', -1], ['1_0', '1.0', 0],
  ['1+2', '1.2', 0], ['a', 'b', -1], ['1.0~rc1', '1.0', 1], ['20240101', '1.0', 1],
  ['6.1.0.r5.gabc-1', '6.1.0-1', 1], ['1.2.3', '1.2.10', -1], ['2.03', '2.3', 0], ['1.0a1', '1.0a', 1],
];

test('vercmp orders versions exactly as pacman does', () => {
  for (const [a, b, expected] of VERCMP) {
    assert.equal(Math.sign(vercmp(a, b)), expected, `vercmp ${a} ${b}`);
    assert.equal(Math.sign(vercmp(b, a)), 0 - expected || 0, `vercmp ${b} ${a}`);
  }
});

test('package file names are split from the right: names may hold dashes, versions may hold an epoch', () => {
  assert.deepEqual(parsePackageFileName('linux-firmware-whence-20240909.552ed9b0-1-any.pkg.tar.zst'),
    { file: 'linux-firmware-whence-20240909.552ed9b0-1-any.pkg.tar.zst', name: 'linux-firmware-whence', version: '20240909.552ed9b0-1', arch: 'any' });
  assert.deepEqual(parsePackageFileName('python-3.12.7-1-x86_64.pkg.tar.xz')?.version, '3.12.7-1');
  assert.equal(parsePackageFileName('vim-2:9.1.0785-1-x86_64.pkg.tar.zst')?.version, '2:9.1.0785-1');
  assert.equal(parsePackageFileName('vim-2:9.1.0785-1-x86_64.pkg.tar.zst.sig'), undefined, 'a signature is not a package');
  assert.equal(parsePackageFileName('download-3f2a.part'), undefined);
  assert.equal(parsePackageFileName('README'), undefined);
  assert.equal(parsePackageFileName('x-1-x86_64.pkg.tar.zst'), undefined, 'needs name, version, release and arch');
});

test('prune keeps the newest N versions of each package and architecture, with their signatures', () => {
  const files = [
    'bash-5.2.032-1-x86_64.pkg.tar.zst', 'bash-5.2.032-1-x86_64.pkg.tar.zst.sig',
    'bash-5.2.037-1-x86_64.pkg.tar.zst', 'bash-5.2.037-1-x86_64.pkg.tar.zst.sig',
    'bash-5.2.037-2-x86_64.pkg.tar.zst',
    'bash-5.2.9-1-x86_64.pkg.tar.zst',
    'bash-completion-2.14.0-2-any.pkg.tar.zst',
    'vim-1:9.2-1-x86_64.pkg.tar.zst', 'vim-2:9.1-1-x86_64.pkg.tar.zst', 'vim-9.3-1-x86_64.pkg.tar.zst',
    'lib32-glibc-2.40-1-x86_64.pkg.tar.zst', 'lib32-glibc-2.39-1-x86_64.pkg.tar.zst',
    'glibc-2.39-1-i686.pkg.tar.zst',
    'notes.txt', 'foo-1.0-1-x86_64.pkg.tar.zst.part',
  ];
  const plan = planPrune(files, 2);
  assert.deepEqual(plan.remove, [
    'bash-5.2.032-1-x86_64.pkg.tar.zst', 'bash-5.2.032-1-x86_64.pkg.tar.zst.sig', 'bash-5.2.9-1-x86_64.pkg.tar.zst',
    'vim-9.3-1-x86_64.pkg.tar.zst',
  ]);
  assert.ok(plan.keep.includes('bash-5.2.037-2-x86_64.pkg.tar.zst') && plan.keep.includes('bash-5.2.037-1-x86_64.pkg.tar.zst.sig'));
  assert.ok(plan.keep.includes('vim-2:9.1-1-x86_64.pkg.tar.zst'), 'the epoch wins over the version');
  assert.ok(!plan.keep.includes('notes.txt') && !plan.remove.includes('notes.txt'), 'other files are left alone');
  assert.deepEqual(planPrune(files, 1).remove.filter((f) => f.startsWith('lib32')), ['lib32-glibc-2.39-1-x86_64.pkg.tar.zst']);
  assert.deepEqual(planPrune(files, 0).keep, []);
  assert.throws(() => planPrune(files, -1));
});

test('the same version packed twice counts once', () => {
  const plan = planPrune(['a-1-1-any.pkg.tar.xz', 'a-1-1-any.pkg.tar.zst', 'a-2-1-any.pkg.tar.zst'], 2);
  assert.deepEqual(plan.remove, []);
  assert.deepEqual(planPrune(['a-1-1-any.pkg.tar.xz', 'a-1-1-any.pkg.tar.zst', 'a-2-1-any.pkg.tar.zst'], 1).remove, ['a-1-1-any.pkg.tar.xz', 'a-1-1-any.pkg.tar.zst']);
});

test('cache folders: shared is shared read-only as it is, each VM has its own', () => {
  const layout = new PkgCacheLayout('/srv/pkg');
  assert.deepEqual(pkgSharedFolders(layout, 'mail'), [
    { source: '/srv/pkg/shared', tag: 'pkg-shared', readonly: true },
    { source: '/srv/pkg/mail', tag: 'pkg-vm' },
  ]);
  assert.throws(() => layout.vmDir('shared'));
  assert.throws(() => layout.vmDir('../etc'));
});

test('vms cache prints sizes per folder and a total', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(300 * 2 ** 20), '300 MiB');
  const text = formatCacheUsage([
    { name: 'shared', path: '/p/shared', bytes: 2 * 2 ** 30, files: 10 },
    { name: 'mail', path: '/p/mail', bytes: 4096, files: 1, hasVm: true },
    { name: 'gone', path: '/p/gone', bytes: 0, files: 0, hasVm: false },
  ]);
  assert.match(text, /^shared \(read-only in VMs\) +2\.0 GiB +10 files$/m);
  assert.match(text, /^mail +4\.0 KiB +1 file$/m);
  assert.match(text, /^gone \(no such VM\) +0 B +0 files$/m);
  assert.match(text, /^total +2\.0 GiB$/m);
});
