import { VmsError } from '../../engine/errors.js';
import type { VmKind } from '../../engine/types.js';
import type { Command } from '../command.js';
import { wholeNumber } from '../options.js';

/** A disposable is gone once off; saying "is shut off" about it would send users looking for it. */
function offMessage(kind: VmKind, name: string, how: 'shut down' | 'was forced off'): string {
  if (kind === 'disposable') return `The disposable "${name}" ${how} and was discarded.`;
  return how === 'shut down' ? `"${name}" is shut off.` : `"${name}" is off.`;
}

export const start: Command = {
  name: 'start',
  summary: 'Start a VM (an appvm gets a fresh root from its template)',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    const before = await engine.info(name);
    if (before.state === 'running') {
      io.out(`"${name}" is already running.`);
      return;
    }
    const vm = await engine.start(name);
    io.out(`"${vm.name}" is ${vm.state}${before.state === 'paused' ? ' again (it was paused)' : ''}.`);
  },
};

export const stop: Command = {
  name: 'stop',
  summary: 'Shut a VM down cleanly and wait until it is off',
  usage: 'NAME [--no-wait] [--timeout SECONDS]',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  options: {
    'no-wait': { type: 'boolean', description: 'Ask the guest to shut down and return at once' },
    timeout: { type: 'string', valueName: 'SECONDS', description: 'How long to wait (default 90)' },
  },
  async run({ engine, io }, { positionals: [name], values }) {
    const seconds = wholeNumber(values.timeout, 'timeout', '90') ?? 90;
    if (seconds < 1) throw new VmsError('--timeout takes a number of seconds of at least 1, such as --timeout 90.');
    const before = await engine.info(name);
    if (before.state === 'shut off') {
      io.out(`"${name}" is already shut off.`);
      return;
    }
    await engine.stop(name, { wait: values['no-wait'] !== true, timeoutMs: seconds * 1000 });
    io.out(values['no-wait'] ? `Asked "${name}" to shut down.` : offMessage(before.meta.kind, name, 'shut down'));
  },
};

export const kill: Command = {
  name: 'kill',
  summary: 'Force a VM off at once',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    const before = await engine.info(name);
    if (before.state === 'shut off') {
      io.out(`"${name}" is already off.`);
      return;
    }
    await engine.kill(name);
    io.out(offMessage(before.meta.kind, name, 'was forced off'));
  },
};

export const restart: Command = {
  name: 'restart',
  summary: 'Shut a VM down and start it again',
  usage: 'NAME',
  positionals: { min: 1, max: 1, names: ['NAME'] },
  async run({ engine, io }, { positionals: [name] }) {
    const vm = await engine.restart(name);
    io.out(`"${vm.name}" is ${vm.state}.`);
  },
};
