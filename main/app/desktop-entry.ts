import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * The XDG autostart entry (`~/.config/autostart/vms.desktop`). The text is built by a pure function; the
 * file functions take the config folder, so both are tested without Electron.
 */

/**
 * Quotes one argument of an Exec= line (Desktop Entry Specification, "The Exec key"): arguments with
 * reserved characters go in double quotes with `"`, `` ` ``, `$` and `\` escaped; `%` is doubled. Then
 * the whole value is escaped as a string value (`\` → `\\`). Pure.
 */
export function quoteExecArg(arg: string): string {
  if (/[\n\r\t]/.test(arg)) throw new Error('An Exec argument cannot hold a newline or tab.');
  const percent = arg.replace(/%/g, '%%');
  const quoted = /[\s"'\\><~|&;$*?#()`]/.test(percent) || percent === '' ? `"${percent.replace(/(["`$\\])/g, '\\$1')}"` : percent;
  return quoted.replace(/\\/g, '\\\\');
}

export interface DesktopEntryOptions {
  /** The program and its arguments, e.g. `['/usr/bin/vms-tray', '--hidden']`. */
  exec: string[];
  /** An icon name or absolute path. */
  icon?: string;
  /** For ~/.config/autostart (GNOME reads X-GNOME-Autostart-enabled); the package's menu entry leaves it out. */
  autostart?: boolean;
}

/** The text of vms.desktop. Pure. */
export function desktopEntry(options: DesktopEntryOptions): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=vms',
    'GenericName=Virtual machines',
    'Comment=Isolated VMs per domain: work, personal, hobby, disposables',
    `Exec=${options.exec.map(quoteExecArg).join(' ')}`,
    ...(options.icon ? [`Icon=${options.icon}`] : []),
    'Terminal=false',
    'Categories=System;Emulator;',
    'StartupNotify=false',
    // Matches the window's app id / WM_CLASS (package.json desktopName), so docks group it with this entry.
    'StartupWMClass=vms',
    ...(options.autostart === false ? [] : ['X-GNOME-Autostart-enabled=true']),
    '',
  ].join('\n');
}

/** `$XDG_CONFIG_HOME/autostart/vms.desktop`. */
export function autostartPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'autostart', 'vms.desktop');
}

/** Writes (enabled) or removes the autostart entry. */
export async function setAutostart(enabled: boolean, entry: string, path: string = autostartPath()): Promise<void> {
  if (!enabled) {
    await rm(path, { force: true });
    return;
  }
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, entry, { mode: 0o644 });
}
