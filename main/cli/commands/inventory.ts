import type { Command } from '../command.js';
import { formatInfo, formatList } from '../format.js';

export const list: Command = {
  name: 'list',
  summary: 'List VMs grouped by domain, with their state',
  usage: '[--all]',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  options: { all: { type: 'boolean', short: 'a', description: 'Also the preloaded disposables waiting in the pool' } },
  async run({ engine, json, io }, { values }) {
    const vms = (await engine.list()).filter((vm) => values.all === true || !vm.meta.preloaded);
    io.out(json ? JSON.stringify(vms, null, 2) : formatList(vms));
  },
};

export const info: Command = {
  name: 'info',
  summary: 'Show everything vms knows about a VM',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name] }) {
    const vm = await engine.info(name);
    const pending = await engine.pendingChanges(vm);
    io.out(json ? JSON.stringify({ ...vm, pending }, null, 2) : formatInfo(vm, pending));
  },
};
