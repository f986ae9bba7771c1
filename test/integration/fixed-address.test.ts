import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { readDhcpHosts, type DhcpHost } from '../../main/engine/network/dhcp-hosts.js';
import { parseIpv4 } from '../../main/engine/network/ipv4.js';
import { nicAddressOf } from '../../main/engine/network/vm-network.js';
import { bootableBlank, makeTestEngine, type TestEngine } from '../helpers/engine-fixture.js';

/**
 * Each VM's fixed address (main/engine/network/dhcp-hosts.ts) on the real libvirtd, as the desktop user:
 * creates at once get distinct addresses, a clone its own MAC and address, a VM moved to another domain
 * takes its address along, a policy change keeps the addresses, and delete and a disposable's end free
 * them. The VMs start from a blank disk (firmware only, killed at once): no guest boots here; the
 * isolation test proves a booted guest gets its address by DHCP and nothing else.
 */
const run = Math.random().toString(36).slice(2, 6);
const n = (name: string) => `${name}${run}`;
/** Domains of this run only, so their networks are this run's (the fixture removes them). */
const LABEL = `fa${run}`;
const OTHER = `fb${run}`;

describe('fixed addresses', { timeout: 900_000 }, () => {
  let t: TestEngine;
  const virsh = (...args: string[]) => execa('virsh', ['-c', t.config.uri, ...args], { env: { LC_ALL: 'C' }, reject: false });
  const vmsOk = async (...args: string[]) => {
    const result = await t.vms(args);
    assert.equal(result.exitCode, 0, `vms ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** The network's DHCP hosts, in its definition and as it runs (dnsmasq's), which must agree. */
  async function hostsOf(network: string): Promise<DhcpHost[]> {
    const config = readDhcpHosts((await virsh('net-dumpxml', '--inactive', network)).stdout);
    const live = readDhcpHosts((await virsh('net-dumpxml', network)).stdout);
    assert.deepEqual(live, config, `${network}: live and persistent hosts agree`);
    return config;
  }
  /** A VM's NIC (persistent definition) and its host entry: they must name the same MAC and address. */
  async function reservation(vm: string): Promise<{ network: string; mac: string; ip: string }> {
    const xml = (await virsh('dumpxml', '--inactive', vm)).stdout;
    assert.doesNotMatch(xml, /CTRL_IP_LEARNING/, 'no DHCP snooping');
    const nic = nicAddressOf(xml);
    assert.ok(nic.network && nic.mac && nic.ip, `${vm} has a network, a MAC and an address: ${JSON.stringify(nic)}`);
    assert.deepEqual((await hostsOf(nic.network)).filter((h) => h.name === vm), [{ mac: nic.mac, ip: nic.ip, name: vm }], `${vm}'s host entry`);
    return { network: nic.network, mac: nic.mac, ip: nic.ip };
  }

  before(async () => {
    t = await makeTestEngine('fixaddr');
    const blank = join(t.scratch, 'blank.qcow2');
    await bootableBlank(blank, '1G');
    await vmsOk('template', 'import', n('tpl'), blank);
  });
  after(async () => t.cleanup());

  test('VMs created at once get distinct addresses in their network’s DHCP range', async () => {
    // The network first: making one redefines the host guard, which libvirt reapplies to every running VM
    // (other tests' too), and the creates would wait for that under the networks lock.
    await vmsOk('network', 'create', LABEL);
    const names = [1, 2, 3, 4].map((i) => n(`c${i}`));
    const results = await Promise.all(names.map((name) => t.vms(['create', name, '--template', n('tpl'), '--domain', LABEL])));
    for (const [i, r] of results.entries()) assert.equal(r.exitCode, 0, `${names[i]}: ${r.stderr}`);
    const found = await Promise.all(names.map(reservation));
    assert.equal(new Set(found.map((r) => r.ip)).size, names.length, `distinct addresses: ${found.map((r) => r.ip).join(', ')}`);
    assert.equal(new Set(found.map((r) => r.mac)).size, names.length, 'distinct MACs');
    const net = (await t.engine.networks()).find((x) => x.label === LABEL)!;
    for (const r of found) {
      assert.equal(r.network, `vms-${LABEL}`);
      assert.ok(parseIpv4(r.ip)! >= parseIpv4(net.dhcpRange.start)! && parseIpv4(r.ip)! <= parseIpv4(net.dhcpRange.end)!, `${r.ip} in ${JSON.stringify(net.dhcpRange)}`);
      assert.match(r.mac, /^52:54:00:/);
    }
  });

  test('a clone gets its own MAC and address when it first joins its network', async () => {
    const source = await reservation(n('c1'));
    await vmsOk('clone', n('c1'), n('k1'));
    const cloned = nicAddressOf((await virsh('dumpxml', '--inactive', n('k1'))).stdout);
    assert.notEqual(cloned.mac, source.mac, 'a new MAC');
    assert.equal(cloned.ip, undefined, 'not the source’s address');
    await vmsOk('start', n('k1'));
    await vmsOk('kill', n('k1'));
    const own = await reservation(n('k1'));
    assert.equal(own.mac, cloned.mac, 'the MAC libvirt gave it');
    assert.notEqual(own.ip, source.ip);
    assert.deepEqual(await reservation(n('c1')), source, 'the source keeps its own');
  });

  test('a VM moved to another domain takes its address along at its next start; a restart keeps it', async () => {
    const before = await reservation(n('c2'));
    await vmsOk('set', n('c2'), `domain=${OTHER}`);
    await vmsOk('start', n('c2'));
    await vmsOk('kill', n('c2'));
    const moved = await reservation(n('c2'));
    assert.equal(moved.network, `vms-${OTHER}`);
    assert.equal(moved.mac, before.mac, 'same card');
    assert.deepEqual((await hostsOf(before.network)).filter((h) => h.name === n('c2') || h.mac === before.mac), [], 'nothing left in the old network');
    await vmsOk('start', n('c2'));
    await vmsOk('kill', n('c2'));
    assert.deepEqual(await reservation(n('c2')), moved, 'the same address at every start');
  });

  test('a policy change that restarts the network keeps every address', async () => {
    const network = `vms-${LABEL}`;
    const hosts = await hostsOf(network);
    assert.ok(hosts.length >= 3);
    await vmsOk('network', 'set', LABEL, '--isolate-vms');
    assert.deepEqual(await hostsOf(network), hosts);
  });

  test('delete and a disposable’s end free the address; nothing stale is left', async () => {
    const { network } = await reservation(n('c3'));
    await vmsOk('delete', n('c3'), '--yes');
    assert.deepEqual((await hostsOf(network)).filter((h) => h.name === n('c3')), []);

    const disposable = JSON.parse(await vmsOk('disposable', '--template', n('tpl'), '--domain', LABEL, '--json')) as { name: string };
    const live = nicAddressOf((await virsh('dumpxml', disposable.name)).stdout);
    assert.deepEqual((await hostsOf(network)).filter((h) => h.name === disposable.name), [{ mac: live.mac, ip: live.ip, name: disposable.name }]);
    await vmsOk('kill', disposable.name);
    assert.deepEqual((await hostsOf(network)).filter((h) => h.name === disposable.name), [], 'reaped with the disposable');

    const report = JSON.parse((await t.vms(['check', '--json'])).stdout) as { remaining: Array<{ kind: string; vm?: string }> };
    const stale = report.remaining.filter((f) => f.kind === 'stale-dhcp-host' && ((f.vm ?? '').endsWith(run) || f.vm === disposable.name));
    const nics = await Promise.all(stale.map(async (f) => JSON.stringify(nicAddressOf((await virsh('dumpxml', f.vm!)).stdout))));
    assert.deepEqual(stale, [], `their network cards now: ${nics.join(', ')}`);
  });
});
