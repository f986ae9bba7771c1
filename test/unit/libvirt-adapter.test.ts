import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLocalUri, quoteVirshWord } from '../../main/engine/libvirt/connection.js';
import { classifyLibvirtError, libvirtError } from '../../main/engine/libvirt/errors.js';
import { parseDhcpLeases } from '../../main/engine/libvirt/networks.js';
import { parseVolumeList } from '../../main/engine/libvirt/storage.js';
import { neededVolumes } from '../../main/engine/storage/garbage.js';
import { ownerOfVolume, StorageLayout, templateVersionOf } from '../../main/engine/storage/layout.js';
import { buildVolumeXml, poolAvailableOf, readVolumeXml, type VolumeInfo } from '../../main/engine/xml/storage-xml.js';

test('virsh words are quoted for its own parser only where needed', () => {
  assert.equal(quoteVirshWord('vms-work.root.qcow2'), 'vms-work.root.qcow2');
  assert.equal(quoteVirshWord("<vm><x a='1'/></vm>"), `'<vm><x a='\\''1'\\''/></vm>'`);
  assert.equal(quoteVirshWord('a;reboot'), "'a;reboot'");
});

test('libvirt’s (English, LC_ALL=C) messages map to typed kinds', () => {
  assert.equal(classifyLibvirtError("error: failed to get domain 'x'\nerror: Domain not found: no domain with matching name 'x'"), 'not-found');
  assert.equal(classifyLibvirtError("error: Storage volume not found: no storage vol with matching path 'a'"), 'not-found');
  assert.equal(classifyLibvirtError("error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/run/libvirt/libvirt-sock': Connection refused"), 'unreachable');
  // libvirtd went away under a command: the shell's reconnect failed, or the call in flight lost its socket.
  assert.equal(classifyLibvirtError("error: Failed to reconnect to the hypervisor\nerror: Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory"), 'unreachable');
  assert.equal(classifyLibvirtError('error: internal error: client socket is closed'), 'unreachable');
  assert.equal(classifyLibvirtError("error: operation failed: pool 'vms' already exists with uuid 1"), 'exists');
  assert.equal(classifyLibvirtError('error: Requested operation is not valid: network is already active'), 'active');
  assert.equal(classifyLibvirtError('error: Requested operation is not valid: domain is not running'), 'inactive');
  assert.equal(classifyLibvirtError("error: internal error: pool 'vms' has asynchronous jobs running."), 'busy');
  assert.equal(classifyLibvirtError('error: internal error: something else'), 'failed');
  // DHCP hosts (virsh net-update, libvirt 11.3's words): a MAC, name or address taken; nothing to delete; a stopped network.
  assert.equal(classifyLibvirtError(`error: Failed to update network vms-work\nerror: Requested operation is not valid: there is an existing dhcp host entry in network 'vms-work' that matches "<host mac='52:54:00:00:00:02' name='x2' ip='10.231.1.20'/>"`), 'exists');
  assert.equal(classifyLibvirtError("error: Failed to update network vms-work\nerror: Requested operation is not valid: couldn't locate a matching dhcp host entry in network 'vms-work'"), 'not-found');
  assert.equal(classifyLibvirtError('error: Failed to update network vms-work\nerror: Requested operation is not valid: network is not running'), 'inactive');
});

test('virsh net-dhcp-leases is read for its IPv4 leases', () => {
  const table = [
    ' Expiry Time           MAC address         Protocol   IP address          Hostname   Client ID or DUID',
    '-----------------------------------------------------------------------------------------------------------',
    ' 2026-11-30 17:38:11   52:54:00:6A:0b:01   ipv4       10.231.1.57/24      mail       01:52:54:00:6a:0b:01',
    ' 2026-11-30 17:39:02   52:54:00:6a:0b:02   ipv4       10.231.1.58/24      -          -',
    ' 2026-11-30 17:39:02   52:54:00:6a:0b:03   ipv6       fd00::5/64          -          -',
  ].join('\n');
  assert.deepEqual(parseDhcpLeases(table), [{ mac: '52:54:00:6a:0b:01', ip: '10.231.1.57' }, { mac: '52:54:00:6a:0b:02', ip: '10.231.1.58' }]);
  assert.deepEqual(parseDhcpLeases(''), []);
});

test('a connection lost under a command says so and what the next command does; one never made says how to get one', () => {
  const lost = libvirtError('qemu:///system', "error: Failed to reconnect to the hypervisor\nerror: Failed to connect socket to '/run/libvirt/libvirt-sock': No such file or directory");
  assert.equal(lost.kind, 'unreachable');
  assert.match(lost.message, /^Lost the connection to libvirt at qemu:\/\/\/system in the middle of the command .*the next vms command tidies up/);
  const never = libvirtError('qemu:///system', "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/run/libvirt/libvirt-sock': Connection refused");
  assert.match(never.message, /^Cannot reach libvirt at qemu:\/\/\/system: start it/);
  for (const error of [lost, never]) assert.equal(error.message.split('\n').length, 1);
});

test('local and remote URIs', () => {
  assert.equal(isLocalUri('qemu:///system'), true);
  assert.equal(isLocalUri('qemu+unix:///system?socket=/run/x.sock'), true);
  assert.equal(isLocalUri('qemu+ssh://me@localhost/system'), false, 'ssh is another host as far as devices go');
  assert.equal(isLocalUri('qemu+tls://host.example/system'), false);
});

test('volume list, volume and pool XML are read back as libvirt writes them', () => {
  assert.deepEqual(parseVolumeList(' a.root.qcow2   /p/a.root.qcow2\n b x.qcow2      /p/b x.qcow2\n'), [
    { name: 'a.root.qcow2', path: '/p/a.root.qcow2' },
    { name: 'b x.qcow2', path: '/p/b x.qcow2' },
  ]);
  const xml = buildVolumeXml({ name: 't.v1.qcow2', format: 'qcow2', capacity: 0, backingPath: '/p/base.qcow2', readOnly: true });
  assert.match(xml, /<mode>0444<\/mode>/);
  const read = readVolumeXml(`<volume type='file'><name>t.v1.qcow2</name><capacity unit='bytes'>1073741824</capacity><allocation unit='bytes'>200704</allocation>
    <target><path>/p/t.v1.qcow2</path><format type='qcow2'/><permissions><mode>0444</mode></permissions></target>
    <backingStore><path>/p/base.qcow2</path><format type='qcow2'/></backingStore></volume>`);
  assert.deepEqual(read, { name: 't.v1.qcow2', path: '/p/t.v1.qcow2', format: 'qcow2', capacity: 2 ** 30, allocation: 200704, backingPath: '/p/base.qcow2', readOnly: true });
  assert.equal(poolAvailableOf("<pool type='dir'><available unit='bytes'>8388608</available></pool>"), 8388608);
});

test('volume names belong to one VM each; template versions parse', () => {
  const layout = new StorageLayout('vms', '/p', '/s');
  assert.match(layout.homeVolume('mail'), /^mail\.home\.[0-9a-f]{6}\.qcow2$/);
  assert.equal(ownerOfVolume('mail.home.a1b2c3.qcow2'), 'mail');
  assert.equal(ownerOfVolume('_home-1073741824.qcow2'), undefined);
  assert.deepEqual(templateVersionOf('arch.v12.qcow2'), { name: 'arch', version: 12 });
  assert.equal(templateVersionOf('arch.work.qcow2'), undefined);
});

test('garbage: what any domain’s disks are built on is needed, down the chain; the rest of a gone VM is not', () => {
  const volume = (name: string, backing?: string): VolumeInfo => ({ name, path: `/p/${name}`, format: 'qcow2', capacity: 1, allocation: 1, backingPath: backing && `/p/${backing}`, readOnly: false });
  const volumes = [
    volume('_home-1.qcow2'),
    volume('arch.v1.qcow2'), volume('arch.v2.qcow2'), volume('arch.work.qcow2', 'arch.v2.qcow2'),
    // "src" was deleted; its frozen home is what its linked clone is built on.
    volume('src.home.aaaaaa.qcow2', '_home-1.qcow2'), volume('clone.home.bbbbbb.qcow2', 'src.home.aaaaaa.qcow2'),
    volume('clone.root.qcow2', 'arch.v1.qcow2'), volume('clone.nvram.fd'), volume('clone.console.log.0'),
    volume('gone.root.qcow2', 'arch.v2.qcow2'), volume('gone.nvram.fd'),
  ];
  const domain = (name: string, disks: string[]) => ({ name, xml: `<domain><name>${name}</name><devices>${disks.map((d, i) => `<disk type='volume' device='disk'><source pool='vms' volume='${d}'/><target dev='vd${'ab'[i]}'/></disk>`).join('')}</devices></domain>` });
  const needed = neededVolumes(volumes, [domain('arch', ['arch.work.qcow2']), domain('clone', ['clone.root.qcow2', 'clone.home.bbbbbb.qcow2'])], 'vms');
  assert.deepEqual([...needed].sort(), [
    '_home-1.qcow2', 'arch.v1.qcow2', 'arch.v2.qcow2', 'arch.work.qcow2',
    'clone.console.log.0', 'clone.home.bbbbbb.qcow2', 'clone.nvram.fd', 'clone.root.qcow2', 'src.home.aaaaaa.qcow2',
  ]);
});
