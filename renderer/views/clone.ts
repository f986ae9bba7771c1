import type { Operation } from '../../main/ipc/channels.js';
import type { VmInfo } from '../../main/engine/types.js';
import { vmColor } from '../../main/tray/menu-model.js';
import { accent, errorText, field, h, progressBar, setStatus } from '../dom.js';
import { nameChecker, statusLine } from './shared.js';

/** The clone dialog: source, new name, linked or full (with progress). */
export async function cloneView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const [settings, all] = await Promise.all([window.vms.getSettings(), window.vms.listVms()]);
  const colors = settings.effective.labelColors;
  let vms: VmInfo[] = all.filter((vm) => vm.meta.kind !== 'disposable');

  const source = h('select', { id: 'source', name: 'source' });
  const fillSources = () => {
    const keep = source.value || params.get('vm') || '';
    source.replaceChildren(...vms.map((vm) => h('option', { value: vm.name, disabled: vm.state !== 'shut off' },
      vm.state === 'shut off' ? `${vm.name}  (${vm.meta.kind}, ${vm.meta.label})` : `${vm.name}  (${vm.state}: shut it down first)`)));
    const preferred = vms.find((vm) => vm.name === keep && vm.state === 'shut off') ?? vms.find((vm) => vm.state === 'shut off');
    if (preferred) source.value = preferred.name;
  };
  fillSources();

  const name = h('input', { id: 'name', name: 'name', autocomplete: 'off', spellcheck: 'false', placeholder: 'name of the copy', maxlength: 40 });
  const nameHint = h('p', { class: 'hint', id: 'name-hint' }, 'A letter, then letters, digits, "-" or "_".');
  const checkName = nameChecker(name, nameHint, () => update());

  const linked = h('input', { type: 'radio', name: 'mode', value: 'linked', id: 'mode-linked' });
  const full = h('input', { type: 'radio', name: 'mode', value: 'full', id: 'mode-full' });
  linked.checked = true;
  const modes = h('div', { class: 'modes', role: 'radiogroup', 'aria-label': 'Kind of copy' },
    h('label', { class: 'mode', for: 'mode-linked' }, linked, h('span', {}, h('strong', {}, 'Linked'), h('small', {}, 'Instant. Shares the unchanged data with the source.'))),
    h('label', { class: 'mode', for: 'mode-full' }, full, h('span', {}, h('strong', {}, 'Full copy'), h('small', {}, 'Independent of the source. Takes a while for big disks.'))));

  const progress = progressBar();
  progress.element.hidden = true;
  progress.element.id = 'clone-progress';
  const status = statusLine();
  const submit = h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Clone');
  const cancel = h('button', { type: 'button', onclick: () => window.close() }, 'Close');

  const form = h('form', { class: 'dialog', id: 'clone-form', novalidate: true },
    h('header', {}, h('h1', {}, 'Clone a VM'), h('p', { class: 'lede' }, 'The source must be shut down while it is copied.')),
    field('Source', source),
    field('New name', name, nameHint),
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Kind of copy'), modes),
    progress.element,
    status,
    h('footer', {}, cancel, submit));

  let busy = false;
  let target: string | undefined;
  const tint = () => {
    const vm = vms.find((v) => v.name === source.value);
    accent(form, vm ? vmColor(vm, colors) : undefined);
  };
  function update(): void {
    submit.disabled = busy || !checkName.ok() || !vms.some((vm) => vm.name === source.value && vm.state === 'shut off');
  }
  source.addEventListener('change', () => { tint(); update(); });

  window.vms.onOperation((op: Operation) => {
    if (op.kind !== 'clone' || op.vm !== target || op.state !== 'running') return;
    progress.set(op.percent);
    if (op.percent !== undefined) setStatus(status, 'info', `Copying… ${Math.floor(op.percent)} %`);
  });
  window.vms.onVmsChanged(async () => {
    vms = (await window.vms.listVms()).filter((vm) => vm.meta.kind !== 'disposable');
    if (!busy) fillSources();
    update();
  });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      if (submit.disabled) return;
      busy = true;
      update();
      target = name.value;
      const isFull = full.checked;
      progress.element.hidden = !isFull;
      progress.set(isFull ? 0 : undefined);
      setStatus(status, 'info', isFull ? 'Copying…' : 'Cloning…');
      try {
        const vm = await window.vms.cloneVm({ source: source.value, name: target, full: isFull });
        progress.set(100);
        setStatus(status, 'ok', `Cloned “${source.value}” to “${vm.name}” (${isFull ? 'full copy' : 'linked'}).`);
        name.value = '';
        checkName.reset();
      } catch (error) {
        progress.element.hidden = true;
        setStatus(status, 'error', errorText(error));
      } finally {
        busy = false;
        update();
      }
    })();
  });

  root.append(form);
  tint();
  update();
  name.focus();
}
