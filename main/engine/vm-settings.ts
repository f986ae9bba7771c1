import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { hostResources } from './host.js';
import { getTemplate, getVm } from './inventory.js';
import { labelProblem } from './names.js';
import { defineDomain, dumpXml, setDomainAutostart } from './libvirt/domains.js';
import type { VmInfo, VmMeta } from './types.js';
import { parseMemoryMiB, resourceProblem, SizeError } from './units.js';
import { editDomainXml, setClipboard, setMetadata, setName, type DomainMutator } from './xml/domain-edit.js';
import { readDomain } from './xml/domain-read.js';
import { setMemory, setVcpus } from './xml/domain-settings.js';

/**
 * `vms set NAME key=value…`: what may change after create. Each change is read → pure mutator → define
 * on the domain's persistent config; libvirt gives a running VM its new config at its next start.
 */

export interface VmSettingChanges {
  memoryMiB?: number;
  vcpus?: number;
  /** The domain label (work, personal, …). */
  label?: string;
  clipboard?: boolean;
  autostart?: boolean;
  /** An appvm's template: its root follows the new template from its next start. */
  template?: string;
}

export const VM_SETTING_KEYS = ['memory', 'cpus', 'domain', 'clipboard', 'autostart', 'template'] as const;
const KEY_ALIASES: Record<string, (typeof VM_SETTING_KEYS)[number]> = { label: 'domain', vcpus: 'cpus', mem: 'memory' };

function onOff(key: string, value: string): boolean {
  if (/^(on|yes|true)$/i.test(value)) return true;
  if (/^(off|no|false)$/i.test(value)) return false;
  throw new VmsError(`${key} takes on or off (got "${value}").`);
}

/** Reads `memory=4G cpus=2 domain=work …` (pure); every problem is found before anything is written. */
export function parseVmSettings(pairs: readonly string[], host = hostResources()): VmSettingChanges {
  if (pairs.length === 0) throw new VmsError(`Say what to change as key=value: ${VM_SETTING_KEYS.join(', ')} (e.g. memory=4G cpus=2).`);
  const changes: VmSettingChanges = {};
  const seen = new Set<string>();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new VmsError(`"${pair}" is not key=value: say e.g. memory=4G (keys: ${VM_SETTING_KEYS.join(', ')}).`);
    const rawKey = pair.slice(0, eq).toLowerCase();
    const value = pair.slice(eq + 1).trim();
    const key = KEY_ALIASES[rawKey] ?? (VM_SETTING_KEYS as readonly string[]).find((k) => k === rawKey);
    if (!key) throw new VmsError(`"${rawKey}" is not a VM setting: use ${VM_SETTING_KEYS.join(', ')}.`);
    if (seen.has(key)) throw new VmsError(`${key} is given twice: say it once.`);
    seen.add(key);
    switch (key) {
      case 'memory':
        try {
          changes.memoryMiB = parseMemoryMiB(value, 'memory');
        } catch (error) {
          if (error instanceof SizeError) throw new VmsError(error.message, { cause: error });
          throw error;
        }
        break;
      case 'cpus':
        if (!/^\d{1,4}$/.test(value)) throw new VmsError(`cpus takes a whole number, such as cpus=2 (got "${value}").`);
        changes.vcpus = Number(value);
        break;
      case 'domain': {
        const problem = labelProblem(value);
        if (problem) throw new VmsError(`${problem}.`);
        changes.label = value;
        break;
      }
      case 'clipboard':
        changes.clipboard = onOff(key, value);
        break;
      case 'autostart':
        changes.autostart = onOff(key, value);
        break;
      case 'template':
        if (value === '') throw new VmsError('template takes the name of a template (see `vms list`).');
        changes.template = value;
        break;
    }
  }
  const problem = resourceProblem({ memoryMiB: changes.memoryMiB, vcpus: changes.vcpus }, host);
  if (problem) throw new VmsError(`${problem}.`);
  return changes;
}

/** The mutators for the changes that live in the domain XML (pure). */
export function settingMutators(name: string, meta: VmMeta, changes: VmSettingChanges, color?: string): DomainMutator[] {
  const mutators: DomainMutator[] = [];
  if (changes.memoryMiB !== undefined) mutators.push(setMemory(changes.memoryMiB));
  if (changes.vcpus !== undefined) mutators.push(setVcpus(changes.vcpus));
  if (changes.clipboard !== undefined) mutators.push(setClipboard(changes.clipboard));
  if (changes.label !== undefined || changes.template !== undefined) {
    const label = changes.label ?? meta.label;
    const next: VmMeta = { ...meta, label, template: changes.template ?? meta.template };
    if (changes.label !== undefined) next.color = color;
    mutators.push(setName(name, label), setMetadata(next));
  }
  return mutators;
}

export interface VmSettingsResult {
  vm: VmInfo;
  /** True when the VM runs and the XML changes wait for its next start. */
  atNextStart: boolean;
}

/** `virsh autostart`: libvirt starts the VM when the host boots. */
/** Checks the changes against the VM (its kind, the template), then writes them. */
export async function applyVmSettings(ctx: EngineContext, name: string, changes: VmSettingChanges): Promise<VmSettingsResult> {
  const vm = await getVm(ctx, name);
  if (!vm.persistent) {
    throw new VmsError(`"${name}" is a disposable: it is gone when it shuts down, so there is nothing to change; start a new one with \`vms disposable\` instead.`);
  }
  if (changes.template !== undefined) {
    if (vm.meta.kind !== 'appvm') {
      throw new VmsError(`"${name}" is a ${vm.meta.kind}: only an appvm follows a template (a standalone VM has its own copy); make a new appvm with \`vms create NAME --template ${changes.template}\`.`);
    }
    await getTemplate(ctx, changes.template);
  }
  const xml = await dumpXml(ctx.libvirt, name, { inactive: true });
  const mutators = settingMutators(name, readDomain(xml)!.meta, changes, changes.label ? ctx.config.labelColors[changes.label] : undefined);
  if (mutators.length > 0) await defineDomain(ctx.libvirt, editDomainXml(xml, ...mutators));
  if (changes.autostart !== undefined) await setDomainAutostart(ctx.libvirt, name, changes.autostart);
  return { vm: await getVm(ctx, name), atNextStart: vm.state !== 'shut off' && mutators.length > 0 };
}

export interface PendingChange {
  setting: 'memory' | 'cpus' | 'domain' | 'clipboard' | 'template';
  now: string;
  next: string;
}

/** What a running VM gets at its next start: its persistent config against the one it runs with (pure). */
export function pendingChanges(running: VmInfo, persistentXml: string): PendingChange[] {
  const next = readDomain(persistentXml);
  if (!next) return [];
  const pairs: Array<[PendingChange['setting'], string, string]> = [
    ['memory', `${running.memoryMiB} MiB`, `${next.memoryMiB} MiB`],
    ['cpus', String(running.vcpus), String(next.vcpus)],
    ['domain', running.meta.label, next.meta.label],
    ['clipboard', running.clipboard ? 'on' : 'off', next.clipboard ? 'on' : 'off'],
    ['template', running.meta.template ?? '', next.meta.template ?? ''],
  ];
  return pairs.filter(([, now, later]) => now !== later).map(([setting, now, later]) => ({ setting, now, next: later }));
}

/** The changes a running VM has waiting for its next start (none when it is off). */
export async function readPendingChanges(ctx: EngineContext, vm: VmInfo): Promise<PendingChange[]> {
  if (vm.state === 'shut off' || !vm.persistent) return [];
  return pendingChanges(vm, await dumpXml(ctx.libvirt, vm.name, { inactive: true }));
}
