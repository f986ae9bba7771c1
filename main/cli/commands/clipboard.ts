import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';

export const clipboard: Command = {
  name: 'clipboard',
  summary: 'Show, or turn on or off, copy and paste between the desktop and a VM',
  usage: 'NAME [on|off]',
  positionals: { min: 1, max: 2, names: ['NAME', 'on|off'] },
  json: true,
  async run({ engine, json, io }, { positionals: [name, value] }) {
    if (value === undefined) {
      const vm = await engine.info(name);
      const next = (await engine.pendingChanges(vm)).find((p) => p.setting === 'clipboard')?.next;
      io.out(json ? JSON.stringify({ name, clipboard: vm.clipboard, ...(next ? { nextStart: next === 'on' } : {}) }) : `Clipboard of "${name}": ${vm.clipboard ? 'on' : 'off'}${next ? ` (${next} from its next start)` : ''}.`);
      return;
    }
    if (value !== 'on' && value !== 'off') throw new VmsError(`Say on or off: vms clipboard ${name} on|off (got "${value}").`);
    const { vm, appliesNow } = await engine.setClipboard(name, value === 'on');
    if (json) {
      io.out(JSON.stringify({ name, clipboard: vm.clipboard, appliesNow }));
      return;
    }
    io.out(`Clipboard of "${name}" is ${value}${appliesNow ? '.' : ` from its next start (restart it: vms restart ${name}).`}`);
  },
};
