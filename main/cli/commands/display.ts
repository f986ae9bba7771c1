import { spawn } from 'node:child_process';
import { VmsError } from '../../engine/errors.js';
import { openViewer } from '../../engine/viewer.js';
import type { Command } from '../command.js';

export const view: Command = {
  name: 'view',
  summary: 'Open the VM’s SPICE display in virt-viewer, through libvirt',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    // openViewer colors the header bar, for the tray and the command line alike.
    const { title } = await openViewer(engine, name);
    io.out(`Opened the display of "${name}" (window "${title}").`);
  },
};

export const consoleCommand: Command = {
  name: 'console',
  summary: 'Attach to the VM’s serial console (detach with Ctrl+]; works from scripts too); --log prints what it said',
  usage: 'NAME [--log]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  options: { log: { type: 'boolean', description: 'Print the console log instead of attaching' } },
  async run({ engine, io }, { positionals: [name], values }) {
    const vm = await engine.info(name);
    if (values.log) {
      const log = await engine.consoleLog(name);
      if (log === undefined) throw new VmsError(`"${name}" has no console log yet: start it once (vms start ${name}).`);
      io.out(log);
      return;
    }
    if (vm.state !== 'running' && vm.state !== 'paused') throw new VmsError(`"${name}" is ${vm.state}: start it first (vms start ${name}).`);
    // Without a terminal (a script, a pipe), the console's pty is bridged to stdin and stdout directly.
    if (!process.stdin.isTTY) {
      const code = await engine.bridgeConsole(name, process.stdin, process.stdout);
      process.stdin.destroy();
      return code;
    }
    const child = spawn('virsh', ['-c', engine.config.uri, 'console', '--force', name], { stdio: 'inherit' });
    return new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
  },
};
