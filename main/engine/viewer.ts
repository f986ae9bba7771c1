import { spawn, type ChildProcess } from 'node:child_process';
import { coloredViewerEnv } from './viewer-color.js';
import { VmsError } from './errors.js';
import type { Engine } from './index.js';
import type { VmInfo } from './types.js';
import { domainTitle } from './xml/domain-build.js';

/**
 * Opening a VM's SPICE display in virt-viewer, shared by `vms view` and the tray's "Open viewer", and
 * its serial console in a terminal for the tray's "Console".
 */

/**
 * The viewer window's title: `[work] mail`, so the domain shows in every window list. It is the domain's
 * own `<title>`, which virt-viewer shows (it has no --title option). Pure.
 */
export function viewerTitle(vm: Pick<VmInfo, 'name' | 'meta'>): string {
  return domainTitle(vm.meta.label, vm.name);
}

/**
 * virt-viewer asks libvirt for the display (`--attach`: virDomainOpenGraphicsFD, one connection per SPICE
 * channel), since SPICE listens on no port or socket; so whoever may manage the VM in libvirt sees it, and
 * nobody else. `--domain-name`: a VM's name is never read as an id or a UUID. Pure.
 */
export function viewerArgs(uri: string, name: string): string[] {
  return ['--connect', uri, '--attach', '--domain-name', name];
}

/**
 * The viewer's environment: SPICE_NOGRAB=1 keeps spice-gtk from grabbing the keyboard while the window has
 * focus, so the desktop's own key bindings (Ctrl+Shift+C/V for `vms clipboard`, the window manager's)
 * work over a VM's window too, as in Qubes; every other key still goes to the VM. Measured under Xvfb with
 * i3: with the grab, an i3 binding pressed over a focused viewer never fired; without it, it did. The
 * pointer needs no grab: every VM has a USB tablet (absolute pointer). VMS_VIEWER_GRAB=1 keeps the grab.
 * Pure.
 */
export function viewerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return env.VMS_VIEWER_GRAB === '1' ? env : { ...env, SPICE_NOGRAB: '1' };
}

export interface OpenedViewer {
  title: string;
  /** virt-viewer's arguments. */
  args: string[];
  /** The detached virt-viewer process (its pid, to stop it in tests). */
  child: ChildProcess;
}

export interface SpawnOptions {
  /** Environment for the spawned program (DISPLAY, …); the current one by default. */
  env?: NodeJS.ProcessEnv;
}

function running(vm: VmInfo, hint: string): void {
  if (vm.state !== 'running' && vm.state !== 'paused') throw new VmsError(`"${vm.name}" is ${vm.state}: start it first (${hint}).`);
}

/** Spawns a detached program and waits until it has started (or could not be found). */
async function spawnDetached(file: string, args: string[], env: NodeJS.ProcessEnv | undefined, notInstalled: string): Promise<ChildProcess> {
  const child = spawn(file, args, { detached: true, stdio: 'ignore', env: env ?? process.env });
  await new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new VmsError(notInstalled, { cause: error })));
    child.once('spawn', () => resolve());
  });
  child.unref();
  return child;
}

/** Opens virt-viewer on a running VM's SPICE display, through libvirt. */
export async function openViewer(engine: Pick<Engine, 'info' | 'config'>, name: string, options: SpawnOptions = {}): Promise<OpenedViewer> {
  const vm = await engine.info(name);
  running(vm, `vms start ${name}`);
  // The header bar in the domain color: virt-viewer has no option for it, GTK CSS does it.
  const env = viewerEnv(await coloredViewerEnv(vm.meta.color, options.env ?? process.env));
  const args = viewerArgs(engine.config.uri, name);
  // The user's own locale, unlike the commands whose output vms reads: nothing reads the viewer's output,
  // and its menus are for the user.
  const child = await spawnDetached('virt-viewer', args, env,
    'virt-viewer is not installed: install the virt-viewer package and try again.');
  return { title: viewerTitle(vm), args, child };
}

/** Terminal emulators tried in order when $TERMINAL is not set; each takes `-e PROGRAM ARGS…`. */
const TERMINALS = ['x-terminal-emulator', 'alacritty', 'kitty', 'foot', 'wezterm', 'gnome-terminal', 'konsole', 'xfce4-terminal', 'xterm'];

/** The command line that opens `argv` in a terminal emulator. Pure. */
export function terminalCommand(terminal: string, argv: string[]): { file: string; args: string[] } {
  const base = terminal.split('/').pop();
  if (base === 'gnome-terminal') return { file: terminal, args: ['--', ...argv] };
  if (base === 'wezterm') return { file: terminal, args: ['start', '--', ...argv] };
  if (base === 'kitty') return { file: terminal, args: argv };
  return { file: terminal, args: ['-e', ...argv] };
}

/** Opens `virsh console NAME` in the user's terminal ($TERMINAL, else the first one found). */
export async function openConsole(engine: Pick<Engine, 'info' | 'config'>, name: string, options: SpawnOptions = {}): Promise<ChildProcess> {
  const vm = await engine.info(name);
  running(vm, `vms start ${name}`);
  const env = options.env ?? process.env;
  const candidates = env.TERMINAL ? [env.TERMINAL, ...TERMINALS] : TERMINALS;
  for (const terminal of candidates) {
    const { file, args } = terminalCommand(terminal, ['virsh', '-c', engine.config.uri, 'console', '--force', name]);
    try {
      return await spawnDetached(file, args, env, `${terminal} is not installed.`);
    } catch {
      // try the next one
    }
  }
  throw new VmsError('No terminal emulator was found: set $TERMINAL (for example TERMINAL=alacritty) and try again.');
}
