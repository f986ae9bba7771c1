/**
 * The renderer's entry: one page, several views (`index.html?view=create`), each window showing one.
 * It talks to the main process only through `window.vms`, which the preload provides.
 */
import { errorText, h } from './dom.js';
import { askView } from './views/ask.js';
import { cloneView } from './views/clone.js';
import { createView } from './views/create.js';
import { mainView } from './views/main.js';
import { settingsView } from './views/settings.js';
import { templatesView } from './views/templates.js';

const VIEWS: Record<string, { title: string; show: (root: HTMLElement, params: URLSearchParams) => Promise<void> }> = {
  main: { title: 'vms', show: mainView },
  create: { title: 'New VM — vms', show: createView },
  clone: { title: 'Clone a VM — vms', show: cloneView },
  settings: { title: 'Settings — vms', show: (root) => settingsView(root) },
  templates: { title: 'Templates — vms', show: templatesView },
  ask: { title: 'Allow a call? — vms', show: askView },
};

async function start(): Promise<void> {
  const root = document.getElementById('app')!;
  const params = new URLSearchParams(location.search);
  const name = params.get('view') ?? 'main';
  const view = VIEWS[name] ?? VIEWS.main;
  document.title = view.title;
  document.body.dataset.view = name in VIEWS ? name : 'main';
  try {
    await view.show(root, params);
  } catch (error) {
    root.append(h('p', { class: 'status error', role: 'alert' }, errorText(error)));
  }
  document.body.dataset.ready = 'true';
}

void start();
