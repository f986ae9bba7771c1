import { homedir } from 'node:os';
import { join } from 'node:path';
import { shellWord } from '../engine/shell-word.js';
import { autostartPath } from './desktop-entry.js';

/**
 * Which desktop the app runs in, and what "start at login" and the "New disposable" key mean there.
 * GNOME, KDE, XFCE and most others run ~/.config/autostart/*.desktop; i3, sway and Hyprland do not
 * (only through helpers such as dex or uwsm), so there the settings page shows the exact line to add to
 * their configuration instead of writing a file nobody reads. Pure.
 */

export type Desktop = 'hyprland' | 'sway' | 'i3' | 'gnome' | 'kde' | 'other';

export function detectDesktop(env: NodeJS.ProcessEnv): Desktop {
  if (env.HYPRLAND_INSTANCE_SIGNATURE) return 'hyprland';
  if (env.SWAYSOCK) return 'sway';
  if (env.I3SOCK) return 'i3';
  const current = (env.XDG_CURRENT_DESKTOP ?? '').toLowerCase().split(':');
  for (const desktop of ['hyprland', 'sway', 'i3', 'gnome', 'kde'] as const) if (current.includes(desktop)) return desktop;
  return 'other';
}

/** A line for a window manager's configuration file. */
export interface ConfigLine {
  file: string;
  line: string;
}

export type LoginStart = { kind: 'xdg'; path: string } | ({ kind: 'wm' } & ConfigLine);

type TilingDesktop = 'hyprland' | 'sway' | 'i3';

function configFile(desktop: TilingDesktop, env: NodeJS.ProcessEnv): string {
  const config = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return desktop === 'hyprland' ? join(config, 'hypr', 'hyprland.conf') : join(config, desktop, 'config');
}

/** Each tiling desktop's way to run a command at login and on a key. */
const LINES: Record<TilingDesktop, { login: string; bind: string }> = {
  hyprland: { login: 'exec-once = ', bind: 'bind = SUPER SHIFT, D, exec, ' },
  sway: { login: 'exec ', bind: 'bindsym $mod+Shift+d exec ' },
  i3: { login: 'exec --no-startup-id ', bind: 'bindsym $mod+Shift+d exec --no-startup-id ' },
};

function isTiling(desktop: Desktop): desktop is TilingDesktop {
  return desktop in LINES;
}

/** How the app is started at login on `desktop`, given the command that starts it (with `--hidden`). */
export function loginStart(desktop: Desktop, command: readonly string[], env: NodeJS.ProcessEnv): LoginStart {
  if (!isTiling(desktop)) return { kind: 'xdg', path: autostartPath(env) };
  return { kind: 'wm', file: configFile(desktop, env), line: LINES[desktop].login + command.map(shellWord).join(' ') };
}

/**
 * The window manager's own binding for "New disposable", which always works, unlike Electron's global
 * shortcuts: i3 and sway keep a grabbed key for themselves, and on Wayland a global shortcut goes through
 * the desktop portal, which tiling compositors mostly lack, so registering may succeed and never fire.
 */
export function disposableBinding(desktop: Desktop, command: readonly string[], env: NodeJS.ProcessEnv): ConfigLine | undefined {
  if (!isTiling(desktop)) return undefined;
  return { file: configFile(desktop, env), line: LINES[desktop].bind + command.map(shellWord).join(' ') };
}
