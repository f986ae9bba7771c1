import { assertTemplateImage } from '../../engine/image-check.js';
import { assertVmName } from '../../engine/names.js';
import { VmsError } from '../../engine/errors.js';
import { MIB } from '../../engine/units.js';
import { writeSetting } from '../../settings/settings-write.js';
import type { Command } from '../command.js';
import { sizeOption } from '../options.js';

/** The first template becomes the default, so `vms create NAME` works without --template. */
async function defaultIfFirst(current: string | undefined, name: string): Promise<boolean> {
  if (current) return false;
  await writeSetting('defaultTemplate', name);
  return true;
}

export const templateImport: Command = {
  name: 'template import',
  summary: 'Register an existing disk image as a template (checked, copied in, read-only; see docs/imported-images.md)',
  usage: 'NAME IMAGE',
  positionals: { min: 2, max: 2, names: ['NAME', 'IMAGE'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name, image] }) {
    assertVmName(name);
    // Checked here before anything is copied (the engine's import path takes the same check once the
    // tray's tests import real images rather than blank ones).
    await assertTemplateImage(image);
    const vm = await engine.importTemplate(name, image);
    const madeDefault = await defaultIfFirst(engine.config.defaultTemplate, vm.name);
    io.out(json ? JSON.stringify({ ...vm, defaultTemplate: madeDefault }, null, 2)
      : `Imported template "${vm.name}"${madeDefault ? ' (now the default template)' : ''}. Create a VM with: vms create NAME${madeDefault ? '' : ` --template ${vm.name}`}`);
  },
};

export const templateBuild: Command = {
  name: 'template build',
  summary: 'Build an Arch template from scratch (pacstrap) and import it',
  usage: 'NAME [--profile minimal|gui] [--disk-size 20G] [--packages a,b] [--pacman-conf FILE]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  json: true,
  options: {
    profile: { type: 'string', valueName: 'P', description: 'minimal (default) or gui (X11, i3, SPICE agent, audio)' },
    'disk-size': { type: 'string', valueName: 'SIZE', description: 'Root disk size (default 20G)' },
    packages: { type: 'string', valueName: 'LIST', description: 'Extra packages, comma separated' },
    'pacman-conf': { type: 'string', valueName: 'FILE', description: 'pacman.conf to install from (default: $VMS_PACMAN_CONF, else the host’s)' },
    user: { type: 'string', valueName: 'NAME', description: 'The guest user (default arch)' },
    password: { type: 'string', valueName: 'PW', description: 'The guest user’s password (default: the user’s name)' },
  },
  async run({ engine, json, io }, { positionals: [name], values }) {
    const text = (key: string) => (typeof values[key] === 'string' ? values[key] as string : undefined);
    const profile = text('profile');
    if (profile !== undefined && profile !== 'minimal' && profile !== 'gui') throw new VmsError(`The profile must be minimal or gui, not "${profile}".`);
    // The script takes whole MiB; users type any size of the one grammar (20G, 8GiB, 16384M).
    const diskBytes = sizeOption(values['disk-size'], 'disk-size');
    const vm = await engine.buildTemplate(name, {
      profile,
      diskSize: diskBytes === undefined ? undefined : `${Math.ceil(diskBytes / MIB)}M`,
      packages: text('packages'),
      // A mirror list of one's own (or a local repository) without typing it at every build.
      pacmanConf: text('pacman-conf') ?? process.env.VMS_PACMAN_CONF,
      user: text('user'),
      password: text('password'),
      // Not root: sudo asks on the terminal; without one, the error names the command to run.
      elevate: io.interactive ? 'sudo' : undefined,
      onLine: (line) => io.err(`${line}\n`),
    });
    const madeDefault = await defaultIfFirst(engine.config.defaultTemplate, vm.name);
    const user = text('user') ?? 'arch';
    // The build script's default password is the user's name.
    const password = text('password') !== undefined ? 'the one you gave' : user;
    io.out(json ? JSON.stringify({ ...vm, login: { user }, defaultTemplate: madeDefault }, null, 2) : [
      `Built and imported template "${vm.name}"${madeDefault ? ' (now the default template)' : ''}.`,
      `Its VMs log in as ${user}, password ${password} (change it inside with passwd).`,
      `Next: vms create mail${madeDefault ? '' : ` --template ${vm.name}`} && vms start mail && vms console mail`,
    ].join('\n'));
  },
};
