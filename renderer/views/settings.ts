import type { SettingsView } from '../../main/ipc/channels.js';
import { accent, errorText, field, h, setStatus } from '../dom.js';
import { knownDomains, statusLine } from './shared.js';

/** Settings, shared with the `vms` command line (one JSON file). Empty fields go back to the default. */
export async function settingsView(root: HTMLElement): Promise<void> {
  // The settings must open while libvirt is unreachable: the URI is fixed here.
  let templatesProblem: string | undefined;
  const [view, templates] = await Promise.all([window.vms.getSettings(), window.vms.listTemplates().catch((error: unknown) => {
    templatesProblem = `The templates could not be listed (${errorText(error).replace(/\.$/, '')}); check the libvirt URI.`;
    return [];
  })]);
  const { stored, effective } = view;

  const text = (id: string, value: string | undefined, placeholder: string) =>
    h('input', { id, name: id, value: value ?? '', placeholder, spellcheck: 'false', autocomplete: 'off' });
  const number = (id: string, value: number | undefined, placeholder: number, min: number, max: number) =>
    h('input', { id, name: id, type: 'number', min, max, value: value ?? '', placeholder });

  const uri = text('uri', stored.uri, effective.uri);
  const imagesDir = text('imagesDir', stored.imagesDir, effective.imagesDir);
  const defaultTemplate = h('select', { id: 'defaultTemplate', name: 'defaultTemplate' },
    h('option', { value: '' }, templates.length === 1 ? `(the only one: ${templates[0].name})` : '(none)'),
    ...templates.map((t) => h('option', { value: t.name }, t.name)));
  defaultTemplate.value = stored.defaultTemplate ?? '';
  const defaultLabel = text('defaultLabel', stored.defaultLabel, effective.defaultLabel);
  const memory = number('defaultMemoryMiB', stored.defaultMemoryMiB, effective.defaultMemoryMiB, 128, 1048576);
  const vcpus = number('defaultVcpus', stored.defaultVcpus, effective.defaultVcpus, 1, 256);
  const disk = text('defaultDiskSize', stored.defaultDiskSize, effective.defaultDiskSize);
  const pool = number('disposablePoolSize', stored.disposablePoolSize, 1, 0, 8);
  const hotkey = text('hotkey', stored.hotkey, effective.hotkey);
  const autostart = h('input', { type: 'checkbox', id: 'autostart', name: 'autostart' });
  autostart.checked = effective.autostart;

  const colors = knownDomains(view).map((label) => {
    const input = h('input', { type: 'color', id: `color-${label}`, value: effective.labelColors[label] ?? '#6b7280' });
    return { label, input, row: accent(h('label', { class: 'color', for: `color-${label}` }, input, label), effective.labelColors[label]) };
  });

  const status = statusLine();
  if (templatesProblem) setStatus(status, 'info', templatesProblem);
  const save = h('button', { type: 'submit', class: 'primary', id: 'submit' }, 'Save');
  const form = h('form', { class: 'dialog wide', id: 'settings-form', novalidate: true },
    h('header', {}, h('h1', {}, 'Settings'), h('p', { class: 'lede' }, 'Shared with the vms command line. Leave a field empty for its default.')),
    h('div', { class: 'row' }, field('libvirt URI', uri), field('Images folder', imagesDir)),
    h('div', { class: 'row' }, field('Default template', defaultTemplate), field('Default domain', defaultLabel)),
    h('div', { class: 'row' }, field('Memory (MiB)', memory), field('CPUs', vcpus), field('Private disk', disk)),
    h('div', { class: 'field' }, h('span', { class: 'label' }, 'Domain colors'), h('div', { class: 'colors' }, ...colors.map((c) => c.row))),
    field('Preloaded disposables', pool, h('p', { class: 'hint' }, 'Booted and paused in advance, so a new disposable opens at once (0 turns this off).')),
    hotkeyField(hotkey, view),
    loginStartField(autostart, view),
    status,
    h('footer', {}, h('button', { type: 'button', onclick: () => window.close() }, 'Close'), save));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      const orNull = (value: string) => (value.trim() === '' ? null : value.trim());
      const numberOrNull = (input: HTMLInputElement) => (input.value === '' ? null : input.valueAsNumber);
      // Only colors chosen by hand are stored: saving must not freeze the defaults of the others.
      const labelColors: Record<string, string> = {};
      for (const c of colors) {
        if (stored.labelColors?.[c.label] !== undefined || c.input.value.toLowerCase() !== (effective.labelColors[c.label] ?? '').toLowerCase()) labelColors[c.label] = c.input.value;
      }
      save.disabled = true;
      try {
        const saved: SettingsView = await window.vms.setSettings({
          uri: orNull(uri.value),
          imagesDir: orNull(imagesDir.value),
          defaultTemplate: orNull(defaultTemplate.value),
          defaultLabel: orNull(defaultLabel.value),
          defaultMemoryMiB: numberOrNull(memory),
          defaultVcpus: numberOrNull(vcpus),
          defaultDiskSize: orNull(disk.value),
          disposablePoolSize: numberOrNull(pool),
          hotkey: orNull(hotkey.value),
          autostart: autostart.checked,
          labelColors: Object.keys(labelColors).length > 0 ? labelColors : null,
        });
        setStatus(status, 'ok', `Saved. VMs live under ${saved.effective.imagesDir}, on ${saved.effective.uri}.`);
      } catch (error) {
        setStatus(status, 'error', errorText(error));
      } finally {
        save.disabled = false;
      }
    })();
  });
  root.append(form);
}

/** A line to copy into a configuration file, with the file named. */
function configLine(id: string, what: string, line: { file: string; line: string }): HTMLElement {
  return h('div', { class: 'config-line' }, h('p', { class: 'hint' }, `${what} ${line.file}:`), h('pre', { id }, line.line));
}

/**
 * The "New disposable" key: i3, sway and Hyprland bind it themselves (the app's own grab would fight
 * them or, on Wayland, never fire), so there the exact binding is shown; elsewhere Electron's global
 * shortcut, off unless set.
 */
function hotkeyField(hotkey: HTMLInputElement, view: SettingsView): HTMLElement {
  const binding = view.session?.disposableBinding;
  const hint = binding ? 'Your window manager binds keys itself; leave this empty and add the line below.'
    : view.session?.wayland ? 'Empty for none. On Wayland the desktop may accept a shortcut and never deliver it: a custom shortcut in its settings running vms-tray --new-disposable always works.'
      : 'Empty for none; a desktop shortcut running vms-tray --new-disposable works as well.';
  return field('“New disposable” hotkey', hotkey, h('p', { class: 'hint' }, hint), binding ? configLine('binding-line', 'Add to', binding) : null);
}

/** Start at login: the XDG autostart file where the desktop reads it, else the window manager's line. */
function loginStartField(autostart: HTMLInputElement, view: SettingsView): HTMLElement {
  const start = view.session?.loginStart;
  if (start?.kind === 'wm') {
    return h('div', { class: 'field', id: 'login-start' }, h('span', { class: 'label' }, 'Start vms at login'),
      h('p', { class: 'hint' }, `${view.session!.desktop === 'hyprland' ? 'Hyprland' : view.session!.desktop} does not run XDG autostart entries; start vms from its configuration instead.`),
      configLine('login-line', 'Add to', start));
  }
  return h('label', { class: 'check', for: 'autostart', id: 'login-start' }, autostart,
    h('span', {}, h('strong', {}, 'Start vms at login'), ` — writes ${start?.path ?? '~/.config/autostart/vms.desktop'}`));
}
