import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { cachedKvmVerdict } from './accel-cache.js';
import { VmsError } from './errors.js';
import type { Accel } from './types.js';
import { formatBytes, MIB, parseSize, SizeError } from './units.js';

/** Everything the engine needs to know about where and how to run VMs. */
export interface EngineConfig {
  /** libvirt connection URI. */
  uri: string;
  /** Folder that holds vms's storage pool (`<imagesDir>/<pool>/`), used when the pool is first defined. */
  imagesDir: string;
  /** The libvirt storage pool that holds every disk, NVRAM store and console log. */
  pool: string;
  /** The user's own folder for name locks and the journal of operations under way (never libvirt's). */
  stateDir: string;
  /** The accelerator for VMs defined now; every start chooses again (accel.ts). */
  accel: Accel;
  /** The `accel` setting, when the user fixed one (VMS_ACCEL still wins). */
  accelSetting?: Accel;
  defaultTemplate?: string;
  defaultLabel: string;
  defaultMemoryMiB: number;
  defaultVcpus: number;
  /** Size of a new private disk (/home), e.g. `10G`. */
  defaultDiskSize: string;
  /** Per-domain colors for the tray and viewer titles. */
  labelColors: Record<string, string>;
  /** Root of the pacman caches shared with VMs over virtiofs: `shared/` (read-only in guests) and `<vm>/`. */
  pkgCacheDir: string;
  /** Booted, paused disposables kept ready per template (0 turns the pool off). */
  disposablePoolSize: number;
  /** Where host USB devices are read from (`<sysfsRoot>/bus/usb/devices`); tests point it at a tree they build. */
  sysfsRoot: string;
  /** The most `vms clipboard copy` takes from a VM. */
  clipboardLimitBytes: number;
  /** How long the host keeps a copy that nobody pastes. */
  clipboardKeepSeconds: number;
}

export const DEFAULT_LABEL_COLORS: Record<string, string> = {
  work: '#2563eb',
  personal: '#16a34a',
  hobby: '#d97706',
  disposable: '#dc2626',
  vault: '#111827',
};

/**
 * KVM where it works, TCG otherwise; VMS_ACCEL=kvm|tcg overrides the guess. "Works" is the cached verdict
 * of accel.ts's probe when there is one (reading a small file, so config stays synchronous), else whether
 * /dev/kvm can be opened; the probe itself runs at the next start.
 */
export function detectAccel(env: NodeJS.ProcessEnv = process.env): Accel {
  const forced = env.VMS_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced) throw new VmsError(`VMS_ACCEL=${forced} is not understood: use kvm or tcg.`);
  const cached = cachedKvmVerdict(env);
  if (cached !== undefined) return cached ? 'kvm' : 'tcg';
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return 'kvm';
  } catch {
    return 'tcg';
  }
}

export const DEFAULTS = {
  uri: 'qemu:///system',
  imagesDir: '/var/lib/libvirt/images',
  pool: 'vms',
  defaultLabel: 'personal',
  defaultMemoryMiB: 2048,
  defaultVcpus: 2,
  defaultDiskSize: '10G',
  pkgCacheDir: '/var/lib/libvirt/filesystems/pkg',
  disposablePoolSize: 1,
  sysfsRoot: '/sys',
  clipboardLimitBytes: 64 * 1024,
  clipboardKeepSeconds: 60,
} as const;

function poolSize(value: string | undefined, setting: number | undefined): number {
  if (value === undefined || value === '') return setting ?? DEFAULTS.disposablePoolSize;
  if (!/^\d$/.test(value)) throw new VmsError(`VMS_DISPOSABLE_POOL=${value} is not understood: use a number from 0 to 8.`);
  return Math.min(Number(value), 8);
}

/** $XDG_STATE_HOME/vms, or ~/.local/state/vms. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_STATE_HOME || join(env.HOME || homedir(), '.local', 'state'), 'vms');
}

/**
 * Builds a config from stored settings, with VMS_URI, VMS_IMAGES_DIR, VMS_POOL, VMS_STATE_DIR, VMS_ACCEL, VMS_PKG_CACHE_DIR,
 * VMS_DISPOSABLE_POOL and VMS_SYSFS_ROOT taking precedence.
 */
export function resolveConfig(settings: Partial<EngineConfig> = {}, env: NodeJS.ProcessEnv = process.env): EngineConfig {
  return {
    uri: env.VMS_URI || settings.uri || DEFAULTS.uri,
    imagesDir: env.VMS_IMAGES_DIR || settings.imagesDir || DEFAULTS.imagesDir,
    pool: env.VMS_POOL || settings.pool || DEFAULTS.pool,
    stateDir: env.VMS_STATE_DIR || settings.stateDir || defaultStateDir(env),
    accel: env.VMS_ACCEL ? detectAccel(env) : settings.accel ?? detectAccel(env),
    accelSetting: settings.accel,
    defaultTemplate: settings.defaultTemplate,
    defaultLabel: settings.defaultLabel || DEFAULTS.defaultLabel,
    defaultMemoryMiB: settings.defaultMemoryMiB || DEFAULTS.defaultMemoryMiB,
    defaultVcpus: settings.defaultVcpus || DEFAULTS.defaultVcpus,
    defaultDiskSize: settings.defaultDiskSize || DEFAULTS.defaultDiskSize,
    labelColors: { ...DEFAULT_LABEL_COLORS, ...settings.labelColors },
    pkgCacheDir: env.VMS_PKG_CACHE_DIR || settings.pkgCacheDir || DEFAULTS.pkgCacheDir,
    disposablePoolSize: poolSize(env.VMS_DISPOSABLE_POOL, settings.disposablePoolSize),
    sysfsRoot: env.VMS_SYSFS_ROOT || settings.sysfsRoot || DEFAULTS.sysfsRoot,
    clipboardLimitBytes: settings.clipboardLimitBytes || DEFAULTS.clipboardLimitBytes,
    clipboardKeepSeconds: settings.clipboardKeepSeconds || DEFAULTS.clipboardKeepSeconds,
  };
}

/** A private disk smaller than this cannot hold an ext4 /home worth having (mkfs fails below a few MiB). */
export const MIN_PRIVATE_DISK = 64 * MIB;

/** Bytes in a disk size such as `10G` (the one size grammar, units.ts); a VmsError that says what to type otherwise. */
export function diskSizeBytes(size: string, what: string, minimum = MIN_PRIVATE_DISK): number {
  let bytes: number;
  try {
    bytes = parseSize(size, what);
  } catch (error) {
    if (error instanceof SizeError) throw new VmsError(error.message, { cause: error });
    throw error;
  }
  if (bytes < minimum) throw new VmsError(`${what}: "${size}" is too small: give at least ${formatBytes(minimum).replace(' ', '')}.`);
  return bytes;
}
