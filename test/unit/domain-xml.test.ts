import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildDomainXml, type DomainSpec } from '../../main/engine/xml/domain-build.js';
import { editDomainXml, forgetIdentity, setClipboard, setDiskVolume, setMetadata, setName, setNetwork, setNvramPath } from '../../main/engine/xml/domain-edit.js';
import { parseState, readDomain } from '../../main/engine/xml/domain-read.js';
import { METADATA_NS } from '../../main/engine/xml/metadata.js';
import { find, parseXml } from '../../main/engine/xml/tree.js';

const spec: DomainSpec = {
  name: 'bank',
  uuid: '11111111-2222-3333-4444-555555555555',
  meta: { kind: 'appvm', label: 'personal', template: 'arch', color: '#16a34a', created: '2026-11-25T00:00:00.000Z' },
  memoryMiB: 1536,
  vcpus: 2,
  accel: 'tcg',
  disks: [{ target: 'vda', pool: 'vms', volume: 'bank.root.qcow2' }, { target: 'vdb', pool: 'vms', volume: 'bank.home.a1b2c3.qcow2' }],
  nvramPath: '/images/vms/bank/nvram.fd',
  consoleLogPath: '/images/vms/bank/console.log',
  network: { type: 'user' },
  clipboard: true,
};

test('what the builder writes, the reader reads back', () => {
  const vm = readDomain(buildDomainXml(spec))!;
  assert.equal(vm.name, 'bank');
  assert.equal(vm.uuid, spec.uuid);
  assert.deepEqual(vm.meta, spec.meta);
  assert.equal(vm.memoryMiB, 1536);
  assert.equal(vm.vcpus, 2);
  assert.deepEqual(vm.disks.map((d) => [d.target, d.pool, d.volume]), spec.disks.map((d) => [d.target, d.pool, d.volume]));
  assert.equal(vm.nvramPath, spec.nvramPath);
  assert.equal(vm.clipboard, true);
});

test('the domain has what the product promises: q35, UEFI, SPICE + agent, serial, guest agent, balloon', () => {
  const xml = buildDomainXml(spec);
  const domain = parseXml(xml);
  assert.equal(domain.attrs.type, 'qemu', 'TCG when accel is tcg');
  assert.equal(parseXml(buildDomainXml({ ...spec, accel: 'kvm' })).attrs.type, 'kvm');
  assert.equal(find(domain, 'os')!.attrs.firmware, 'efi');
  assert.match(find(domain, 'os', 'type')!.attrs.machine, /^q35/);
  for (const needle of ["type='spice'", 'com.redhat.spice.0', 'org.qemu.guest_agent.0', "freePageReporting='on'", "type='pty'", "<audio id='1' type='spice'", "bus='virtio'"]) {
    assert.ok(xml.replaceAll('"', "'").includes(needle), needle);
  }
  assert.ok(xml.includes(METADATA_NS));
});

test('a domain without vms metadata is not ours', () => {
  assert.equal(readDomain(`<domain type='kvm'><name>other</name><devices/></domain>`), undefined);
});

test('clone mutators give a new identity and new paths without touching the input', () => {
  const original = buildDomainXml({ ...spec, network: { type: 'network', network: 'vms-personal' } });
  const withMac = original.replace('<source network="vms-personal"/>', '<mac address="52:54:00:aa:bb:cc"/><source network="vms-personal"/>');
  const clone = editDomainXml(withMac,
    setName('bank2', 'work'),
    forgetIdentity,
    setMetadata({ ...spec.meta, label: 'work' }),
    setDiskVolume({ target: 'vdb', pool: 'vms', volume: 'bank2.home.ffffff.qcow2' }),
    setNvramPath('/images/vms/bank2/nvram.fd'));
  const vm = readDomain(clone)!;
  assert.equal(vm.name, 'bank2');
  assert.equal(vm.uuid, '');
  assert.equal(vm.meta.label, 'work');
  assert.ok(!clone.includes('52:54:00:aa:bb:cc'));
  assert.equal(vm.disks.find((d) => d.target === 'vdb')!.volume, 'bank2.home.ffffff.qcow2');
  assert.equal(vm.nvramPath, '/images/vms/bank2/nvram.fd');
  assert.ok(clone.includes('[work] bank2'));
  assert.ok(withMac.includes('52:54:00:aa:bb:cc'), 'input unchanged');
  assert.throws(() => editDomainXml(original, setDiskVolume({ target: 'vdz', pool: 'vms', volume: 'x' })), /no disk vdz/);
});

test('clipboard and network mutators', () => {
  const off = editDomainXml(buildDomainXml(spec), setClipboard(false));
  assert.equal(readDomain(off)!.clipboard, false);
  assert.equal(readDomain(editDomainXml(off, setClipboard(true)))!.clipboard, true);
  const net = editDomainXml(buildDomainXml(spec), setNetwork({ type: 'network', network: 'vms-work', filter: { name: 'vms-fw-bank', parameters: { IP: '10.0.0.2' } } }));
  assert.equal(readDomain(net)!.network, 'vms-work');
  assert.ok(net.includes('vms-fw-bank'));
});

test('virsh state words are understood', () => {
  assert.equal(parseState('shut off'), 'shut off');
  assert.equal(parseState(' running\n'), 'running');
  assert.equal(parseState('something new'), 'unknown');
});
