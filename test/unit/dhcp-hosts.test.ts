import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dhcpHostXml, freshMac, planReservation, readDhcpHosts, readDhcpRange, removalChanges, type DhcpHost, type ReservationInput } from '../../main/engine/network/dhcp-hosts.js';
import { parseIpv4, stableHash } from '../../main/engine/network/ipv4.js';

const range = { start: '10.231.1.10', end: '10.231.1.254' };
const MAC = '52:54:00:0a:0b:0c';
const input = (over: Partial<ReservationInput> = {}): ReservationInput => ({ name: 'mail', mac: MAC, range, live: [], config: [], leases: [], ...over });
/** Where a name's search starts (what a first VM of that name gets on an empty network). */
const startOf = (name: string) => `10.231.1.${10 + (stableHash(name) % 245)}`;
const next = (ip: string) => ip.replace(/\d+$/, (n) => String(Number(n) === 254 ? 10 : Number(n) + 1));

test('a fresh MAC is in libvirt’s 52:54:00 range and none the network has', () => {
  assert.match(freshMac(), /^52:54:00(:[0-9a-f]{2}){3}$/);
  const bytes = [Buffer.from([1, 2, 3]), Buffer.from([1, 2, 3]), Buffer.from([0xab, 0, 0xff])];
  assert.equal(freshMac(['52:54:00:01:02:03'], () => bytes.shift()!), '52:54:00:ab:00:ff');
});

test('DHCP hosts: one line for net-update, read back from a network definition with the range', () => {
  const host = { mac: '52:54:00:0a:0b:0c', ip: '10.231.1.57', name: 'mail' };
  const xml = dhcpHostXml(host);
  assert.doesNotMatch(xml, /\n/);
  assert.match(xml, /^<host mac=.52:54:00:0a:0b:0c. name=.mail. ip=.10\.231\.1\.57.\s*\/>$/);
  const network = `<network>
  <name>vms-work</name>
  <ip family='ipv6' address='fd00::1' prefix='64'><dhcp><host id='0:1' ip='fd00::5'/></dhcp></ip>
  <ip address='10.231.1.1' netmask='255.255.255.0'>
    <dhcp>
      <range start='10.231.1.10' end='10.231.1.254'/>
      <host mac='52:54:00:0A:0B:0C' name='mail' ip='10.231.1.57'/>
      <host mac='52:54:00:0a:0b:0d' ip='10.231.1.58'/>
      <host name='by-name-only' ip='10.231.1.59'/>
    </dhcp>
  </ip>
</network>`;
  assert.deepEqual(readDhcpHosts(network), [host, { mac: '52:54:00:0a:0b:0d', ip: '10.231.1.58' }]);
  assert.deepEqual(readDhcpRange(network), range);
  assert.deepEqual(readDhcpHosts('<network><name>x</name></network>'), []);
});

test('a new VM gets the first free address from where its name starts, in the live network and its definition', () => {
  const plan = planReservation(input())!;
  assert.deepEqual(plan.host, { mac: MAC, ip: startOf('mail'), name: 'mail' });
  assert.deepEqual(plan.changes, [{ command: 'add-last', host: plan.host, live: true, config: true }]);
  assert.equal(planReservation(input())!.host.ip, plan.host.ip, 'the same choice every time');
  assert.notEqual(startOf('mail'), startOf('mail2'), 'two VMs made at once start apart');
  // Taken: by another host (live or persistent) or by a lease to another MAC; a lease to its own MAC is its own.
  const other = (ip: string, name = 'web'): DhcpHost => ({ mac: '52:54:00:99:99:99', ip, name });
  assert.equal(planReservation(input({ live: [other(startOf('mail'))] }))!.host.ip, next(startOf('mail')));
  assert.equal(planReservation(input({ config: [other(startOf('mail'))] }))!.host.ip, next(startOf('mail')));
  assert.equal(planReservation(input({ leases: [{ mac: '52:54:00:99:99:99', ip: startOf('mail') }] }))!.host.ip, next(startOf('mail')));
  assert.equal(planReservation(input({ leases: [{ mac: MAC.toUpperCase(), ip: startOf('mail') }] }))!.host.ip, startOf('mail'));
  // A stopped network: only its definition changes.
  assert.deepEqual(planReservation(input({ live: undefined }))!.changes.map((c) => [c.live, c.config]), [[false, true]]);
});

test('a VM keeps its address where it can, and its stale or half-present entries are put right', () => {
  const own = { mac: MAC, ip: '10.231.1.77', name: 'mail' };
  assert.deepEqual(planReservation(input({ live: [own], config: [own], preferredIp: '10.231.1.77' })), { host: own, changes: [] }, 'nothing to do');
  assert.deepEqual(planReservation(input({ live: [own], config: [own] })), { host: own, changes: [] }, 'its entry decides');
  assert.deepEqual(planReservation(input({ live: [], config: [own] }))!.changes, [{ command: 'add-last', host: own, live: true, config: false }], 'missing from the running network');
  assert.deepEqual(planReservation(input({ live: [own], config: [] }))!.changes, [{ command: 'add-last', host: own, live: false, config: true }], 'missing from the definition');
  assert.equal(planReservation(input({ preferredIp: '10.231.1.200' }))!.host.ip, '10.231.1.200', 'its NIC’s address, still free');
  assert.equal(planReservation(input({ preferredIp: '10.231.2.200' }))!.host.ip, startOf('mail'), 'not from another subnet (a network remade elsewhere)');
  assert.equal(planReservation(input({ preferredIp: '10.231.1.200', live: [{ mac: '52:54:00:99:99:99', ip: '10.231.1.200', name: 'web' }] }))!.host.ip, startOf('mail'), 'taken meanwhile');
  // An entry with its name and another MAC (a VM deleted behind vms's back, then made again), or with its
  // MAC and another name: replaced.
  const stale = { mac: '52:54:00:11:11:11', ip: '10.231.1.33', name: 'mail' };
  const plan = planReservation(input({ live: [stale], config: [stale] }))!;
  assert.equal(plan.host.ip, startOf('mail'));
  assert.deepEqual(plan.changes, [
    { command: 'delete', host: stale, live: true, config: true },
    { command: 'add-last', host: plan.host, live: true, config: true },
  ]);
  const renamed = { mac: MAC, ip: '10.231.1.34', name: 'old-name' };
  assert.deepEqual(planReservation(input({ config: [renamed], preferredIp: '10.231.1.34' }))!.changes, [
    { command: 'delete', host: renamed, live: false, config: true },
    { command: 'add-last', host: { mac: MAC, ip: '10.231.1.34', name: 'mail' }, live: true, config: true },
  ]);
});

test('a full range has no address to give', () => {
  const small = { start: '10.231.1.10', end: '10.231.1.11' };
  const hosts = [{ mac: '52:54:00:00:00:01', ip: '10.231.1.10', name: 'a' }, { mac: '52:54:00:00:00:02', ip: '10.231.1.11', name: 'b' }];
  assert.equal(planReservation(input({ range: small, config: hosts })), undefined);
  assert.equal(planReservation(input({ range: small, config: hosts.slice(1) }))!.host.ip, '10.231.1.10');
  assert.ok([...Array(245).keys()].every((i) => {
    const ip = planReservation(input({ name: `vm${i}` }))!.host.ip;
    return parseIpv4(ip)! >= parseIpv4(range.start)! && parseIpv4(ip)! <= parseIpv4(range.end)!;
  }), 'always inside the range');
});

test('removing a VM’s entries deletes them wherever each one is', () => {
  const a = { mac: '52:54:00:00:00:01', ip: '10.231.1.10', name: 'a' };
  const b = { mac: '52:54:00:00:00:02', ip: '10.231.1.11', name: 'b' };
  assert.deepEqual(removalChanges([a, b], [a], (h) => h.name === 'a'), [{ command: 'delete', host: a, live: true, config: true }]);
  assert.deepEqual(removalChanges([b], [a, b], (h) => h.name === 'a'), [{ command: 'delete', host: a, live: false, config: true }]);
  assert.deepEqual(removalChanges(undefined, [a], (h) => h.name === 'a'), [{ command: 'delete', host: a, live: false, config: true }]);
  assert.deepEqual(removalChanges([a], [a], (h) => h.name === 'c'), []);
});
