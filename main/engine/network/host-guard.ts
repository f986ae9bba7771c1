import { runTool } from '../tools/run.js';
import type { LabelNetwork } from './network-xml.js';

/**
 * The host guard: a guest reaches the host only for DHCP and (online labels) DNS on its own bridge.
 *
 * Measured here: without it, a guest on any libvirt network reaches every host service listening on
 * 0.0.0.0, through its bridge address or any other host address. nwfilter cannot say "addressed to the
 * host" (its rules for traffic a VM sends land in the forward and the host-input chains alike), and the
 * host's own addresses change (Wi-Fi, VPNs), so the guard is an iptables chain on INPUT keyed on the
 * incoming interface: every vms bridge is `vms-*`, and `-i vms-+` matches them all, whatever their
 * addresses. Replies to connections the host opened (ESTABLISHED) still come in.
 *
 * The chain is rewritten whole with `iptables-restore --noflush` (one atomic commit), so there is no
 * moment without it. Rules are not persisted across reboots: every VM start re-applies them before the
 * VM's NIC exists.
 */

export const GUARD_CHAIN = 'VMS_HOST_GUARD';
export const BRIDGE_MATCH = 'vms-+';
export const FORWARD_CHAIN = 'VMS_FWD_GUARD';

/** The IPv4 chain, as iptables-restore input (pure). */
export function guardRulesV4(networks: readonly Pick<LabelNetwork, 'bridge' | 'gateway' | 'policy'>[]): string {
  const lines = [
    '*filter',
    `:${GUARD_CHAIN} - [0:0]`,
    `-A ${GUARD_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    // DHCP: the first DISCOVER comes from 0.0.0.0 to the broadcast address, renewals go to the bridge.
    `-A ${GUARD_CHAIN} -p udp --sport 68 --dport 67 -j RETURN`,
    ...networks.filter((n) => !n.policy.offline).flatMap((n) => [
      `-A ${GUARD_CHAIN} -i ${n.bridge} -d ${n.gateway}/32 -p udp --dport 53 -j RETURN`,
      `-A ${GUARD_CHAIN} -i ${n.bridge} -d ${n.gateway}/32 -p tcp --dport 53 -j RETURN`,
    ]),
    `-A ${GUARD_CHAIN} -p tcp -j REJECT --reject-with tcp-reset`,
    `-A ${GUARD_CHAIN} -j REJECT --reject-with icmp-admin-prohibited`,
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * The forward guard (mangle table, so no filter-table rule order can skip it): nothing from outside a
 * label network starts a connection into it (another label's VMs, other bridges, the LAN), and an offline
 * label sends nothing beyond its own bridge. libvirt's own FORWARD rules do the same for a network, but
 * they are skipped for any VM whose nwfilter has iptables-layer rules (libvirt accepts that VM's traffic in
 * `libvirt-in-post` first, measured), and that ACCEPT stays until the VM stops.
 */
export function forwardGuardRules(networks: readonly Pick<LabelNetwork, 'bridge' | 'policy'>[]): string {
  const lines = [
    '*mangle',
    `:${FORWARD_CHAIN} - [0:0]`,
    `-A ${FORWARD_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    ...networks.flatMap((n) => [
      `-A ${FORWARD_CHAIN} -o ${n.bridge} ! -i ${n.bridge} -j DROP`,
      ...(n.policy.offline ? [`-A ${FORWARD_CHAIN} -i ${n.bridge} ! -o ${n.bridge} -j DROP`] : []),
    ]),
    'COMMIT',
  ];
  return `${lines.join('\n')}\n`;
}

/** IPv6: label networks have none, and clean-traffic drops it at the bridge; this covers a NIC without the filter. */
export function guardRulesV6(): string {
  return [
    '*filter',
    `:${GUARD_CHAIN} - [0:0]`,
    `-A ${GUARD_CHAIN} -m conntrack --ctstate ESTABLISHED,RELATED -j RETURN`,
    `-A ${GUARD_CHAIN} -j DROP`,
    'COMMIT',
    '',
  ].join('\n');
}

const explain = (stderr: string) => (/Permission denied|must be root/i.test(stderr)
  ? 'Guarding the host from VMs needs root (iptables): run vms as root or through the tray app\'s helper.'
  : undefined);

const INPUT_JUMP = ['INPUT', '-i', BRIDGE_MATCH, '-j', GUARD_CHAIN];
const FORWARD_JUMP = ['-t', 'mangle', 'FORWARD', '-j', FORWARD_CHAIN];

async function ensureJump(tool: 'iptables' | 'ip6tables', rule: string[]): Promise<void> {
  const [table, chain, ...match] = rule[0] === '-t' ? [rule.slice(0, 2), rule[2], ...rule.slice(3)] : [[], rule[0], ...rule.slice(1)];
  try {
    await runTool(tool, ['-w', ...(table as string[]), '-C', chain as string, ...(match as string[])]);
  } catch {
    await runTool(tool, ['-w', ...(table as string[]), '-I', chain as string, '1', ...(match as string[])], { explain });
  }
}

/** Writes the guard for the given vms networks and makes sure INPUT jumps to it. Idempotent. */
export async function applyHostGuard(networks: readonly Pick<LabelNetwork, 'bridge' | 'gateway' | 'policy'>[]): Promise<void> {
  await runTool('iptables-restore', ['-w', '--noflush'], { input: guardRulesV4(networks) + forwardGuardRules(networks), explain });
  await ensureJump('iptables', INPUT_JUMP);
  await ensureJump('iptables', FORWARD_JUMP);
  try {
    await runTool('ip6tables-restore', ['-w', '--noflush'], { input: guardRulesV6(), explain });
    await ensureJump('ip6tables', INPUT_JUMP);
  } catch {
    // A host without IPv6 support: nothing to guard there.
  }
}

/** Removes the guard (when the last vms network is deleted). */
export async function removeHostGuard(): Promise<void> {
  const quietly = (tool: string, args: string[]) => runTool(tool, ['-w', ...args]).catch(() => undefined);
  for (const tool of ['iptables', 'ip6tables'] as const) {
    await quietly(tool, ['-D', ...INPUT_JUMP]);
    await quietly(tool, ['-F', GUARD_CHAIN]);
    await quietly(tool, ['-X', GUARD_CHAIN]);
  }
  await quietly('iptables', ['-t', 'mangle', '-D', 'FORWARD', '-j', FORWARD_CHAIN]);
  await quietly('iptables', ['-t', 'mangle', '-F', FORWARD_CHAIN]);
  await quietly('iptables', ['-t', 'mangle', '-X', FORWARD_CHAIN]);
}
