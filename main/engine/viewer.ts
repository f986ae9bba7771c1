import { spawn, type ChildProcess } from 'node:child_process';
import { coloredViewerEnv } from './viewer-color.js';
import { VmsError } from './errors.js';
import type { Engine } from './index.js';
import type { VmInfo } from './types.js';

/**
 * Opening a VM's SPICE display in remote-viewer, shared by `vms view` and the tray's "Open viewer", and
 * its serial console in a terminal for the tray's "Console".
 */

/** The viewer window's title: `[work] mail`, so the domain shows in every window list. Pure. */
export function viewerTitle(vm: Pick<VmInfo, 'name' | 'meta'>): string {
  return `[${vm.meta.label}] ${vm.name}`;
}

export interface OpenedViewer {
  uri: string;
  title: string;
  /** The detached remote-viewer process (its pid, to stop it in tests). */
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

/** Opens remote-viewer on a running VM's SPICE display. */
export async function openViewer(engine: Pick<Engine, 'info' | 'displayUri'>, name: string, options: SpawnOptions = {}): Promise<OpenedViewer> {
  const vm = await engine.info(name);
  running(vm, `vms start ${name}`);
  const uri = await engine.displayUri(name);
  if (!uri) throw new VmsError(`"${name}" has no SPICE display: check its graphics in \`virsh dumpxml ${name}\`.`);
  const title = viewerTitle(vm);
  // The header bar in the domain color: remote-viewer has no option for it, GTK CSS does it.
  const env = await coloredViewerEnv(vm.meta.color, options.env ?? process.env);
  const child = await spawnDetached('remote-viewer', ['--title', title, uri], env,
    'remote-viewer is not installed: install the virt-viewer package and try again.');
  return { uri, title, child };
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
