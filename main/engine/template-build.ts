import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { execa } from 'execa';
import { assetPath } from './assets.js';
import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { lineSplitter } from './libvirt/events.js';
import { findVm } from './inventory.js';
import { assertVmName } from './names.js';
import { isLocalUri } from './libvirt/connection.js';
import { pkgLayout } from './storage/pkg-cache.js';
import { shellWord } from './shell-word.js';
import { importTemplate } from './templates.js';
import type { VmInfo } from './types.js';

/**
 * `vms template build` and the tray's "Build template…", one path: assets/template/build-template.sh
 * makes an Arch image with pacstrap (root only, by nature), then it is imported as the user. Who becomes
 * root is the caller's choice: sudo from a terminal, pkexec (polkit action org.vms.build-template,
 * assets/packaging/org.vms.build-template.policy) from the tray. With neither, nothing is written and the
 * error names the exact command to run instead.
 */

export type TemplateProfile = 'minimal' | 'gui';

/** How to become root when not root already. */
export type Elevation = 'sudo' | 'pkexec';

export interface TemplateBuildOptions {
  profile?: TemplateProfile;
  diskSize?: string;
  /** Extra packages, comma separated. */
  packages?: string;
  pacmanConf?: string;
  user?: string;
  /** Passed through the environment, never as an argument (visible in ps); not through pkexec, which clears it. */
  password?: string;
  elevate?: Elevation;
  /** Every line the builder prints on stderr (its steps are `==> step`). */
  onLine?: (line: string) => void;
}

/** Building needs root, and neither root nor the requested way to become root is there. */
export class NeedsRootError extends VmsError {}

/** The builder's steps as it announces them: `==> Installing packages` → `Installing packages`. */
export function builderStep(line: string): string | undefined {
  return line.startsWith('==> ') ? line.slice(4) : undefined;
}

async function onPath(command: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    if (await access(join(dir, command), constants.X_OK).then(() => true, () => false)) return true;
  }
  return false;
}

function builderArgs(name: string, out: string, sharedCache: string, options: TemplateBuildOptions): string[] {
  const args = ['--name', name, '--out', out, '--shared-cache', sharedCache];
  const passed: Array<[string, string | undefined]> = [['--profile', options.profile], ['--disk-size', options.diskSize],
    ['--packages', options.packages], ['--pacman-conf', options.pacmanConf], ['--user', options.user]];
  for (const [flag, value] of passed) if (value !== undefined) args.push(flag, value);
  return args;
}

/** Builds an Arch template named `name` and imports it; the image in between is removed either way. */
export async function buildTemplate(ctx: EngineContext, name: string, options: TemplateBuildOptions = {}): Promise<VmInfo> {
  assertVmName(name);
  if (!isLocalUri(ctx.libvirt.uri)) {
    throw new VmsError(`Building a template runs pacstrap on this computer, but VMS_URI is ${ctx.libvirt.uri}: build it on that host, or build it here and \`vms template import\` the image.`);
  }
  const script = assetPath('template', 'build-template.sh');
  // The builder (root) writes into a folder of the user's, and the user uploads the image into vms's pool.
  const buildDir = join('/var/tmp', `vms-build-${name}`);
  const out = join(buildDir, `${name}.qcow2`);
  const args = builderArgs(name, out, pkgLayout(ctx).shared(), options);
  const env = { ...process.env, LC_ALL: 'C', ...(options.password !== undefined ? { VMS_TEMPLATE_PASSWORD: options.password } : {}) };

  // Decided before anything is written: a refusal leaves no folder and no image behind.
  let command: string[];
  if (process.getuid?.() === 0) command = [script];
  else if (options.elevate === 'sudo' && await onPath('sudo', env)) command = ['sudo', ...(options.password !== undefined ? ['--preserve-env=VMS_TEMPLATE_PASSWORD'] : []), '--', script];
  else if (options.elevate === 'pkexec' && await onPath('pkexec', env)) command = ['pkexec', script];
  else throw needsRoot(options.elevate === 'sudo' ? 'sudo is not installed' : options.elevate === 'pkexec' ? 'pkexec (polkit) is not installed'
    : 'sudo cannot ask for a password here', script, args, options);

  if (await findVm(ctx, name)) throw new VmsError(`A VM named "${name}" already exists: choose another name.`);
  const made = await mkdtemp(`${buildDir}-`);
  const image = join(made, `${name}.qcow2`);
  args[args.indexOf(out)] = image;
  try {
    let last = '';
    const build = execa(command[0], [...command.slice(1), ...args], {
      reject: false, env, extendEnv: false, stdout: 'ignore', stderr: 'pipe',
      // sudo asks for the password on the terminal.
      stdin: command[0] === 'sudo' ? 'inherit' : 'ignore',
    });
    build.stderr?.setEncoding('utf8');
    build.stderr?.on('data', lineSplitter((line) => {
      if (line.trim()) last = line.trim();
      options.onLine?.(line);
    }));
    const result = await build;
    if (command[0] === 'pkexec' && result.exitCode === 126) throw new VmsError(`Building the template "${name}" was cancelled at the password prompt; nothing was built.`);
    // pkexec's own "not authorized / no authentication agent": the builder checks its commands first and
    // fails with 1, so 127 is pkexec's.
    if (command[0] === 'pkexec' && result.exitCode === 127) throw needsRoot('no polkit agent could ask for the password', script, args, options);
    if (result.exitCode !== 0) {
      throw new VmsError(`Building the template "${name}" failed${last ? ` (${last})` : ''}; nothing was imported.`);
    }
    return await importTemplate(ctx, name, image);
  } finally {
    await rm(made, { recursive: true, force: true });
  }
}

/** The refusal, naming the one command line that builds and imports the template by hand. */
function needsRoot(reason: string, script: string, args: string[], options: TemplateBuildOptions): NeedsRootError {
  const name = args[args.indexOf('--name') + 1];
  const out = args[args.indexOf('--out') + 1];
  const line = [`mkdir -p ${shellWord(dirname(out))}`, `sudo ${[script, ...args].map(shellWord).join(' ')}`,
    `vms template import ${shellWord(name)} ${shellWord(out)}`, `rm ${shellWord(out)}`].join(' && ');
  const password = options.password !== undefined ? ' (add --preserve-env=VMS_TEMPLATE_PASSWORD after sudo and set that variable)' : '';
  return new NeedsRootError(`Building a template needs root (pacstrap) and ${reason}: run ${line}${password}`);
}
