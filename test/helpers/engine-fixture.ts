import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { resolveConfig, type EngineConfig } from '../../main/engine/config.js';
import { Engine } from '../../main/engine/index.js';
import { Libvirt } from '../../main/engine/libvirt/connection.js';
import { listPools, listVolumes } from '../../main/engine/libvirt/storage.js';
import { dhcpHostXml, readDhcpHosts } from '../../main/engine/network/dhcp-hosts.js';

/**
 * Shared set-up for tests on a real libvirtd, run as the unprivileged desktop user: a private storage
 * pool and state folder, an Engine on them (TCG, small guests), the CLI bundle to run as a user would,
 * and a cleanup that removes every domain with a disk in that pool (disposables included), the pool's
 * volumes, the pool itself and its package-cache pools.
 */

export const URI = 'qemu:///system';
/** Where build-test-guest.sh keeps its cached output. */
// VMS_TEST_GUEST_DIR: a worktree whose guest differs keeps its own cache instead of rebuilding a shared one.
export const TEST_GUEST_DIR = process.env.VMS_TEST_GUEST_DIR || '/var/cache/vms-test/guest';
const REPO = new URL('../../../', import.meta.url).pathname;
export const CLI = join(REPO, 'dist', 'cli', 'vms.mjs');

/** When the test process is root: the unprivileged user VM operations run as (scripts/run-tests.mjs sets it). */
export function testUser(): string | undefined {
  return process.getuid?.() === 0 ? process.env.VMS_TEST_USER : undefined;
}

let guestImage: Promise<string> | undefined;

/**
 * The small bootable busybox guest. Built once per machine, as root, into a cache that every user can
 * read (scripts/run-tests.mjs builds it before it runs the integration tests as the unprivileged user).
 */
export function testGuestImage(): Promise<string> {
  const image = join(TEST_GUEST_DIR, 'test-guest.qcow2');
  guestImage ??= access(image, constants.R_OK).then(() => image, async () => {
    if (process.getuid?.() !== 0) throw new Error(`${image} is missing: build it once as root with test/fixtures/guest/build-test-guest.sh ${TEST_GUEST_DIR}`);
    await execa(join(REPO, 'test', 'fixtures', 'guest', 'build-test-guest.sh'), [TEST_GUEST_DIR], { stderr: 'inherit' });
    return image;
  });
  return guestImage;
}

export interface TestEngine {
  engine: Engine;
  config: EngineConfig;
  /** The test's own storage pool (its folder is <imagesDir>/<pool>, made by libvirt). */
  pool: string;
  imagesDir: string;
  /** A folder of the test user's own for scratch files (images to import, sysfs trees, …). */
  scratch: string;
  /** Environment for running the CLI against the same pool. */
  env: NodeJS.ProcessEnv;
  /** Runs the real `vms` command line, as the unprivileged test user (as root only with `asRoot`). */
  /** `input` is its standard input (else an open pipe nothing is written to). */
  vms(args: string[], options?: { reject?: boolean; asRoot?: boolean; env?: NodeJS.ProcessEnv; input?: string }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  /** Every volume of the test's pool, as libvirt lists it now. */
  volumes(): Promise<string[]>;
  cleanup(): Promise<void>;
}

export async function makeTestEngine(tag: string, settings: Partial<EngineConfig> = {}): Promise<TestEngine> {
  const id = `${tag}-${randomBytes(3).toString('hex')}`;
  const pool = `vms-test-${id}`;
  // libvirt makes the pool's folder (<imagesDir>/<pool>, as root), so the test needs no rights on
  // libvirt's folders, and removes it with the pool.
  const imagesDir = '/var/lib/libvirt/images';
  const pkgCacheDir = `/var/lib/libvirt/filesystems/vms-test-${id}`;
  const home = await mkdtemp(join(tmpdir(), `vms-test-${id}-`));
  // QEMU (another user) reads what tests hand it from scratch/ (a USB stick image): traversable.
  await chmod(home, 0o755);
  for (const dir of ['scratch', 'state', 'state/locks', 'state/pending', 'state/disposable', 'state/updating', 'config']) await mkdir(join(home, dir));
  // Small VMs for a 2-core TCG host, for the CLI as for the in-process engine (the CLI reads config.json).
  const small = { defaultMemoryMiB: 512, defaultVcpus: 1, defaultDiskSize: '1G', ...settings };
  await writeFile(join(home, 'config', 'config.json'), JSON.stringify(small, null, 2));
  // A test file that runs as root (it builds a template) still runs its VM operations as the user.
  const user = testUser();
  if (user) await execa('chown', ['-R', `${user}:${user}`, home]);
  const before = await libvirtObjects();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VMS_URI: URI,
    VMS_POOL: pool,
    VMS_IMAGES_DIR: imagesDir,
    VMS_ACCEL: 'tcg',
    VMS_CONFIG_DIR: join(home, 'config'),
    VMS_STATE_DIR: join(home, 'state'),
    VMS_PKG_CACHE_DIR: pkgCacheDir,
    // No background pool of preloaded disposables unless a test asks for one.
    VMS_DISPOSABLE_POOL: String(settings.disposablePoolSize ?? 0),
  };
  const config = resolveConfig(small, env);
  const engine = new Engine(config);
  const libvirt = new Libvirt(URI);
  return {
    engine,
    config,
    pool,
    imagesDir,
    scratch: join(home, 'scratch'),
    env,
    async vms(args, options = {}) {
      const command = user && !options.asRoot ? ['runuser', '-u', user, '--', process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
      const result = await execa(command[0], command.slice(1), { env: { ...env, ...options.env }, reject: options.reject ?? false, ...(options.input !== undefined ? { input: options.input } : {}) });
      return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    async volumes() {
      return (await listVolumes(libvirt, pool)).map((v) => v.name).sort();
    },
    async cleanup() {
      await killLockHolders(join(home, 'state', 'locks'));
      await removeDomainsUsing(pool, join(imagesDir, pool));
      await removeNewLibvirtObjects(before);
      for (const name of await listPools(libvirt)) {
        if (name === pool || name.startsWith(`${pool}-pkg-`)) await removePool(libvirt, name);
      }
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** Deletes every volume of a pool, then the pool with its folder. */
export async function removePool(libvirt: Libvirt, pool: string): Promise<void> {
  await libvirt.run(['pool-refresh', pool]).catch(() => undefined);
  const volumes = await listVolumes(libvirt, pool).catch(() => []);
  await libvirt.batch(volumes.map((v) => ['vol-delete', '--pool', pool, v.name]));
  await libvirt.batch([['pool-destroy', pool], ['pool-delete', pool], ['pool-undefine', pool]]);
}

async function names(args: string[]): Promise<string[]> {
  const out = await execa('virsh', ['-q', '-c', URI, ...args], { reject: false });
  return String(out.stdout).split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0]).map((f) => (args[0] === 'nwfilter-list' ? f[1] : f[0]));
}

/** The vms label networks and VM filters that exist now. */
async function libvirtObjects(): Promise<{ networks: Set<string>; filters: Set<string> }> {
  return {
    networks: new Set((await names(['net-list', '--all', '--name'])).filter((n) => n.startsWith('vms-'))),
    filters: new Set((await names(['nwfilter-list'])).filter((n) => n?.startsWith('vms-fw-') || n?.startsWith('vms-guard-'))),
  };
}

/**
 * Label networks, VM filters and the shared host guards the engine made during a test (they outlive VMs
 * by design): removed once nothing uses them, so a test run leaves libvirt as it found it. Filters have no
 * owner to tell them apart: a VM's filter that another run (a soak started by hand beside the tests) made
 * after this one began goes too; npm test runs one file at a time, so within it nothing else makes any.
 */
async function removeNewLibvirtObjects(before: { networks: Set<string>; filters: Set<string> }): Promise<void> {
  const now = await libvirtObjects();
  const domains = await names(['list', '--all', '--name']);
  // A VM's filter references its -rules filter: undefine the referencing one first.
  const vmFilters = [...now.filters].filter((f) => f.startsWith('vms-fw-'));
  for (const filter of vmFilters.sort((a, b) => Number(a.endsWith('-rules')) - Number(b.endsWith('-rules')))) {
    if (before.filters.has(filter)) continue;
    const owner = filter.replace(/^vms-fw-/, '').replace(/-rules$/, '');
    if (!domains.includes(owner)) await execa('virsh', ['-c', URI, 'nwfilter-undefine', filter], { reject: false });
  }
  // The shared host guards last: libvirt refuses to undefine one that another test's VM filter still uses.
  for (const guard of [...now.filters].filter((f) => f.startsWith('vms-guard-'))) {
    if (!before.filters.has(guard)) await execa('virsh', ['-c', URI, 'nwfilter-undefine', guard], { reject: false });
  }
  for (const network of now.networks) {
    if (before.networks.has(network)) continue;
    const inUse = await Promise.all(domains.map(async (d) => String((await execa('virsh', ['-c', URI, 'dumpxml', d], { reject: false })).stdout).includes(`network='${network}'`)));
    if (inUse.some(Boolean)) continue;
    await execa('virsh', ['-c', URI, 'net-destroy', network], { reject: false });
    await execa('virsh', ['-c', URI, 'net-undefine', network], { reject: false });
  }
}

/** Destroys and undefines every domain with a disk in `pool`, or a disk or NVRAM file under `dir`. */
export async function removeDomainsUsing(pool: string, dir: string): Promise<string[]> {
  const names = (await execa('virsh', ['-q', '-c', URI, 'list', '--all', '--name'])).stdout.split('\n').map((n) => n.trim()).filter(Boolean);
  const removed: string[] = [];
  for (const name of names) {
    const xml = await execa('virsh', ['-c', URI, 'dumpxml', name], { reject: false });
    if (!String(xml.stdout).includes(`pool='${pool}'`) && !String(xml.stdout).includes(dir)) continue;
    await execa('virsh', ['-c', URI, 'destroy', name], { reject: false });
    await execa('virsh', ['-c', URI, 'undefine', '--nvram', name], { reject: false });
    // The VM's network filters and fixed address (main/engine/network): undefining the domain leaves them.
    for (const filter of [`vms-fw-${name}`, `vms-fw-${name}-rules`]) await execa('virsh', ['-c', URI, 'nwfilter-undefine', filter], { reject: false });
    removed.push(name);
  }
  await removeDhcpHostsOf(removed);
  return removed;
}

/** Removes the fixed addresses (static DHCP hosts) named after these VMs from every vms label network. */
export async function removeDhcpHostsOf(vmNames: string[]): Promise<void> {
  if (vmNames.length === 0) return;
  const active = new Set(await names(['net-list', '--name']));
  for (const network of (await names(['net-list', '--all', '--name'])).filter((n) => n.startsWith('vms-'))) {
    const xml = String((await execa('virsh', ['-c', URI, 'net-dumpxml', '--inactive', network], { reject: false })).stdout);
    if (!xml.includes('<network')) continue;
    for (const host of readDhcpHosts(xml).filter((h) => h.name && vmNames.includes(h.name))) {
      await execa('virsh', ['-c', URI, 'net-update', network, 'delete', 'ip-dhcp-host', dhcpHostXml(host), ...(active.has(network) ? ['--live'] : []), '--config'], { reject: false });
    }
  }
}

/**
 * Ends the background vms processes a test started (a disposable pool filler, say) that still hold a
 * lock in `locks`: by the pid in the lock file, never by name.
 */
export async function killLockHolders(locks: string): Promise<number[]> {
  const killed: number[] = [];
  let files: string[] = [];
  try {
    files = (await readdir(locks)).filter((f) => f.endsWith('.lock'));
  } catch {
    return killed;
  }
  for (const file of files) {
    const pid = Number((await readFile(join(locks, file), 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
    try {
      process.kill(pid, 'SIGTERM');
      killed.push(pid);
    } catch {
      // already gone
    }
  }
  return killed;
}

/** An empty qcow2 with what `vms template import` checks for: a GPT with an EFI system partition. */
export async function bootableBlank(path: string, size: string): Promise<void> {
  const raw = `${path}.raw`;
  await execa('truncate', ['-s', size, raw]);
  await execa('sgdisk', ['-o', '-n', '1:2048:+64M', '-t', '1:ef00', '-n', '2:0:0', '-t', '2:8304', raw]);
  await execa('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, path]);
  await rm(raw, { force: true });
}
