import type { Operation } from '../../main/ipc/channels.js';
import { errorText, field, h, progressBar, setStatus } from '../dom.js';
import { nameChecker, statusLine } from './shared.js';

/** Templates: import an existing disk image, or build an Arch template from scratch (long, with progress). */
export async function templatesView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const importName = h('input', { id: 'import-name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. arch', maxlength: 40 });
  const importHint = h('p', { class: 'hint' }, 'The template’s name.');
  const image = h('input', { id: 'import-image', autocomplete: 'off', spellcheck: 'false', placeholder: '/path/to/disk.qcow2' });
  const choose = h('button', { type: 'button', class: 'small' }, 'Choose…');
  const importStatus = statusLine('import-status');
  const importButton = h('button', { type: 'submit', class: 'primary' }, 'Import');
  const importCheck = nameChecker(importName, importHint, () => { importButton.disabled = !importCheck.ok(); });
  importButton.disabled = true;

  choose.addEventListener('click', async () => {
    try {
      const path = await window.vms.chooseImage();
      if (path) image.value = path;
    } catch (error) {
      setStatus(importStatus, 'error', errorText(error));
    }
  });

  const importForm = h('form', { class: 'dialog', id: 'import-form', novalidate: true },
    h('header', {}, h('h1', {}, 'Import a template'), h('p', { class: 'lede' }, 'A qcow2 or raw disk image that boots with UEFI. It is copied in and kept read-only.')),
    field('Name', importName, importHint),
    h('div', { class: 'field' }, h('label', { for: 'import-image' }, 'Disk image'), h('div', { class: 'inline' }, image, choose)),
    importStatus,
    h('footer', {}, importButton));
  importForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      importButton.disabled = true;
      setStatus(importStatus, 'info', 'Importing (copying the image)…');
      try {
        const vm = await window.vms.importTemplate({ name: importName.value, image: image.value.trim() });
        setStatus(importStatus, 'ok', `Imported the template “${vm.name}”.`);
        importName.value = '';
        image.value = '';
        importCheck.reset();
      } catch (error) {
        setStatus(importStatus, 'error', errorText(error));
      } finally {
        importButton.disabled = !importCheck.ok();
      }
    })();
  });

  const buildName = h('input', { id: 'build-name', autocomplete: 'off', spellcheck: 'false', placeholder: 'e.g. arch', maxlength: 40 });
  const buildHint = h('p', { class: 'hint' }, 'The template’s name.');
  const profile = h('select', { id: 'build-profile' },
    h('option', { value: 'minimal' }, 'Minimal (console, SSH)'),
    h('option', { value: 'gui' }, 'Desktop (X11, i3, SPICE agent, audio)'));
  const buildStatus = statusLine('build-status');
  const progress = progressBar();
  progress.element.hidden = true;
  const buildButton = h('button', { type: 'submit', class: 'primary' }, 'Build');
  const buildCheck = nameChecker(buildName, buildHint, () => { buildButton.disabled = !buildCheck.ok(); });
  buildButton.disabled = true;
  let building: string | undefined;
  window.vms.onOperation((op: Operation) => {
    if (op.kind !== 'template' || op.vm !== building || op.state !== 'running') return;
    progress.set(op.percent);
    if (op.message) setStatus(buildStatus, 'info', op.message);
  });

  const buildForm = h('form', { class: 'dialog', id: 'build-form', novalidate: true },
    h('header', {}, h('h1', {}, 'Build an Arch template'), h('p', { class: 'lede' }, 'Installs Arch with pacstrap; takes several minutes. You can close this window meanwhile.')),
    field('Name', buildName, buildHint),
    field('Profile', profile),
    progress.element,
    buildStatus,
    h('footer', {}, buildButton));
  buildForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void (async () => {
      buildButton.disabled = true;
      building = buildName.value;
      progress.element.hidden = false;
      progress.set(undefined);
      setStatus(buildStatus, 'info', 'Building…');
      try {
        const vm = await window.vms.buildTemplate({ name: building, profile: profile.value === 'gui' ? 'gui' : 'minimal' });
        setStatus(buildStatus, 'ok', `Built and imported the template “${vm.name}”.`);
        buildName.value = '';
        buildCheck.reset();
      } catch (error) {
        setStatus(buildStatus, 'error', errorText(error));
      } finally {
        progress.element.hidden = true;
        buildButton.disabled = !buildCheck.ok();
      }
    })();
  });

  root.append(h('div', { class: 'stack' }, params.get('tab') === 'build' ? buildForm : importForm, params.get('tab') === 'build' ? importForm : buildForm));
}
