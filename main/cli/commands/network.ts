import { VmsError } from '../../engine/errors.js';
import type { LabelNetworkState } from '../../engine/network/label-networks.js';
import { formatCidr } from '../../engine/network/ipv4.js';
import type { LabelPolicy } from '../../engine/network/network-xml.js';
import { labelProblem } from '../../engine/names.js';
import type { Command, ParsedArgs } from '../command.js';
import { CONFIRM_OPTIONS, confirmOrStop } from '../confirm.js';

/** `vms network …`: one libvirt network per domain label, and the label's policy. */

function checkLabel(label: string): void {
  const problem = labelProblem(label);
  if (problem) throw new VmsError(`${problem}.`);
}

/** The policy changes the options ask for; conflicting or empty requests are refused before anything runs. */
export function policyChanges(values: ParsedArgs['values'], options: { requireSome: boolean }): Partial<LabelPolicy> {
  const changes: Partial<LabelPolicy> = {};
  if (values.offline && values.online) throw new VmsError('Say --offline or --online, not both.');
  if (values['isolate-vms'] && values['share-vms']) throw new VmsError('Say --isolate-vms or --share-vms, not both.');
  if (values.offline) changes.offline = true;
  if (values.online) changes.offline = false;
  if (values['isolate-vms']) changes.isolateVms = true;
  if (values['share-vms']) changes.isolateVms = false;
  if (values.clipboard !== undefined) {
    if (values.clipboard !== 'on' && values.clipboard !== 'off') throw new VmsError(`--clipboard takes on or off (got "${String(values.clipboard)}").`);
    changes.clipboard = values.clipboard === 'on';
  }
  if (options.requireSome && Object.keys(changes).length === 0) {
    throw new VmsError('Say what to change: --offline/--online, --isolate-vms/--share-vms or --clipboard on|off (see `vms network set --help`).');
  }
  return changes;
}

export function networkJson(net: LabelNetworkState) {
  return {
    label: net.label,
    network: net.name,
    bridge: net.bridge,
    subnet: formatCidr(net.subnet),
    gateway: net.gateway,
    active: net.active,
    offline: net.policy.offline,
    isolateVms: net.policy.isolateVms,
    clipboard: net.policy.clipboard,
  };
}

export function formatNetworks(networks: LabelNetworkState[]): string {
  if (networks.length === 0) return 'No VM networks yet: each domain gets one when its first VM is created or started.';
  const rows = [['DOMAIN', 'NETWORK', 'SUBNET', 'STATE', 'POLICY']];
  for (const net of [...networks].sort((a, b) => a.label.localeCompare(b.label))) {
    const policy = [net.policy.offline ? 'offline' : 'online (NAT)', net.policy.isolateVms ? 'VMs isolated' : 'VMs see each other', `clipboard ${net.policy.clipboard ? 'on' : 'off'}`];
    rows.push([net.label, net.name, formatCidr(net.subnet), net.active ? 'active' : 'inactive', policy.join(', ')]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

function describe(net: LabelNetworkState): string {
  return `${net.label}: ${net.name} on ${formatCidr(net.subnet)}, ${net.policy.offline ? 'offline' : 'online'}, VMs ${net.policy.isolateVms ? 'isolated from each other' : 'see each other'}, clipboard ${net.policy.clipboard ? 'on' : 'off'}`;
}

const POLICY_OPTIONS = {
  offline: { type: 'boolean', description: 'No internet and no DNS: the VMs reach only each other' },
  'isolate-vms': { type: 'boolean', description: 'The VMs cannot reach each other either' },
  clipboard: { type: 'string', valueName: 'on|off', description: 'Share the desktop clipboard (default off for work and vault)' },
} as const;

export const networkList: Command = {
  name: 'network list',
  summary: 'List the domains’ networks with their subnet and policy',
  usage: '',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  async run({ engine, json, io }) {
    const networks = await engine.networks();
    io.out(json ? JSON.stringify(networks.map(networkJson), null, 2) : formatNetworks(networks));
  },
};

export const networkCreate: Command = {
  name: 'network create',
  summary: 'Make a domain’s network now, with its policy (otherwise it is made on first use)',
  usage: 'DOMAIN [--offline] [--isolate-vms] [--clipboard on|off]',
  positionals: { min: 1, max: 1, names: ['DOMAIN'] },
  json: true,
  options: POLICY_OPTIONS,
  async run({ engine, json, io }, { positionals: [label], values }) {
    checkLabel(label);
    const net = await engine.createNetwork(label, policyChanges(values, { requireSome: false }));
    io.out(json ? JSON.stringify(networkJson(net), null, 2) : `Created ${describe(net)}.`);
  },
};

export const networkSet: Command = {
  name: 'network set',
  summary: 'Change a domain’s policy: offline, VMs isolated from each other, clipboard',
  usage: 'DOMAIN [--offline|--online] [--isolate-vms|--share-vms] [--clipboard on|off]',
  positionals: { min: 1, max: 1, names: ['DOMAIN'] },
  json: true,
  options: {
    ...POLICY_OPTIONS,
    online: { type: 'boolean', description: 'Internet through the host (NAT) again' },
    'share-vms': { type: 'boolean', description: 'The VMs may reach each other again' },
  },
  async run({ engine, json, io }, { positionals: [label], values }) {
    checkLabel(label);
    const changes = policyChanges(values, { requireSome: true });
    const net = await engine.setNetworkPolicy(label, changes);
    if (json) {
      io.out(JSON.stringify(networkJson(net), null, 2));
      return;
    }
    const clipboardNote = changes.clipboard !== undefined ? ' The clipboard setting reaches each VM at its next start.' : '';
    io.out(`Set ${describe(net)}.${clipboardNote}`);
  },
};

export const networkDelete: Command = {
  name: 'network delete',
  summary: 'Delete a domain’s network (refused while VMs of that domain exist); asks first',
  usage: 'DOMAIN [--yes]',
  positionals: { min: 1, max: 1, names: ['DOMAIN'] },
  options: CONFIRM_OPTIONS,
  async run({ engine, io }, { positionals: [label], values }) {
    checkLabel(label);
    await confirmOrStop(io, values.yes === true, `Delete the network of the "${label}" domain, with its policy?`, `vms network delete ${label}`);
    await engine.deleteNetwork(label);
    io.out(`Deleted the "${label}" network.`);
  },
};
