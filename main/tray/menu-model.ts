import { isOn, type VmInfo, type VmState } from '../engine/types.js';
import type { UsbDeviceUse } from '../engine/usb.js';
import { devicesSubmenu, type UsbActionId } from './devices-menu.js';

/**
 * The tray menu as plain data, built by one pure function from the engine's state. The Electron edge
 * (main/app/tray.ts) only turns it into a Menu; everything about what is shown lives and is tested here.
 */

/** Actions that concern one VM; `vm` names it. */
export type VmActionId = 'view' | 'console' | 'clipboard-copy' | 'clipboard-paste' | 'start' | 'start-view' | 'stop' | 'kill' | 'restart' | 'clone'
  | 'delete' | 'discard' | 'kill-discard';
/** Actions of the app itself. */
export type AppActionId = 'open' | 'new-vm' | 'new-disposable' | 'build-template' | 'import-template' | 'settings' | 'retry' | 'quit';

export interface Confirmation {
  message: string;
  detail: string;
  /** The label of the button that goes ahead. */
  button: string;
}

export type MenuAction =
  | { id: VmActionId; vm: string; confirm?: Confirmation }
  | { id: AppActionId; template?: string }
  | { id: UsbActionId; vm: string; device: string };

export type MenuEntry =
  | { type: 'item'; label: string; enabled: boolean; action?: MenuAction; color?: string }
  | { type: 'submenu'; label: string; enabled: boolean; color?: string; items: MenuEntry[] }
  | { type: 'header'; label: string; color?: string }
  | { type: 'separator' };

export interface MenuInput {
  /** Every VM as the engine lists them; undefined while the first list is still loading. */
  vms: VmInfo[] | undefined;
  /** The domain colors (the engine config's resolved `labelColors`). */
  labelColors: Record<string, string>;
  /** The template "New disposable" uses; undefined when there is none to use. */
  disposableTemplate?: string;
  /** VMs with an operation under way, and what it is: `{ mail: 'cloning' }`. */
  busy?: Record<string, string>;
  /** A problem to show at the top, such as libvirt being unreachable. */
  error?: string;
  /** The host's USB devices and who holds them; undefined hides the Devices submenu (libvirt on another host). */
  usb?: UsbDeviceUse[];
}

/** The domains that come first, in this order; others follow alphabetically, templates last. */
export const FIRST_DOMAINS = ['work', 'personal', 'hobby', 'disposable'] as const;
export const TEMPLATES_GROUP = 'templates';
/** What the menu shows instead of the VMs while libvirt cannot be reached. */
export const UNREACHABLE = 'libvirt unreachable (retrying by itself)';
/** The color of a VM whose domain has none. */
export const NEUTRAL_COLOR = '#6b7280';

const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export interface VmGroup {
  /** The domain label, or `templates`. */
  key: string;
  title: string;
  color?: string;
  vms: VmInfo[];
}

/** The VMs the user sees (preloaded disposables stay hidden), grouped by domain in menu order. Pure. */
export function groupVms(vms: readonly VmInfo[], labelColors: Record<string, string> = {}): VmGroup[] {
  const groups = new Map<string, VmInfo[]>();
  for (const vm of vms) {
    if (vm.meta.preloaded) continue;
    const key = vm.meta.kind === 'template' ? TEMPLATES_GROUP : vm.meta.label;
    groups.set(key, [...(groups.get(key) ?? []), vm]);
  }
  const rank = (key: string) => {
    if (key === TEMPLATES_GROUP) return FIRST_DOMAINS.length + 1;
    const first = (FIRST_DOMAINS as readonly string[]).indexOf(key);
    return first >= 0 ? first : FIRST_DOMAINS.length;
  };
  return [...groups.keys()]
    .sort((a, b) => rank(a) - rank(b) || byName(a, b))
    .map((key) => ({
      key,
      title: key === TEMPLATES_GROUP ? 'Templates' : key.charAt(0).toUpperCase() + key.slice(1),
      color: key === TEMPLATES_GROUP ? undefined : labelColors[key],
      vms: groups.get(key)!.sort((a, b) => byName(a.name, b.name)),
    }));
}

/** How a state reads in the menu. Pure. */
export function stateText(state: VmState): string {
  return state === 'pmsuspended' ? 'suspended' : state;
}

export function vmColor(vm: VmInfo, labelColors: Record<string, string>): string {
  return vm.meta.color ?? labelColors[vm.meta.label] ?? NEUTRAL_COLOR;
}

const item = (label: string, action: MenuAction | undefined, enabled = true): MenuEntry => ({ type: 'item', label, enabled, ...(action ? { action } : {}) });
const separator: MenuEntry = { type: 'separator' };

/** The actions of one VM, those that make sense for its kind and state. Pure. */
export function vmActions(vm: VmInfo, busy?: string): MenuEntry[] {
  const name = vm.name;
  const on = isOn(vm);
  const disposable = vm.meta.kind === 'disposable';
  const entries: MenuEntry[] = [];
  const act = (label: string, id: VmActionId, extra: { confirm?: Confirmation; enabled?: boolean } = {}) => {
    entries.push(item(label, { id, vm: name, ...(extra.confirm ? { confirm: extra.confirm } : {}) }, extra.enabled ?? !busy));
  };

  if (busy) entries.push(item(`${busy.charAt(0).toUpperCase()}${busy.slice(1)}…`, undefined, false));
  if (on) {
    act('Open viewer', 'view', { enabled: true });
    act('Console', 'console', { enabled: true });
    // The controlled clipboard (docs/clipboard.md), for those who do not bind Ctrl+Shift+C/V.
    if (vm.state === 'running' && vm.meta.kind !== 'template') {
      act('Copy its clipboard to vms', 'clipboard-copy', { enabled: true });
      act('Paste the vms clipboard into it', 'clipboard-paste', { enabled: true });
    }
    entries.push(separator);
  }
  switch (vm.state) {
    case 'shut off':
      if (vm.meta.kind !== 'template') act('Start and open viewer', 'start-view');
      act('Start', 'start');
      break;
    case 'paused':
      act('Resume', 'start');
      break;
    default:
      break;
  }
  if (disposable) {
    if (on || vm.state === 'in shutdown') act('Shut down and discard', 'discard');
    if (vm.state !== 'shut off') act('Force off and discard', 'kill-discard');
    return entries;
  }
  if (on) act('Shut down', 'stop');
  if (vm.state !== 'shut off') act('Force off', 'kill');
  if (vm.state === 'running') act('Restart', 'restart');
  entries.push(separator);
  if (vm.state === 'shut off') act('Clone…', 'clone');
  else entries.push(item('Clone… (shut it down first)', undefined, false));
  act('Delete…', 'delete', {
    confirm: {
      message: vm.meta.kind === 'template' ? `Delete the template "${name}"?` : `Delete "${name}"?`,
      detail: on
        ? `"${name}" is ${vm.state}: it is forced off, and its disks and settings are removed. This cannot be undone.`
        : `Its disks and settings are removed. This cannot be undone.`,
      button: 'Delete',
    },
  });
  return entries;
}

/** The label of a VM's submenu: its name and state (and what is under way). Pure. */
export function vmLabel(vm: VmInfo, busy?: string): string {
  return `${vm.name} — ${busy ? `${busy}…` : stateText(vm.state)}`;
}

/** The whole tray menu. Pure. */
export function buildMenuModel(input: MenuInput): MenuEntry[] {
  const entries: MenuEntry[] = [item('Open vms', { id: 'open' })];
  if (input.error) entries.push(item(input.error, undefined, false), item('Retry now', { id: 'retry' }));
  entries.push(separator);

  if (input.vms === undefined) {
    entries.push(item(input.error ? UNREACHABLE : 'Loading…', undefined, false), separator);
  } else {
    const groups = groupVms(input.vms, input.labelColors);
    if (groups.length === 0) entries.push(item('No VMs yet', undefined, false));
    for (const group of groups) {
      entries.push({ type: 'header', label: group.title, ...(group.color ? { color: group.color } : {}) });
      for (const vm of group.vms) {
        const busy = input.busy?.[vm.name];
        const actions = vmActions(vm, busy);
        if (vm.meta.kind === 'template') actions.splice(actions.length - 2, 0, item('New VM from this template…', { id: 'new-vm', template: vm.name }, !busy));
        entries.push({ type: 'submenu', label: vmLabel(vm, busy), enabled: true, color: vmColor(vm, input.labelColors), items: actions });
      }
    }
    entries.push(separator);
    const devices = devicesSubmenu(input.usb, input.vms);
    if (devices) entries.push(devices, separator);
  }

  entries.push(
    item('New VM…', { id: 'new-vm' }),
    input.disposableTemplate
      ? item(`New disposable (${input.disposableTemplate})`, { id: 'new-disposable' })
      : item('New disposable (choose a default template in Settings)', undefined, false),
    {
      type: 'submenu', label: 'Templates', enabled: true, items: [
        item('Build template…', { id: 'build-template' }),
        item('Import template…', { id: 'import-template' }),
      ],
    },
    item('Settings…', { id: 'settings' }),
    separator,
    item('Quit', { id: 'quit' }),
  );
  return entries;
}

/** The template "New disposable" starts from: the default one if it exists, else the only template. Pure. */
export function disposableTemplate(vms: readonly VmInfo[] | undefined, defaultTemplate: string | undefined): string | undefined {
  const templates = (vms ?? []).filter((vm) => vm.meta.kind === 'template').map((vm) => vm.name);
  if (defaultTemplate && (vms === undefined || templates.includes(defaultTemplate))) return defaultTemplate;
  return templates.length === 1 ? templates[0] : undefined;
}
