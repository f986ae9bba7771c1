import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closest } from '../../main/cli/suggest.js';
import { onlyTemplate } from '../../main/engine/template-choice.js';
import type { VmInfo } from '../../main/engine/types.js';
import { parseVmSettings, pendingChanges, settingMutators } from '../../main/engine/vm-settings.js';
import { buildDomainXml } from '../../main/engine/xml/domain-build.js';
import { editDomainXml } from '../../main/engine/xml/domain-edit.js';
import { readDomain } from '../../main/engine/xml/domain-read.js';

const host = { memoryMiB: 24_105, cpus: 2 };
const baseXml = buildDomainXml({
  name: 'mail', meta: { kind: 'appvm', label: 'personal', template: 'arch' }, memoryMiB: 2048, vcpus: 1, accel: 'tcg',
  disks: [{ target: 'vda', pool: 'vms', volume: 'mail.root.qcow2' }], nvramPath: '/i/mail/nvram.fd', consoleLogPath: '/i/mail/console.log',
  network: { type: 'user' }, clipboard: true,
});

test('vms set: key=value pairs are read and checked in full first', { timeout: 5_000 }, () => {
  assert.deepEqual(parseVmSettings(['memory=4G', 'cpus=2', 'domain=work', 'clipboard=off', 'autostart=on', 'template=arch2'], host),
    { memoryMiB: 4096, vcpus: 2, label: 'work', clipboard: false, autostart: true, template: 'arch2' });
  assert.deepEqual(parseVmSettings(['label=hobby'], host), { label: 'hobby' }, 'label is another name for domain');
  assert.throws(() => parseVmSettings([], host), /Say what to change as key=value/);
  assert.throws(() => parseVmSettings(['memory'], host), /"memory" is not key=value/);
  assert.throws(() => parseVmSettings(['colour=red'], host), /"colour" is not a VM setting/);
  assert.throws(() => parseVmSettings(['memory=2048'], host), /has no unit/);
  assert.throws(() => parseVmSettings(['memory=100G'], host), /more than this computer has/);
  assert.throws(() => parseVmSettings(['cpus=4'], host), /more than this computer has \(2\)/);
  assert.throws(() => parseVmSettings(['domain=Work!'], host), /VmsError|label|domain/i);
  assert.throws(() => parseVmSettings(['cpus=1', 'cpus=2'], host), /given twice/);
});

test('vms set: pure mutators change the XML, and a running VM shows what waits for its next start', { timeout: 5_000 }, () => {
  const meta = readDomain(baseXml)!.meta;
  const changed = editDomainXml(baseXml, ...settingMutators('mail', meta, { memoryMiB: 4096, vcpus: 2, label: 'work', clipboard: false, template: 'arch2' }, '#2563eb'));
  const after = readDomain(changed)!;
  assert.equal(after.memoryMiB, 4096);
  assert.equal(after.vcpus, 2);
  assert.equal(after.meta.label, 'work');
  assert.equal(after.meta.color, '#2563eb');
  assert.equal(after.meta.template, 'arch2');
  assert.equal(after.clipboard, false);
  assert.match(changed, /<title>\[work\] mail<\/title>/);
  const running = { ...readDomain(baseXml)!, state: 'running', persistent: true } as VmInfo;
  assert.deepEqual(pendingChanges(running, changed).map((p) => `${p.setting}:${p.now}->${p.next}`),
    ['memory:2048 MiB->4096 MiB', 'cpus:1->2', 'domain:personal->work', 'clipboard:on->off', 'template:arch->arch2']);
  assert.deepEqual(pendingChanges(running, baseXml), []);
});

test('the only template is the default; several need a choice that names the setting', { timeout: 5_000 }, () => {
  assert.equal(onlyTemplate(['arch']), 'arch');
  assert.throws(() => onlyTemplate([]), /There is no template yet: build one \(vms template build arch\)/);
  assert.throws(() => onlyTemplate(['a', 'b']), /--template a\|b, or set a default once: vms config set default-template a\./);
  assert.equal(closest('mial', ['mail', 'work']), 'mail');
  assert.equal(closest('zzz', ['mail', 'work']), undefined);
});
