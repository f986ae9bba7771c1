import type { Operation, SettingsView } from '../../main/ipc/channels.js';
import type { VmInfo } from '../../main/engine/types.js';
import { groupVms, stateText, vmColor } from '../../main/tray/menu-model.js';
import { accent, clear, debounce, errorText, h, progressBar, setStatus } from '../dom.js';
import { statusLine } from './shared.js';

/** Shown when the app opened its window because no tray host came (main/tray/tray-host.ts). */
const NO_TRAY_NOTICE = 'No system tray was found, so vms opened this window. On Wayland the tray icon needs a StatusNotifierItem host: '
  + 'waybar with its "tray" module, KDE, or GNOME\'s AppIndicator extension. If one starts while this window is open, the icon appears there; '
  + 'otherwise closing this window quits vms.';

/** The main window: every VM by domain, with a few actions, and the progress of long operations. */
export async function mainView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  let settings: SettingsView = await window.vms.getSettings();
  const list = h('section', { class: 'groups', id: 'vm-list', 'aria-label': 'VMs' });
  const activity = h('section', { class: 'activity', id: 'activity', 'aria-label': 'Activity' });
  const status = statusLine();
  const operations = new Map<number, Operation>();

  const run = (what: Promise<unknown>) => {
    setStatus(status, 'none');
    what.catch((error) => setStatus(status, 'error', errorText(error)));
  };
  const button = (label: string, onclick: () => void, primary = false) =>
    h('button', { type: 'button', class: primary ? 'small primary' : 'small', onclick: () => onclick() }, label);

  const row = (vm: VmInfo, busy: string | undefined) => {
    const actions = h('div', { class: 'actions' });
    const on = vm.state === 'running' || vm.state === 'paused';
    if (!busy) {
      if (on) actions.append(button('Open', () => run(window.vms.openViewer(vm.name)), true));
      if (vm.state === 'shut off' && vm.meta.kind !== 'disposable') actions.append(button('Start', () => run(window.vms.vmAction({ action: 'start', name: vm.name }))));
      if (on) actions.append(button(vm.meta.kind === 'disposable' ? 'Discard' : 'Shut down', () => run(window.vms.vmAction({ action: 'stop', name: vm.name }))));
      if (vm.state === 'shut off') actions.append(button('Clone…', () => run(window.vms.openWindow({ view: 'clone', vm: vm.name }))));
    }
    const detail = vm.meta.kind === 'template' ? `template · v${vm.meta.imageVersion ?? 1}${vm.meta.updating ? ' (updating)' : ''}`
      : `${vm.meta.kind}${vm.meta.template ? ` · from ${vm.meta.template}` : ''} · ${vm.memoryMiB} MiB · ${vm.vcpus} CPU${vm.vcpus === 1 ? '' : 's'}`;
    return accent(h('li', { class: 'vm', 'data-vm': vm.name, 'data-state': vm.state },
      h('span', { class: 'dot', 'aria-hidden': 'true' }),
      h('div', { class: 'who' }, h('span', { class: 'name' }, vm.name), h('span', { class: 'detail' }, detail)),
      h('span', { class: `state ${vm.state.replace(' ', '-')}` }, busy ? `${busy}…` : stateText(vm.state)),
      actions), vmColor(vm, settings.effective.labelColors));
  };

  const renderList = async () => {
    let vms: VmInfo[];
    try {
      vms = await window.vms.listVms();
    } catch (error) {
      clear(list);
      list.append(h('p', { class: 'status error' }, errorText(error)));
      return;
    }
    const busy: Record<string, string> = {};
    for (const op of operations.values()) if (op.state === 'running') busy[op.vm] = op.verb;
    clear(list);
    const groups = groupVms(vms, settings.effective.labelColors);
    if (groups.length === 0) list.append(h('p', { class: 'empty' }, 'No VMs yet. Build or import a template, then create a VM from it.'));
    for (const group of groups) {
      list.append(accent(h('div', { class: 'group' },
        h('h2', {}, h('span', { class: 'bar', 'aria-hidden': 'true' }), group.title),
        h('ul', {}, ...group.vms.map((vm) => row(vm, busy[vm.name])))), group.color ?? '#6b7280'));
    }
  };

  const renderActivity = () => {
    clear(activity);
    const recent = [...operations.values()].sort((a, b) => b.startedAt - a.startedAt).slice(0, 6);
    if (recent.length === 0) return;
    activity.append(h('h2', {}, 'Activity'));
    for (const op of recent) {
      const bar = progressBar();
      bar.set(op.state === 'running' ? op.percent : 100);
      activity.append(h('div', { class: `operation ${op.state}`, 'data-operation': op.id },
        h('div', { class: 'title' }, h('span', {}, op.title), h('span', { class: 'percent' },
          op.state === 'running' ? (op.percent !== undefined ? `${Math.floor(op.percent)} %` : '') : op.state === 'done' ? 'done' : 'failed')),
        op.state === 'running' ? bar.element : null,
        op.message ? h('p', { class: 'message' }, op.message) : null));
    }
  };

  const header = h('header', { class: 'top' },
    h('h1', {}, 'vms'),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', id: 'new-vm', onclick: () => run(window.vms.openWindow({ view: 'create' })) }, 'New VM…'),
      h('button', { type: 'button', id: 'new-disposable', onclick: () => run(window.vms.vmAction({ action: 'disposable' })) }, 'New disposable'),
      h('button', { type: 'button', id: 'templates', onclick: () => run(window.vms.openWindow({ view: 'templates' })) }, 'Templates'),
      h('button', { type: 'button', id: 'settings', onclick: () => run(window.vms.openWindow({ view: 'settings' })) }, 'Settings')));

  const notice = params.get('notice') === 'no-tray' ? h('p', { class: 'status info', id: 'notice', role: 'status' }, NO_TRAY_NOTICE) : null;
  root.append(h('div', { class: 'window' }, header, notice, status, list, activity));

  for (const op of await window.vms.listOperations()) operations.set(op.id, op);
  const refresh = debounce(() => void renderList(), 80);
  window.vms.onVmsChanged(refresh);
  window.vms.onOperation((op) => {
    const before = operations.get(op.id);
    operations.set(op.id, op);
    renderActivity();
    if (!before || before.state !== op.state) refresh();
  });
  window.addEventListener('focus', async () => {
    settings = await window.vms.getSettings();
    refresh();
  });
  renderActivity();
  await renderList();
}
