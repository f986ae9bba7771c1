import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { resolveConfig, type EngineConfig } from '../../main/engine/config.js';
import { Engine } from '../../main/engine/index.js';

/**
 * Shared set-up for tests on a real libvirtd: a private images folder, an Engine on it (TCG, small
 * guests), the CLI bundle to run as a user would, and a cleanup that removes every domain whose disks
 * live in that folder (disposables included) and the folder itself.
 */

export const URI = 'qemu:///system';
/** Where build-test-guest.sh keeps its cached output. */
export const TEST_GUEST_DIR = '/var/cache/vms-test/guest';
const REPO = new URL('../../../', import.meta.url).pathname;
export const CLI = join(REPO, 'dist', 'cli', 'vms.mjs');

let guestImage: Promise<string> | undefined;

/** The small bootable busybox guest (built once per machine, then cached). */
export function testGuestImage(): Promise<string> {
  guestImage ??= execa(join(REPO, 'test', 'fixtures', 'guest', 'build-test-guest.sh'), [TEST_GUEST_DIR], { stderr: 'inherit' })
    .then(() => join(TEST_GUEST_DIR, 'test-guest.qcow2'));
  return guestImage;
}

export interface TestEngine {
  engine: Engine;
  config: EngineConfig;
  imagesDir: string;
  /** Environment for running the CLI against the same folder. */
  env: NodeJS.ProcessEnv;
  /** Runs the real `vms` command line. */
  vms(args: string[], options?: { reject?: boolean }): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

export async function makeTestEngine(tag: string, settings: Partial<EngineConfig> = {}): Promise<TestEngine> {
  // qemu runs as libvirt-qemu and must reach the disks: keep them under libvirt's images folder.
  const imagesDir = `/var/lib/libvirt/images/vms-test-${tag}-${randomBytes(3).toString('hex')}`;
  const before = await libvirtObjects();
  await mkdir(imagesDir, { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VMS_URI: URI,
    VMS_IMAGES_DIR: imagesDir,
    VMS_ACCEL: 'tcg',
    VMS_CONFIG_DIR: join(imagesDir, '.config'),
    // Each test gets its own package caches, removed by cleanup().
    VMS_PKG_CACHE_DIR: join(imagesDir, 'pkg'),
    // No background pool of preloaded disposables unless a test asks for one.
    VMS_DISPOSABLE_POOL: String(settings.disposablePoolSize ?? 0),
  };
  const config = resolveConfig({ defaultMemoryMiB: 512, defaultVcpus: 1, defaultDiskSize: '1G', ...settings }, env);
  const engine = new Engine(config);
  return {
    engine,
    config,
    imagesDir,
    env,
    async vms(args, options = {}) {
      const result = await execa(process.execPath, [CLI, ...args], { env, reject: options.reject ?? false });
      return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    async cleanup() {
      await killLockHolders(imagesDir);
      await removeDomainsUnder(imagesDir);
      await removeNewLibvirtObjects(before);
      await rm(imagesDir, { recursive: true, force: true });
    },
  };
}

async function names(args: string[]): Promise<string[]> {
  const out = await execa('virsh', ['-q', '-c', URI, ...args], { reject: false });
  return String(out.stdout).split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0]).map((f) => (args[0] === 'nwfilter-list' ? f[1] : f[0]));
}

/** The vms label networks and VM filters that exist now. */
async function libvirtObjects(): Promise<{ networks: Set<string>; filters: Set<string> }> {
  return {
    networks: new Set((await names(['net-list', '--all', '--name'])).filter((n) => n.startsWith('vms-'))),
    filters: new Set((await names(['nwfilter-list'])).filter((n) => n?.startsWith('vms-fw-'))),
  };
}

/**
 * Label networks and VM filters the engine made during a test (they outlive VMs by design): removed once
 * no domain uses them, so a test run leaves libvirt as it found it.
 */
async function removeNewLibvirtObjects(before: { networks: Set<string>; filters: Set<string> }): Promise<void> {
  const now = await libvirtObjects();
  const domains = await names(['list', '--all', '--name']);
  // A VM's filter references its -rules filter: undefine the referencing one first.
  for (const filter of [...now.filters].sort((a, b) => Number(a.endsWith('-rules')) - Number(b.endsWith('-rules')))) {
    if (before.filters.has(filter)) continue;
    const owner = filter.replace(/^vms-fw-/, '').replace(/-rules$/, '');
    if (!domains.includes(owner)) await execa('virsh', ['-c', URI, 'nwfilter-undefine', filter], { reject: false });
  }
  for (const network of now.networks) {
    if (before.networks.has(network)) continue;
    const inUse = await Promise.all(domains.map(async (d) => String((await execa('virsh', ['-c', URI, 'dumpxml', d], { reject: false })).stdout).includes(`network='${network}'`)));
    if (inUse.some(Boolean)) continue;
    await execa('virsh', ['-c', URI, 'net-destroy', network], { reject: false });
    await execa('virsh', ['-c', URI, 'net-undefine', network], { reject: false });
  }
}

/** Destroys and undefines every domain with a disk or NVRAM file under `dir`. */
export async function removeDomainsUnder(dir: string): Promise<string[]> {
  const names = (await execa('virsh', ['-q', '-c', URI, 'list', '--all', '--name'])).stdout.split('\n').map((n) => n.trim()).filter(Boolean);
  const removed: string[] = [];
  for (const name of names) {
    const xml = await execa('virsh', ['-c', URI, 'dumpxml', name], { reject: false });
    if (!String(xml.stdout).includes(dir)) continue;
    await execa('virsh', ['-c', URI, 'destroy', name], { reject: false });
    await execa('virsh', ['-c', URI, 'undefine', '--nvram', name], { reject: false });
    // The VM's network filters (main/engine/network): undefining the domain leaves them.
    for (const filter of [`vms-fw-${name}`, `vms-fw-${name}-rules`]) await execa('virsh', ['-c', URI, 'nwfilter-undefine', filter], { reject: false });
    removed.push(name);
  }
  return removed;
}

/**
 * Ends the background vms processes a test started (a disposable pool filler, say) that still hold a
 * lock under `dir`: by the pid in the lock file, never by name.
 */
export async function killLockHolders(dir: string): Promise<number[]> {
  const locks = join(dir, 'vms', '.locks');
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
