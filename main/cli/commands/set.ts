import { parseVmSettings, VM_SETTING_KEYS } from '../../engine/index.js';
import type { Command } from '../command.js';

export const set: Command = {
  name: 'set',
  summary: 'Change a VM after create: memory, CPUs, domain, clipboard, autostart, an appvm’s template',
  usage: `NAME KEY=VALUE…    keys: memory=4G cpus=2 domain=work clipboard=on|off autostart=on|off template=T`,
  positionals: { min: 1, max: 1 + VM_SETTING_KEYS.length, names: ['NAME', 'KEY=VALUE'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name, ...pairs] }) {
    // Parsed and checked in full before anything is written.
    const changes = parseVmSettings(pairs);
    const { vm, atNextStart } = await engine.set(name, changes);
    if (json) {
      io.out(JSON.stringify({ name, changes, atNextStart, vm }, null, 2));
      return;
    }
    const said = pairs.map((p) => p.trim()).join(' ');
    io.out(atNextStart
      ? `Set ${said} on "${name}"; it applies at its next start (it is running: vms restart ${name}).`
      : `Set ${said} on "${name}".`);
  },
};
