import { execa } from 'execa';
import { VmsError } from '../errors.js';

/**
 * Which VM the user is looking at: the title of the focused window, when it is a viewer's. vms gives every
 * domain the `<title>` `[label] name`, which virt-viewer and remote-viewer show as their window title
 * (with ` (1)` for the display number, and a "(Press … to release pointer)" prefix while they grab).
 * Only host programs set host window titles, and no VM can reach them.
 */

export interface ViewerTitle {
  label: string;
  name: string;
}

const VIEWER_TITLE = /^(?:\(Press [^)]* to release pointer\) )?\[([a-z][a-z0-9-]{0,10})\] ([A-Za-z][A-Za-z0-9_-]{0,39})(?: \(\d+\))?(?: - (?:Virt|Remote) Viewer)?$/;

/** The label and VM name in a viewer window's title, or undefined for any other window. Pure. */
export function parseViewerTitle(title: string): ViewerTitle | undefined {
  const match = VIEWER_TITLE.exec(title.trim());
  return match ? { label: match[1], name: match[2] } : undefined;
}

/** `_NET_ACTIVE_WINDOW(WINDOW): window id # 0x1e00007` → `0x1e00007` (none for 0x0). Pure. */
export function parseActiveWindow(xpropRoot: string): string | undefined {
  const id = /window id # (0x[0-9a-f]+)/i.exec(xpropRoot)?.[1];
  return id && Number(id) !== 0 ? id : undefined;
}

/** `_NET_WM_NAME(UTF8_STRING) = "[work] mail (1)"` → `[work] mail (1)`. Pure. */
export function parseWindowName(xpropWindow: string): string | undefined {
  const line = /^_NET_WM_NAME\([^)]*\) = "(.*)"$/m.exec(xpropWindow) ?? /^WM_NAME\([^)]*\) = "(.*)"$/m.exec(xpropWindow);
  return line?.[1].replace(/\\(.)/g, '$1');
}

async function tool(file: string, args: string[], env: NodeJS.ProcessEnv, install: string): Promise<string> {
  try {
    return String((await execa(file, args, { env: { ...env, LC_ALL: 'C' }, timeout: 5000 })).stdout);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') throw new VmsError(`${file} is not installed: install ${install} and try again.`, { cause: error });
    throw new VmsError(`${file} could not tell which window has focus: ${String((error as { stderr?: string }).stderr ?? error).trim().split('\n')[0]}`, { cause: error });
  }
}

/** The focused window's title on Hyprland (hyprctl) or X11 (_NET_ACTIVE_WINDOW through xprop). */
export async function focusedWindowTitle(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.HYPRLAND_INSTANCE_SIGNATURE) {
    const text = await tool('hyprctl', ['activewindow', '-j'], env, 'hyprland');
    try {
      return (JSON.parse(text) as { title?: string }).title;
    } catch {
      return undefined;
    }
  }
  if (!env.DISPLAY) throw new VmsError('No desktop to ask which window has focus (neither DISPLAY nor HYPRLAND_INSTANCE_SIGNATURE is set): name the VM, e.g. vms clipboard copy mail.');
  const id = parseActiveWindow(await tool('xprop', ['-root', '_NET_ACTIVE_WINDOW'], env, 'xorg-xprop'));
  if (!id) return undefined;
  return parseWindowName(await tool('xprop', ['-id', id, '_NET_WM_NAME', 'WM_NAME'], env, 'xorg-xprop'));
}

/** The VM whose viewer has focus; a one-line error when the focused window is not a viewer. */
export async function focusedVm(env: NodeJS.ProcessEnv = process.env): Promise<ViewerTitle> {
  const title = await focusedWindowTitle(env);
  const vm = title === undefined ? undefined : parseViewerTitle(title);
  if (!vm) throw new VmsError(`The focused window${title ? ` ("${title.slice(0, 60)}")` : ''} is not a VM's viewer: click into the VM's window first, or name the VM.`);
  return vm;
}
