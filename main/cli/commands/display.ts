import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { VmsError } from '../../engine/errors.js';
import { openViewer } from '../../engine/viewer.js';
import type { Command } from '../command.js';

export const view: Command = {
  name: 'view',
  summary: 'Open the VM’s SPICE display in remote-viewer',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    const { uri } = await openViewer(engine, name);
    io.out(`Opened ${uri} for "${name}".`);
  },
};

export const consoleCommand: Command = {
  name: 'console',
  summary: 'Attach to the VM’s serial console (detach with Ctrl+]); --log prints what it said',
  usage: 'NAME [--log]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  options: { log: { type: 'boolean', description: 'Print the console log instead of attaching' } },
  async run({ engine, io }, { positionals: [name], values }) {
    const vm = await engine.info(name);
    if (values.log) {
      const path = engine.ctx.layout.consoleLog(name);
      try {
        io.out(await readFile(path, 'utf8'));
      } catch {
        throw new VmsError(`"${name}" has no console log yet: start it once (vms start ${name}).`);
      }
      return;
    }
    if (vm.state !== 'running' && vm.state !== 'paused') throw new VmsError(`"${name}" is ${vm.state}: start it first (vms start ${name}).`);
    if (!process.stdin.isTTY) throw new VmsError('The console needs a terminal: run `vms console` in one, or read the log with --log.');
    const child = spawn('virsh', ['-c', engine.config.uri, 'console', '--force', name], { stdio: 'inherit' });
    return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  },
};
