import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VmInfo, VmKind, VmState } from '../../main/engine/types.js';
import { buildMenuModel, disposableTemplate, groupVms, UNREACHABLE, vmActions, type MenuEntry } from '../../main/tray/menu-model.js';

const COLORS = { work: '#2563eb', personal: '#16a34a', hobby: '#d97706', disposable: '#dc2626' };

function vm(name: string, label: string, kind: VmKind = 'appvm', state: VmState = 'shut off', extra: Partial<VmInfo['meta']> = {}): VmInfo {
  return {
    name, uuid: `uuid-${name}`, state, persistent: kind !== 'disposable', memoryMiB: 1024, vcpus: 1, disks: [], clipboard: true,
    meta: { kind, label, ...(kind === 'template' ? { imageVersion: 1 } : { template: 'arch' }), ...extra },
  };
}

/** The labels of an entry list, with submenus as `label > [...]`, for readable assertions. */
function labels(entries: MenuEntry[]): string[] {
  return entries.map((e) => (e.type === 'separator' ? '---' : e.label));
}

function submenu(entries: MenuEntry[], prefix: string): Extract<MenuEntry, { type: 'submenu' }> {
  const found = entries.find((e) => e.type === 'submenu' && e.label.startsWith(prefix));
  assert.ok(found && found.type === 'submenu', `no submenu starting with ${prefix}`);
  return found;
}

function actionIds(entries: MenuEntry[]): string[] {
  return entries.flatMap((e) => (e.type === 'item' && e.action && e.enabled ? [e.action.id] : []));
}

describe('groupVms', () => {
  it('orders work, personal, hobby, disposable, then other domains alphabetically, templates last', () => {
    const groups = groupVms([
      vm('t1', 'template', 'template'), vm('z', 'zeta'), vm('b', 'banking'), vm('d1', 'disposable', 'disposable', 'running'),
      vm('h', 'hobby'), vm('p', 'personal'), vm('w', 'work'),
    ], COLORS);
    assert.deepEqual(groups.map((g) => g.key), ['work', 'personal', 'hobby', 'disposable', 'banking', 'zeta', 'templates']);
    assert.deepEqual(groups.map((g) => g.title), ['Work', 'Personal', 'Hobby', 'Disposable', 'Banking', 'Zeta', 'Templates']);
    assert.equal(groups[0].color, '#2563eb');
    assert.equal(groups.at(-1)!.color, undefined);
  });

  it('puts templates in their own group whatever their label, and sorts names naturally', () => {
    const groups = groupVms([vm('mail10', 'work'), vm('arch', 'work', 'template'), vm('mail2', 'work'), vm('Alpha', 'work')]);
    assert.deepEqual(groups.map((g) => [g.key, g.vms.map((v) => v.name)]), [['work', ['Alpha', 'mail2', 'mail10']], ['templates', ['arch']]]);
  });

  it('hides preloaded disposables', () => {
    const groups = groupVms([vm('disp1', 'disposable', 'disposable', 'paused', { preloaded: true }), vm('disp2', 'disposable', 'disposable', 'running')]);
    assert.deepEqual(groups.flatMap((g) => g.vms.map((v) => v.name)), ['disp2']);
  });
});

describe('vmActions', () => {
  it('offers start (and start with viewer) for a shut-off appvm, with clone and delete', () => {
    assert.deepEqual(actionIds(vmActions(vm('a', 'work'))), ['start-view', 'start', 'clone', 'delete']);
  });

  it('offers viewer, console, shut down, force off and restart for a running appvm; clone waits', () => {
    const entries = vmActions(vm('a', 'work', 'appvm', 'running'));
    assert.deepEqual(actionIds(entries), ['view', 'console', 'clipboard-copy', 'clipboard-paste', 'stop', 'kill', 'restart', 'delete']);
    const clone = entries.find((e) => e.type === 'item' && e.label.startsWith('Clone'));
    assert.ok(clone && clone.type === 'item' && !clone.enabled && clone.label.includes('shut it down first'));
  });

  it('offers resume instead of start for a paused VM, and no restart', () => {
    const entries = vmActions(vm('a', 'work', 'appvm', 'paused'));
    assert.deepEqual(actionIds(entries), ['view', 'console', 'start', 'stop', 'kill', 'delete']);
    assert.ok(labels(entries).includes('Resume'));
  });

  it('offers only force off and delete for a crashed VM', () => {
    assert.deepEqual(actionIds(vmActions(vm('a', 'work', 'appvm', 'crashed'))), ['kill', 'delete']);
  });

  it('offers "Shut down and discard" for a disposable, and neither restart, clone nor delete', () => {
    const entries = vmActions(vm('disp1', 'disposable', 'disposable', 'running'));
    assert.deepEqual(actionIds(entries), ['view', 'console', 'clipboard-copy', 'clipboard-paste', 'discard', 'kill-discard']);
    assert.ok(labels(entries).includes('Shut down and discard'));
  });

  it('asks for a confirmation before deleting', () => {
    const remove = vmActions(vm('mail', 'work', 'appvm', 'running')).find((e) => e.type === 'item' && e.action?.id === 'delete');
    assert.ok(remove && remove.type === 'item' && remove.action && 'confirm' in remove.action && remove.action.confirm);
    assert.equal(remove.action.confirm.message, 'Delete "mail"?');
    assert.match(remove.action.confirm.detail, /is running: it is forced off/);
    assert.equal(remove.action.confirm.button, 'Delete');
  });

  it('disables everything but the viewer, console and clipboard while an operation runs', () => {
    const entries = vmActions(vm('a', 'work', 'appvm', 'running'), 'shutting down');
    assert.deepEqual(actionIds(entries), ['view', 'console', 'clipboard-copy', 'clipboard-paste']);
    assert.equal(labels(entries)[0], 'Shutting down…');
    assert.deepEqual(actionIds(vmActions(vm('a', 'work'), 'cloning')), []);
  });

  it('carries the VM name in every action', () => {
    for (const entry of vmActions(vm('mail', 'work', 'appvm', 'running'))) {
      if (entry.type === 'item' && entry.action) assert.equal((entry.action as { vm: string }).vm, 'mail');
    }
  });
});

describe('buildMenuModel', () => {
  const vms = [
    vm('arch', 'template', 'template'), vm('mail', 'work', 'appvm', 'running'), vm('photos', 'personal'),
    vm('disp7', 'disposable', 'disposable', 'running'), vm('disp8', 'disposable', 'disposable', 'paused', { preloaded: true }),
    vm('games', 'hobby', 'standalone', 'crashed'),
  ];

  it('lays out Open, the groups with headers, then the app actions and Quit', () => {
    const model = buildMenuModel({ vms, labelColors: COLORS, disposableTemplate: 'arch' });
    assert.deepEqual(labels(model), [
      'Open vms', '---',
      'Work', 'mail — running',
      'Personal', 'photos — shut off',
      'Hobby', 'games — crashed',
      'Disposable', 'disp7 — running',
      'Templates', 'arch — shut off',
      '---', 'New VM…', 'New disposable (arch)', 'Templates', 'Settings…', '---', 'Quit',
    ]);
    assert.equal(model[0].type === 'item' && model[0].action?.id, 'open');
  });

  it('gives each VM its domain color (its own color first, then the domain’s, then gray)', () => {
    const model = buildMenuModel({ vms: [vm('a', 'work'), vm('b', 'work', 'appvm', 'shut off', { color: '#123456' }), vm('c', 'nocolor')], labelColors: COLORS });
    assert.equal(submenu(model, 'a —').color, '#2563eb');
    assert.equal(submenu(model, 'b —').color, '#123456');
    assert.equal(submenu(model, 'c —').color, '#6b7280');
    const header = model.find((e) => e.type === 'header' && e.label === 'Work');
    assert.ok(header && header.type === 'header' && header.color === '#2563eb');
  });

  it('offers template builds and imports, and new VMs from a template', () => {
    const model = buildMenuModel({ vms, labelColors: COLORS });
    const templates = model.filter((e) => e.type === 'submenu' && e.label === 'Templates');
    assert.equal(templates.length, 1);
    assert.deepEqual(actionIds((templates[0] as Extract<MenuEntry, { type: 'submenu' }>).items), ['build-template', 'import-template']);
    const arch = submenu(model, 'arch —');
    const fromTemplate = arch.items.find((e) => e.type === 'item' && e.action?.id === 'new-vm');
    assert.ok(fromTemplate && fromTemplate.type === 'item' && fromTemplate.action && 'template' in fromTemplate.action && fromTemplate.action.template === 'arch');
  });

  it('disables "New disposable" when there is no template to use', () => {
    const model = buildMenuModel({ vms: [], labelColors: COLORS });
    const item = model.find((e) => e.type === 'item' && e.label.startsWith('New disposable'));
    assert.ok(item && item.type === 'item' && !item.enabled && item.label.includes('Settings'));
    assert.ok(labels(model).includes('No VMs yet'));
  });

  it('shows loading, errors and busy VMs', () => {
    assert.ok(labels(buildMenuModel({ vms: undefined, labelColors: COLORS })).includes('Loading…'));
    const failing = buildMenuModel({ vms: [], labelColors: COLORS, error: 'Cannot reach libvirt at qemu:///system: start it.' });
    assert.equal(labels(failing)[1], 'Cannot reach libvirt at qemu:///system: start it.');
    assert.deepEqual(actionIds(failing).slice(0, 2), ['open', 'retry']);
    // Never read at all: no eternal "Loading…", but what is going on.
    const neverRead = labels(buildMenuModel({ vms: undefined, labelColors: COLORS, error: 'Lost libvirt.' }));
    assert.ok(neverRead.includes(UNREACHABLE) && !neverRead.includes('Loading…'));
    const busy = buildMenuModel({ vms, labelColors: COLORS, busy: { photos: 'cloning' } });
    assert.ok(labels(busy).includes('photos — cloning…'));
  });

  it('is plain data (survives JSON)', () => {
    const model = buildMenuModel({ vms, labelColors: COLORS, disposableTemplate: 'arch', busy: { mail: 'restarting' } });
    assert.deepEqual(JSON.parse(JSON.stringify(model)), model);
  });
});

describe('disposableTemplate', () => {
  it('uses the default template when it exists, else the only one', () => {
    const vms = [vm('arch', 'template', 'template'), vm('debian', 'template', 'template')];
    assert.equal(disposableTemplate(vms, 'debian'), 'debian');
    assert.equal(disposableTemplate(vms, 'gone'), undefined);
    assert.equal(disposableTemplate(vms, undefined), undefined);
    assert.equal(disposableTemplate([vms[0]], 'gone'), 'arch');
  });
});
