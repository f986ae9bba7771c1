import type { PendingChange } from '../engine/vm-settings.js';
import type { VmInfo } from '../engine/types.js';

/** Pure text formatting for the command line. */

const KIND_ORDER = ['appvm', 'standalone', 'disposable', 'template'];

/** Domains in the order users think of them; templates last. */
export function groupByLabel(vms: VmInfo[]): Array<{ label: string; vms: VmInfo[] }> {
  const preferred = ['work', 'personal', 'hobby', 'disposable'];
  const groups = new Map<string, VmInfo[]>();
  for (const vm of vms) {
    const key = vm.meta.kind === 'template' ? 'templates' : vm.meta.label;
    groups.set(key, [...(groups.get(key) ?? []), vm]);
  }
  const rank = (label: string) => (label === 'templates' ? 1000 : preferred.includes(label) ? preferred.indexOf(label) : 100);
  return [...groups.entries()]
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([label, members]) => ({
      label,
      vms: members.sort((a, b) => KIND_ORDER.indexOf(a.meta.kind) - KIND_ORDER.indexOf(b.meta.kind) || a.name.localeCompare(b.name)),
    }));
}

function pad(text: string, width: number): string {
  return text.length >= width ? text : text + ' '.repeat(width - text.length);
}

export function formatList(vms: VmInfo[]): string {
  if (vms.length === 0) return 'No VMs yet: import a template (vms template import NAME IMAGE) or build one (vms template build NAME).';
  const lines: string[] = [];
  for (const group of groupByLabel(vms)) {
    lines.push(`${group.label}:`);
    for (const vm of group.vms) {
      const basis = vm.meta.kind === 'template' ? `v${vm.meta.imageVersion ?? 1}${vm.meta.updating ? ' (updating)' : ''}` : vm.meta.template ? `from ${vm.meta.template}${vm.meta.preloaded ? ' (preloaded, waiting in the pool)' : ''}` : '';
      lines.push(`  ${pad(vm.name, 20)} ${pad(vm.state, 10)} ${pad(vm.meta.kind, 11)} ${basis}`.trimEnd());
    }
  }
  return lines.join('\n');
}

export function formatInfo(vm: VmInfo, pending: readonly PendingChange[] = []): string {
  const later = (setting: PendingChange['setting'], now: string | number | undefined) => {
    const change = pending.find((p) => p.setting === setting);
    return change ? `${now} (${change.next} from its next start)` : now;
  };
  const template = vm.meta.kind === 'template';
  const version = vm.meta.imageVersion ?? 1;
  const rows: Array<[string, string | number | undefined]> = [
    ['name', vm.name],
    ['state', vm.state],
    ['kind', `${vm.meta.kind}${vm.meta.preloaded ? ' (preloaded, waiting in the pool)' : ''}`],
    ['domain', later('domain', vm.meta.label)],
    ['template', later('template', vm.meta.template)],
    // A template's root-v<N+1> is its working copy; v<N> is what its VMs start from.
    ['published', template ? `v${version}${vm.meta.updating ? `; an update is running and becomes v${version + 1} at shutdown` : ''}` : undefined],
    ['color', vm.meta.color],
    ['memory', later('memory', `${vm.memoryMiB} MiB`)],
    ['cpus', later('cpus', vm.vcpus)],
    ['acceleration', vm.meta.accel ? `${vm.meta.accel} (chosen at its last start)` : undefined],
    ['network', vm.network ?? 'user-mode'],
    ['clipboard', later('clipboard', vm.clipboard ? 'on' : 'off')],
    ['persistent', vm.persistent ? 'yes' : 'no (disposable)'],
    ['uuid', vm.uuid],
    ...vm.disks.map((d): [string, string] => [`disk ${d.target}`, `${d.volume ? `${d.volume} (pool ${d.pool})` : d.path ?? ''}${template && d.target === 'vda' ? ` (working copy, published as v${version + 1} after an update)` : ''}`]),
    ['nvram', vm.nvramPath],
    ['created', vm.meta.created],
  ];
  return rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${pad(k + ':', 15)} ${v}`).join('\n');
}

/** `[#########.........]  45%` */
export function progressBar(percent: number, width = 30): string {
  const filled = Math.round((Math.max(0, Math.min(100, percent)) / 100) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.floor(percent)).padStart(3)}%`;
}
