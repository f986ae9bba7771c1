import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { assetPath } from '../assets.js';

/**
 * Desktop notifications for the clipboard (freedesktop notifications through notify-send): the VMs by
 * `[label] name` in their label colors (Pango markup, which dunst and mako, the usual daemons under i3 and
 * Hyprland, draw; the source's color dot as the icon where vms ships one). Best effort: without
 * notify-send or a notification daemon, nothing is shown and nothing fails.
 */

export interface NotifiedVm {
  name: string;
  label: string;
  color?: string;
}

const HEX = /^#[0-9a-fA-F]{6}$/;

function escapeMarkup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `[work] mail` in its label color, as Pango markup. Pure. */
export function vmMarkup(vm: NotifiedVm): string {
  const text = escapeMarkup(`[${vm.label}] ${vm.name}`);
  return vm.color && HEX.test(vm.color) ? `<span foreground="${vm.color}"><b>${text}</b></span>` : `<b>${text}</b>`;
}

/** notify-send's arguments for a clipboard event. Pure. */
export function notifyArgs(summary: string, body: string, iconColor?: string): string[] {
  const icon = iconColor && HEX.test(iconColor) ? assetPath('icons', `dot-${iconColor.slice(1).toLowerCase()}.png`) : undefined;
  return ['--app-name=vms', '--expire-time=4000', ...(icon && existsSync(icon) ? ['--icon', icon] : []), summary, body];
}

export async function notify(summary: string, body: string, options: { iconColor?: string; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
  await execa('notify-send', notifyArgs(summary, body, options.iconColor), { env: { ...(options.env ?? process.env), LC_ALL: 'C' }, timeout: 5000, reject: false });
}
