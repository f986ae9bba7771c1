import { labelProblem } from '../../main/engine/names.js';
import { SIZE_PATTERN } from '../../main/engine/units.js';
import { accent, debounce, errorText, field, h, setStatus } from '../dom.js';
import { domainChoices, nameChecker, statusLine } from './shared.js';

/** The "New VM" dialog: name (checked as you type with the engine's rules), template, domain, resources. */
export async function createView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const [settings, templates] = await Promise.all([window.vms.getSettings(), window.vms.listTemplates()]);
  const defaults = settings.effective;

  const name = h('input', { id: 'name', name: 'name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. work-mail', maxlength: 40, required: true });
  const nameHint = h('p', { class: 'hint', id: 'name-hint' }, 'A letter, then letters, digits, "-" or "_".');
  const checkName = nameChecker(name, nameHint, () => update());

  const template = h('select', { id: 'template', name: 'template' });
  for (const t of templates) template.append(h('option', { value: t.name }, t.name));
  const wanted = params.get('template') ?? defaults.defaultTemplate;
  if (wanted && templates.some((t) => t.name === wanted)) template.value = wanted;
  if (templates.length === 0) template.append(h('option', { value: '' }, 'No templates yet: build or import one'));

  const domain = domainChoices(settings, defaults.defaultLabel, () => update());

  const memory = h('input', { id: 'memory', name: 'memory', type: 'number', min: 128, max: Math.max(128, settings.host.memoryMiB), step: 128, value: defaults.defaultMemoryMiB });
  const cpus = h('input', { id: 'cpus', name: 'cpus', type: 'number', min: 1, max: Math.max(1, settings.host.cpus), step: 1, value: defaults.defaultVcpus });
  const disk = h('input', { id: 'disk', name: 'disk', value: defaults.defaultDiskSize, pattern: SIZE_PATTERN, maxlength: 14, spellcheck: 'false' });
  const standalone = h('input', { id: 'standalone', name: 'standalone', type: 'checkbox' });

  const status = statusLine();
  const submit = h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Create');
  const cancel = h('button', { type: 'button', onclick: () => window.close() }, 'Close');

  const form = h('form', { class: 'dialog', id: 'create-form', novalidate: true },
    h('header', {}, h('h1', {}, 'New VM'), h('p', { class: 'lede' }, 'An app VM follows its template; a standalone VM gets its own copy.')),
    field('Name', name, nameHint),
    field('Template', template),
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Domain'), domain.element, domain.hint),
    h('div', { class: 'row' },
      field('Memory (MiB)', memory),
      field('CPUs', cpus),
      field('Private disk', disk)),
    h('label', { class: 'check', for: 'standalone' }, standalone,
      h('span', {}, h('strong', {}, 'Standalone'), ' — copy the template’s root instead of following its updates')),
    status,
    h('footer', {}, cancel, submit));

  function update(): void {
    submit.disabled = busy || !checkName.ok() || templates.length === 0 || labelProblem(domain.value()) !== undefined;
  }

  let busy = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      if (submit.disabled) return;
      busy = true;
      update();
      setStatus(status, 'info', standalone.checked ? 'Creating (copying the template’s root)…' : 'Creating…');
      try {
        const vm = await window.vms.createVm({
          name: name.value,
          template: template.value,
          label: domain.value(),
          memoryMiB: memory.valueAsNumber,
          vcpus: cpus.valueAsNumber,
          diskSize: disk.value.trim(),
          standalone: standalone.checked,
        });
        setStatus(status, 'ok', `Created ${vm.meta.kind} “${vm.name}” in ${vm.meta.label}.`);
        name.value = '';
        checkName.reset();
      } catch (error) {
        setStatus(status, 'error', errorText(error));
      } finally {
        busy = false;
        update();
      }
    })();
  });

  root.append(accent(form, defaults.labelColors[domain.value()]));
  domain.onChange((label) => accent(form, defaults.labelColors[label] ?? '#6b7280'));
  update();
  name.focus();
  // A re-check now and then catches a VM made meanwhile (from the shell or another window).
  window.vms.onVmsChanged(debounce(() => checkName.recheck(), 200));
}

