import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';

export const view: Command = {
  name: 'view',
  summary: 'Open the VM’s SPICE display in remote-viewer',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    const vm = await engine.info(name);
    if (vm.state !== 'running' && vm.state !== 'paused') throw new VmsError(`"${name}" is ${vm.state}: start it first (vms start ${name}).`);
    const uri = await engine.displayUri(name);
    if (!uri) throw new VmsError(`"${name}" has no SPICE display: check its graphics in \`virsh dumpxml ${name}\`.`);
    const viewer = spawn('remote-viewer', ['--title', `[${vm.meta.label}] ${vm.name}`, uri], { detached: true, stdio: 'ignore' });
    await new Promise<void>((resolve, reject) => {
      viewer.once('error', (error) => reject(new VmsError('remote-viewer is not installed: install the virt-viewer package and try again.', { cause: error })));
      viewer.once('spawn', () => resolve());
    });
    viewer.unref();
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
