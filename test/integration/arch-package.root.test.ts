import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execa } from 'execa';

/**
 * The Arch package, built for real from this checkout by packaging/arch/PKGBUILD with Debian's makepkg
 * (`-d`: Arch's dependencies are not installable here), as the unprivileged user vmstest (makepkg refuses
 * root). Then the package is read as pacman would install it: its files, modes, .PKGINFO, the launchers
 * run from an extracted copy, and the host set-up script on this machine's libvirtd (with pools of its
 * own names in a private folder, removed afterwards).
 */

const REPO = new URL('../../../', import.meta.url).pathname;
const PKGBUILD_DIR = join(REPO, 'packaging', 'arch');
const USER = process.env.VMS_TEST_USER ?? 'vmstest';
const URI = 'qemu:///system';
const tag = randomBytes(2).toString('hex');

describe('the Arch package', { timeout: 240_000 }, () => {
  let dir: string;
  let pkg: string;
  let root: string;
  let files: Map<string, string>;
  let built = 0;

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: '/usr/local/bin:/usr/bin:/bin', LC_ALL: 'C', HOME: dir, ...extra });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vms-arch-package-'));
    const { stdout: uid } = await execa('id', ['-u', USER]);
    await chown(dir, Number(uid), Number(uid));
    const checkoutBefore = await readdir(PKGBUILD_DIR);
    const started = performance.now();
    const make = await execa('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', 'makepkg', '-d', '--noconfirm'], {
      cwd: PKGBUILD_DIR, reject: false, all: true, stdin: 'ignore', extendEnv: false,
      env: env({ BUILDDIR: join(dir, 'build'), PKGDEST: join(dir, 'out'), SRCDEST: join(dir, 'srcdest'), LOGDEST: dir, PKGEXT: '.pkg.tar.zst',
        // The checkout's dependencies, instead of npm ci from the registry (see the PKGBUILD).
        VMS_NODE_MODULES: join(REPO, 'node_modules') }),
    });
    built = performance.now() - started;
    assert.equal(make.exitCode, 0, make.all);
    assert.deepEqual(await readdir(PKGBUILD_DIR), checkoutBefore, 'makepkg wrote nothing into the checkout');
    const [file] = await readdir(join(dir, 'out'));
    pkg = join(dir, 'out', file);
    process.stdout.write(`# makepkg built ${file} in ${(built / 1000).toFixed(1)} s\n`);
    const listing = await execa('bsdtar', ['-tvf', pkg], { env: env() });
    files = new Map(listing.stdout.split('\n').map((line) => {
      const parts = line.trim().split(/\s+/);
      return [parts.slice(8).join(' ').replace(/\/$/, ''), parts[0]];
    }));
    root = join(dir, 'root');
    await mkdir(root);
    await execa('bsdtar', ['-xf', pkg, '-C', root], { env: env() });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('builds within two minutes', () => {
    assert.ok(built < 120_000, `makepkg took ${Math.round(built / 1000)} s`);
  });

  it('holds the app, launchers, desktop entry, icon, polkit action, completions and the pools\' folders', () => {
    const expected: Record<string, string> = {
      'usr/bin/vms': '-rwxr-xr-x',
      'usr/bin/vms-tray': '-rwxr-xr-x',
      'usr/lib/vms/package.json': '-rw-r--r--',
      'usr/lib/vms/dist/app/electron-main.mjs': '-rw-r--r--',
      'usr/lib/vms/dist/preload/preload.cjs': '-rw-r--r--',
      'usr/lib/vms/dist/renderer/index.html': '-rw-r--r--',
      'usr/lib/vms/dist/cli/vms.mjs': '-rwxr-xr-x',
      'usr/lib/vms/assets/template/build-template.sh': '-rwxr-xr-x',
      'usr/lib/vms/assets/packaging/setup-host.sh': '-rwxr-xr-x',
      'usr/lib/vms/assets/icons/tray.png': '-rw-r--r--',
      'usr/share/applications/vms.desktop': '-rw-r--r--',
      'usr/share/icons/hicolor/512x512/apps/vms.png': '-rw-r--r--',
      'usr/share/polkit-1/actions/org.vms.build-template.policy': '-rw-r--r--',
      'usr/share/bash-completion/completions/vms': '-rw-r--r--',
      'usr/share/zsh/site-functions/_vms': '-rw-r--r--',
      'usr/share/fish/vendor_completions.d/vms.fish': '-rw-r--r--',
      'var/lib/libvirt/images/vms': 'drwx--x--x',
      'var/lib/libvirt/filesystems/pkg/shared': 'drwxr-xr-x',
      '.INSTALL': '-rw-r--r--',
    };
    for (const [path, mode] of Object.entries(expected)) assert.equal(files.get(path), mode, `${path} ${mode}`);
    // Runs on the system's electron: no Chromium, no node_modules, no source maps, no tests.
    for (const path of files.keys()) assert.doesNotMatch(path, /node_modules|chrome-sandbox|libffmpeg|\.map$|\/test\//, path);
  });

  it('depends on Arch\'s electron and what vms drives', async () => {
    const info = (await execa('bsdtar', ['-xOf', pkg, '.PKGINFO'], { env: env() })).stdout;
    const depends = info.split('\n').filter((l) => l.startsWith('depend = ')).map((l) => l.slice('depend = '.length));
    for (const name of ['electron', 'libvirt', 'qemu-system-x86', 'edk2-ovmf', 'virt-viewer', 'dnsmasq', 'polkit']) assert.ok(depends.includes(name), `depends on ${name}`);
    assert.match(info, /^arch = any$/m);
    const install = await readFile(join(root, '.INSTALL'), 'utf8');
    assert.match(install, /\/usr\/lib\/vms\/assets\/packaging\/setup-host\.sh/);
  });

  it('has a menu entry for the launcher and a polkit action for the builder it ships', async () => {
    const desktop = await readFile(join(root, 'usr/share/applications/vms.desktop'), 'utf8');
    assert.match(desktop, /^Exec=\/usr\/bin\/vms-tray$/m);
    assert.match(desktop, /^Icon=vms$/m);
    assert.doesNotMatch(desktop, /Autostart/, 'the menu entry is not an autostart entry');
    const policy = join(root, 'usr/share/polkit-1/actions/org.vms.build-template.policy');
    await execa('xmllint', ['--noout', policy], { env: env() });
    const execPath = /org\.freedesktop\.policykit\.exec\.path">([^<]+)</.exec(await readFile(policy, 'utf8'))?.[1];
    assert.equal(execPath, '/usr/lib/vms/assets/template/build-template.sh');
    assert.equal(files.get(execPath!.slice(1)), '-rwxr-xr-x');
    const app = JSON.parse(await readFile(join(root, 'usr/lib/vms/package.json'), 'utf8')) as { main: string; desktopName: string };
    assert.equal(app.desktopName, 'vms.desktop');
    assert.ok(files.has(`usr/lib/vms/${app.main}`), 'package.json names the bundled main process');
    await execa(process.execPath, ['--check', join(root, 'usr/lib/vms', app.main)], { env: env() });
  });

  it('runs the CLI from its launcher, and its completions are what the CLI generates', async () => {
    const vms = join(root, 'usr/bin/vms');
    // Inherited from another Electron app's terminal: the launcher drops it.
    const help = await execa(vms, ['--help'], { env: env({ ELECTRON_RUN_AS_NODE: '1' }), extendEnv: false });
    assert.match(help.stdout, /^Usage: vms VERB/);
    const bash = await execa(vms, ['completion', 'bash'], { env: env(), extendEnv: false });
    assert.equal(`${bash.stdout}\n`, await readFile(join(root, 'usr/share/bash-completion/completions/vms'), 'utf8'));
  });

  it('starts the tray app on the system\'s electron with its own folder, without ELECTRON_RUN_AS_NODE', async () => {
    // A stand-in for Arch's /usr/bin/electron (the real one cannot run here): it reports what it got.
    const bin = join(dir, 'fake-bin');
    await mkdir(bin);
    await writeFile(join(bin, 'electron'), '#!/bin/sh\nprintf "%s\\n" "$@"\necho "RUN_AS_NODE=${ELECTRON_RUN_AS_NODE-unset}"\n');
    await chmod(join(bin, 'electron'), 0o755);
    const run = await execa(join(root, 'usr/bin/vms-tray'), ['--hidden'], { env: env({ PATH: `${bin}:/usr/bin:/bin`, ELECTRON_RUN_AS_NODE: '1' }), extendEnv: false });
    assert.deepEqual(run.stdout.split('\n'), [join(root, 'usr/lib/vms'), '--hidden', 'RUN_AS_NODE=unset']);
  });

  it('sets up the storage pools from the install hook\'s script, and again without change', async () => {
    const script = join(root, 'usr/lib/vms/assets/packaging/setup-host.sh');
    const pools = { VMS_POOL_NAME: `vmst${tag}`, VMS_SHARED_POOL_NAME: `vmst${tag}-shared`, VMS_POOL_DIR: join(dir, 'pools', 'vms'), VMS_SHARED_POOL_DIR: join(dir, 'pools', 'pkg', 'shared') };
    const virsh = (...args: string[]) => execa('virsh', ['-c', URI, ...args], { env: env(), extendEnv: false, reject: false });
    try {
      for (let round = 0; round < 2; round++) {
        const result = await execa(script, [], { env: env(pools), extendEnv: false, reject: false });
        assert.equal(result.exitCode, 0, result.stderr);
        for (const name of [pools.VMS_POOL_NAME, pools.VMS_SHARED_POOL_NAME]) {
          const info = (await virsh('pool-info', name)).stdout;
          assert.match(info, /^State:\s+running$/m, `${name} runs (round ${round + 1})`);
          assert.match(info, /^Autostart:\s+yes$/m);
        }
      }
      assert.match((await virsh('pool-dumpxml', pools.VMS_SHARED_POOL_NAME)).stdout, new RegExp(`<path>${pools.VMS_SHARED_POOL_DIR}</path>`));
      // libvirt down: one line that says what to run, and a distinct exit code for the hook.
      const down = await execa(script, [], { env: env({ ...pools, VMS_SETUP_URI: `qemu+unix:///system?socket=${join(dir, 'nobody.sock')}` }), extendEnv: false, reject: false });
      assert.equal(down.exitCode, 75);
      assert.match(down.stderr.trim(), /^setup-host: libvirt is not running at .*: run sudo systemctl enable --now libvirtd\.socket, then sudo \S+setup-host\.sh$/);
      // Not root: refused before touching libvirt.
      const user = await execa('setpriv', [`--reuid=${USER}`, `--regid=${USER}`, '--init-groups', '--', script], { env: env(pools), extendEnv: false, reject: false });
      assert.equal(user.exitCode, 1);
      assert.equal(user.stderr.trim().split('\n').length, 1);
    } finally {
      for (const name of [pools.VMS_POOL_NAME, pools.VMS_SHARED_POOL_NAME]) {
        await virsh('pool-destroy', name);
        await virsh('pool-undefine', name);
      }
    }
  });

  it('electron-builder packs the AppImage\'s app from the same bundles (dir target, a stand-in Electron)', async () => {
    // The AppImage target itself needs Electron's binary and appimagetool from the network; the "dir"
    // target runs the same configuration (metadata, files, extra resources, asar) up to that step.
    const electronDist = join(dir, 'electron-dist');
    await mkdir(electronDist);
    await writeFile(join(electronDist, 'electron'), '#!/bin/sh\n');
    await chmod(join(electronDist, 'electron'), 0o755);
    const out = join(dir, 'builder-out');
    const result = await execa(join(REPO, 'node_modules', '.bin', 'electron-builder'), ['--linux', 'dir', `-c.electronDist=${electronDist}`,
      '-c.electronVersion=41.7.1', `-c.directories.output=${out}`], { cwd: REPO, reject: false, all: true, env: { ...env(), ELECTRON_SKIP_BINARY_DOWNLOAD: '1' }, extendEnv: false });
    assert.equal(result.exitCode, 0, result.all);
    const resources = join(out, 'linux-unpacked', 'resources');
    const { listPackage } = await import(join(REPO, 'node_modules', '@electron', 'asar', 'lib', 'asar.js')) as { listPackage: (archive: string) => string[] };
    const archived = listPackage(join(resources, 'app.asar')).filter((p) => !p.endsWith('/dist') && p.includes('.'));
    assert.deepEqual(archived.sort(), ['/dist/app/electron-main.mjs', '/dist/cli/vms.mjs', '/dist/preload/preload.cjs', '/dist/renderer/app.js',
      '/dist/renderer/index.html', '/dist/renderer/style.css', '/package.json']);
    assert.ok((await readdir(join(resources, 'assets', 'template'))).includes('build-template.sh'));
    assert.ok((await readdir(join(out, 'linux-unpacked'))).includes('vms-tray'));
  });
});
