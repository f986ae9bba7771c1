import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { assetPath } from '../../engine/assets.js';
import { assertTemplateImage } from '../../engine/image-check.js';
import { VmsError } from '../../engine/errors.js';
import { assertVmName } from '../../engine/names.js';
import { pkgLayout } from '../../engine/storage/pkg-cache.js';
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

export function templateBuildScript(): string {
  return assetPath('template', 'build-template.sh');
}

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
    assertVmName(name);
    if (await engine.find(name)) throw new VmsError(`A VM named "${name}" already exists: choose another name.`);
    // The build runs as root; its image is uploaded into vms's pool by the import below.
    const buildDir = await mkdtemp(join('/var/tmp', 'vms-build-'));
    const out = join(buildDir, `${name}.qcow2`);
    // The template's pacman reads the same shared cache every VM mounts read-only.
    const args = ['--name', name, '--out', out, '--shared-cache', pkgLayout(engine.ctx).shared()];
    // The script takes whole MiB; users type any size of the one grammar (20G, 8GiB, 16384M).
    const diskBytes = sizeOption(values['disk-size'], 'disk-size');
    if (diskBytes !== undefined) args.push('--disk-size', `${Math.ceil(diskBytes / MIB)}M`);
    for (const key of ['profile', 'packages', 'user']) {
      if (typeof values[key] === 'string') args.push(`--${key}`, values[key] as string);
    }
    // A mirror list of one's own (or a local repository) without typing it at every build.
    const pacmanConf = typeof values['pacman-conf'] === 'string' ? values['pacman-conf'] : process.env.VMS_PACMAN_CONF;
    if (pacmanConf) args.push('--pacman-conf', pacmanConf);
    // Through the environment, so the password never shows in `ps`.
    const env = { LC_ALL: 'C', ...(typeof values.password === 'string' ? { VMS_TEMPLATE_PASSWORD: values.password } : {}) };
    try {
      const build = await execa(templateBuildScript(), args, { stdout: 'ignore', stderr: 'inherit', reject: false, env });
      if (build.exitCode !== 0) throw new VmsError(`Building the template "${name}" failed (see the messages above); nothing was imported.`);
      const vm = await engine.importTemplate(name, out);
      const madeDefault = await defaultIfFirst(engine.config.defaultTemplate, vm.name);
      const user = typeof values.user === 'string' ? values.user : 'arch';
      // The build script's default password is the user's name.
      const password = typeof values.password === 'string' ? 'the one you gave' : user;
      io.out(json ? JSON.stringify({ ...vm, login: { user }, defaultTemplate: madeDefault }, null, 2) : [
        `Built and imported template "${vm.name}"${madeDefault ? ' (now the default template)' : ''}.`,
        `Its VMs log in as ${user}, password ${password} (change it inside with passwd).`,
        `Next: vms create mail${madeDefault ? '' : ` --template ${vm.name}`} && vms start mail && vms console mail`,
      ].join('\n'));
    } finally {
      await rm(buildDir, { recursive: true, force: true });
    }
  },
};
