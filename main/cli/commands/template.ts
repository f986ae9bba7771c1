import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';

export const templateImport: Command = {
  name: 'template import',
  summary: 'Register an existing disk image as a template (copied in, read-only)',
  usage: 'NAME IMAGE',
  positionals: { min: 2, max: 2, names: ['NAME', 'IMAGE'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name, image] }) {
    const vm = await engine.importTemplate(name, image);
    io.out(json ? JSON.stringify(vm, null, 2) : `Imported template "${vm.name}". Create a VM with: vms create NAME --template ${vm.name}`);
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
    'pacman-conf': { type: 'string', valueName: 'FILE', description: 'pacman.conf to install from (default: the host’s)' },
    user: { type: 'string', valueName: 'NAME', description: 'The guest user (default arch)' },
    password: { type: 'string', valueName: 'PW', description: 'The guest user’s password' },
  },
  async run({ engine, json, io }, { positionals: [name], values }) {
    const text = (key: string) => (typeof values[key] === 'string' ? values[key] as string : undefined);
    const profile = text('profile');
    if (profile !== undefined && profile !== 'minimal' && profile !== 'gui') throw new VmsError(`The profile must be minimal or gui, not "${profile}".`);
    const vm = await engine.buildTemplate(name, {
      profile, diskSize: text('disk-size'), packages: text('packages'), pacmanConf: text('pacman-conf'), user: text('user'), password: text('password'),
      // Not root: sudo asks on the terminal; without one, the error names the command to run.
      elevate: io.interactive ? 'sudo' : undefined,
      onLine: (line) => io.err(`${line}\n`),
    });
    io.out(json ? JSON.stringify(vm, null, 2) : `Built and imported template "${vm.name}".`);
  },
};
