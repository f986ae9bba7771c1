import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';
import { CONFIRM_OPTIONS, confirmOrStop, FORCE_OPTION } from '../confirm.js';
import { memoryOption, wholeNumber } from '../options.js';
import { formatInfo, progressBar } from '../format.js';

export const create: Command = {
  name: 'create',
  summary: 'Create a VM from a template (an appvm, or --standalone)',
  usage: 'NAME [--template T] [--domain D] [--memory 2G] [--cpus N] [--disk-size 10G] [--standalone]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  json: true,
  options: {
    template: { type: 'string', short: 't', valueName: 'T', description: 'Template to start from (default: the default-template setting, or the only template)' },
    domain: { type: 'string', short: 'd', valueName: 'D', description: 'Domain: work, personal, hobby, … (default: the default-domain setting, personal)' },
    memory: { type: 'string', short: 'm', valueName: 'SIZE', description: 'Memory, e.g. 2G or 1536M (default 2G)' },
    cpus: { type: 'string', short: 'c', valueName: 'N', description: 'Virtual CPUs' },
    'disk-size': { type: 'string', valueName: 'SIZE', description: 'Private disk (/home) size, e.g. 20G (default 10G)' },
    standalone: { type: 'boolean', description: 'Copy the template’s root instead of following it' },
  },
  async run({ engine, json, io }, { positionals: [name], values }) {
    const vm = await engine.create(name, {
      template: values.template as string | undefined,
      label: values.domain as string | undefined,
      memoryMiB: memoryOption(values.memory),
      vcpus: wholeNumber(values.cpus, 'cpus'),
      diskSize: values['disk-size'] as string | undefined,
      standalone: values.standalone === true,
    });
    io.out(json ? JSON.stringify(vm, null, 2) : `Created ${vm.meta.kind} "${vm.name}" in ${vm.meta.label} from ${vm.meta.template}. Start it with: vms start ${vm.name}`);
  },
};

export const clone: Command = {
  name: 'clone',
  summary: 'Clone a VM: linked and instant by default, --full for an independent copy',
  usage: 'SOURCE NEW [--full]',
  positionals: { min: 2, max: 2, names: ['SOURCE', 'NEW'] },
  json: true,
  options: { full: { type: 'boolean', description: 'Independent copy (reflink where the filesystem has it), with progress' } },
  async run({ engine, json, io }, { positionals: [source, name], values }) {
    const full = values.full === true;
    const vm = await engine.clone(source, name, {
      full,
      onProgress: full && io.interactive && !json ? (p) => io.err(`\r${progressBar(p)}`) : undefined,
    });
    if (full && io.interactive && !json) io.err('\n');
    io.out(json ? JSON.stringify(vm, null, 2) : `Cloned "${source}" to "${vm.name}" (${full ? 'full copy' : 'linked'}).`);
  },
};

export const remove: Command = {
  name: 'delete',
  summary: 'Delete a VM with its disks (its /home too) and NVRAM; asks first',
  usage: 'NAME [--yes] [--force]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  options: { ...CONFIRM_OPTIONS, ...FORCE_OPTION },
  async run({ engine, io }, { positionals: [name], values }) {
    const vm = await engine.info(name);
    const running = vm.state !== 'shut off';
    if (running && values.force !== true) {
      throw new VmsError(`"${name}" is ${vm.state}: stop it first (vms stop ${name}), or add --force to force it off and delete it.`);
    }
    const what = vm.meta.kind === 'disposable' ? 'disposable' : vm.meta.kind === 'template' ? 'template' : vm.disks.some((d) => d.target === 'vdb') ? 'VM and its /home disk' : 'VM';
    await confirmOrStop(io, values.yes === true, `Delete the ${what} "${name}"${running ? ` (${vm.state}: it is forced off first)` : ''}? This cannot be undone.`, `vms delete ${name}${running ? ' --force' : ''}`);
    await engine.delete(name);
    io.out(`Deleted "${name}".`);
  },
};

export { formatInfo };
