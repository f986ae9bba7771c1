/**
 * The settings the CLI and the tray app share (one JSON file, read by `conf` in the CLI and by
 * electron-store, which is built on conf, in the app). Pure data: no file access here.
 */
import { SIZE_PATTERN } from '../engine/units.js';

export interface Settings {
  uri?: string;
  imagesDir?: string;
  accel?: 'kvm' | 'tcg';
  defaultTemplate?: string;
  defaultLabel?: string;
  defaultMemoryMiB?: number;
  defaultVcpus?: number;
  defaultDiskSize?: string;
  labelColors?: Record<string, string>;
  /** Root of the pacman caches shared with VMs (`shared/` read-only, `<vm>/` per VM). */
  pkgCacheDir?: string;
  /** How many paused disposables to keep ready (0 turns the pool off). */
  disposablePoolSize?: number;
  /** Electron accelerator for "New disposable", where the desktop delivers global shortcuts; '' for none. */
  hotkey?: string;
  autostart?: boolean;
}

export const SETTINGS_FILE_NAME = 'config';

export const settingsSchema = {
  uri: { type: 'string', minLength: 1 },
  imagesDir: { type: 'string', pattern: '^/' },
  accel: { type: 'string', enum: ['kvm', 'tcg'] },
  defaultTemplate: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]{0,39}$' },
  defaultLabel: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,10}$' },
  defaultMemoryMiB: { type: 'integer', minimum: 128 },
  defaultVcpus: { type: 'integer', minimum: 1, maximum: 256 },
  defaultDiskSize: { type: 'string', pattern: SIZE_PATTERN },
  labelColors: { type: 'object', additionalProperties: { type: 'string', pattern: '^#[0-9a-fA-F]{6}$' } },
  pkgCacheDir: { type: 'string', pattern: '^/' },
  disposablePoolSize: { type: 'integer', minimum: 0, maximum: 8, default: 1 },
  // Off by default: Super+Shift+D is the README's window-manager binding, and a grab by the app would
  // take the key from i3 or fail silently on Wayland. An empty string keeps it off.
  hotkey: { type: 'string', default: '' },
  autostart: { type: 'boolean', default: false },
} as const;
