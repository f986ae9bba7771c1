import { VmsError } from '../../engine/errors.js';
import { NameBusyError } from '../../engine/name-lock.js';
import { decide, explainDecision, formatRpcLogEntry, loadPolicy, readRpcLog, runRpcDaemon, type VmFacts } from '../../engine/rpc/index.js';
import { requestedTargetProblem, serviceNameProblem } from '../../engine/rpc/rpc-names.js';
import type { Command } from '../command.js';

/** `vms rpcd`: the rpc service in the foreground (the tray app runs it itself; CLI-only users run the user unit). */
export const rpcd: Command = {
  name: 'rpcd',
  summary: 'Carry calls between VMs by the policy (vms-rpc, vms-copy); runs until stopped',
  usage: '',
  positionals: { min: 0, max: 0, names: [] },
  async run({ engine, io }) {
    // One service per user: two would take each other's consoles (virsh console --force).
    const stopped = new Promise<void>((resolve) => {
      for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
    });
    await runRpcDaemon(engine, {
      onNotice: (message) => io.err(`vms rpcd: ${message}\n`),
      onReady: () => io.err('vms rpcd: ready\n'),
    }, stopped).then(async () => {
      // Give virsh a moment to detach cleanly (Ctrl+] on each console).
      await new Promise((resolve) => setTimeout(resolve, 300));
    }, (error) => {
      if (error instanceof NameBusyError) throw new VmsError('vms rpcd is running already (the tray app runs it too): stop that one first.');
      throw error;
    });
  },
};

async function vmFacts(engine: Parameters<Command['run']>[0]['engine'], name: string): Promise<VmFacts | undefined> {
  const vm = await engine.find(name);
  return vm && { name: vm.name, label: vm.meta.label, kind: vm.meta.kind, template: vm.meta.template };
}

export const policyCheck: Command = {
  name: 'policy check',
  summary: 'Say how the rpc policy decides a call, and which line decides it',
  usage: 'SERVICE SOURCE TARGET',
  positionals: { min: 3, max: 3, names: ['SERVICE', 'SOURCE', 'TARGET'] },
  json: true,
  async run({ engine, json, io }, { positionals: [service, sourceName, target] }) {
    const problem = serviceNameProblem(service) ?? requestedTargetProblem(target);
    if (problem) throw new VmsError(`${problem}.`);
    const { rules, errors } = await loadPolicy();
    if (errors.length > 0) {
      for (const error of errors.slice(1)) io.err(`vms: ${error.message}\n`);
      throw errors[0];
    }
    const source = await vmFacts(engine, sourceName);
    if (!source) throw new VmsError(`There is no VM named "${sourceName}": see \`vms list\`.`);
    const request = { service, source, target, targetVm: await vmFacts(engine, target) };
    const decision = decide(rules, request);
    io.out(json ? JSON.stringify({ action: decision.action, target: decision.target, start: decision.start, rule: decision.rule ?? null }, null, 2) : explainDecision(decision, request));
  },
};

export const rpcLog: Command = {
  name: 'rpc log',
  summary: 'Every call between VMs, allowed or not, oldest first',
  usage: '[--last N]',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  offline: true,
  options: { last: { type: 'string', valueName: 'N', description: 'Only the last N calls' } },
  async run({ engine, json, io }, { values }) {
    const last = values.last === undefined ? undefined : Number(values.last);
    if (last !== undefined && !(Number.isInteger(last) && last > 0)) throw new VmsError('--last takes a whole number above 0, e.g. --last 20.');
    const entries = (await readRpcLog(engine.config.stateDir)).slice(last === undefined ? 0 : -last);
    io.out(json ? JSON.stringify(entries, null, 2) : entries.length ? entries.map(formatRpcLogEntry).join('\n') : 'No calls yet.');
  },
};
