import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { execa } from 'execa';
import { chooseAccel, kvmVerdict, probeKvm } from '../../main/engine/accel.js';
import { cachedKvmVerdict } from '../../main/engine/accel-cache.js';
import { buildDomainXml } from '../../main/engine/xml/domain-build.js';
import { editDomainXml } from '../../main/engine/xml/domain-edit.js';
import { accelOf, hostnameOf, setAccel, setHostname } from '../../main/engine/xml/domain-settings.js';
import { parseXml } from '../../main/engine/xml/tree.js';

const xml = buildDomainXml({
  name: 'mail', meta: { kind: 'appvm', label: 'work', template: 'arch' }, memoryMiB: 1024, vcpus: 1, accel: 'kvm',
  disks: [{ target: 'vda', pool: 'vms', volume: 'mail.root.qcow2' }], nvramPath: '/i/mail/nvram.fd', consoleLogPath: '/i/mail/console.log',
  network: { type: 'user' }, clipboard: true,
});

test('acceleration: VMS_ACCEL, then the setting, then the probe', { timeout: 5_000 }, async () => {
  const never = () => Promise.reject(new Error('must not probe'));
  assert.deepEqual(await chooseAccel({ env: 'tcg', setting: 'kvm' }, never), { accel: 'tcg', reason: 'VMS_ACCEL' });
  assert.deepEqual(await chooseAccel({ setting: 'kvm' }, never), { accel: 'kvm', reason: 'the accel setting' });
  await assert.rejects(chooseAccel({ env: 'xen' }, never), /VMS_ACCEL=xen is not understood: use kvm or tcg/);
  assert.deepEqual(await chooseAccel({}, async () => ({ works: false, detail: 'boom' })), { accel: 'tcg', reason: 'probe: boom' });
});

test('the KVM probe tells a KVM that cannot run guests (this host) and caches the verdict', { timeout: 20_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vms-accel-'));
  const env = { VMS_CACHE_DIR: dir };
  try {
    if (!existsSync('/dev/kvm')) {
      // Machines of this kind come with or without /dev/kvm: without it, TCG at once, nothing probed or cached.
      assert.deepEqual(await kvmVerdict(env), { works: false, detail: 'this computer has no /dev/kvm' });
      assert.equal(cachedKvmVerdict(env), undefined);
      return;
    }
    const started = performance.now();
    const probe = await probeKvm();
    const ms = performance.now() - started;
    // With /dev/kvm: it opens, but QEMU asserts at the first guest instruction (see the libvirt notes).
    assert.equal(probe.works, false, probe.detail);
    assert.match(probe.detail, /Assertion|failed|KVM|kvm/);
    assert.ok(ms < 3000, `probe took ${ms} ms`);
    assert.equal(cachedKvmVerdict(env), undefined);
    assert.equal((await kvmVerdict(env)).works, false);
    assert.equal(cachedKvmVerdict(env), false, 'cached for config and the next start');
    await writeFile(join(dir, 'kvm-probe.json'), '{"key":"stale","probe":{"works":true,"detail":"old"}}');
    assert.equal((await kvmVerdict(env)).works, false, 'a cache for another kernel, QEMU or /dev/kvm is probed again');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('every domain carries its name as hostname over SMBIOS, and the XML stays valid', { timeout: 20_000 }, async () => {
  const domain = parseXml(xml);
  assert.equal(hostnameOf(domain), 'mail');
  assert.match(xml, /<smbios mode="sysinfo"\/?>/);
  assert.match(xml, /<entry>io\.systemd\.credential:system\.hostname=mail<\/entry>/);
  // A clone renames: one entry, the new name; other OEM strings stay.
  const withOther = xml.replace('<oemStrings>', '<oemStrings><entry>other=1</entry>');
  const renamed = editDomainXml(withOther, setHostname('mail2'), setAccel('tcg'));
  assert.equal(hostnameOf(parseXml(renamed)), 'mail2');
  assert.equal((renamed.match(/system\.hostname=/g) ?? []).length, 1);
  assert.match(renamed, /<entry>other=1<\/entry>/);
  assert.equal((renamed.match(/<smbios /g) ?? []).length, 1);
  assert.equal(accelOf(parseXml(renamed)), 'tcg');
  assert.match(renamed, /<domain type="qemu"/);
  assert.match(renamed, /<cpu mode="maximum" check="none"/);
  assert.equal(editDomainXml(renamed, setAccel('tcg'), setHostname('mail2')), editDomainXml(renamed), 'applying again changes nothing');
  const dir = await mkdtemp(join(tmpdir(), 'vms-xml-'));
  try {
    for (const [file, text] of [['new.xml', xml], ['changed.xml', renamed]]) {
      await writeFile(join(dir, file), text);
      const result = await execa('virt-xml-validate', [join(dir, file), 'domain'], { reject: false, env: { LC_ALL: 'C' } });
      assert.equal(result.exitCode, 0, `${file}: ${result.stderr}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
