import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import type { CheckReport, Finding } from '../../main/engine/index.js';
import { dhcpHostXml, freshMac, readDhcpHosts, type DhcpHost } from '../../main/engine/network/dhcp-hosts.js';
import { nicAddressOf } from '../../main/engine/network/vm-network.js';
import { bootableBlank, makeTestEngine, removeDhcpHostsOf, type TestEngine } from '../helpers/engine-fixture.js';

/**
 * `vms check [--fix]` on the real libvirtd, as the desktop user, with things broken by hand through
 * libvirt (and the state folder), and bad input (issue 13, parts 1 and 4). No guest boots.
 */
const run = Math.random().toString(36).slice(2, 6);
const n = (name: string) => `${name}${run}`;

describe('vms check', { timeout: 300_000 }, () => {
  let t: TestEngine;
  const virsh = (...args: string[]) => execa('virsh', ['-c', t.config.uri, ...args], { env: { LC_ALL: 'C' }, reject: false });

  before(async () => {
    t = await makeTestEngine('check');
    const blank = join(t.scratch, 'blank.qcow2');
    await bootableBlank(blank, '2G');
    const imported = await t.vms(['template', 'import', n('tpl'), blank]);
    assert.equal(imported.exitCode, 0, imported.stderr);
  });
  after(async () => {
    await removeDhcpHostsOf([n('ghost')]);
    await t.cleanup();
  });

  /** `vms check --json`: the report, and the findings about this run's names (filters and networks are global to libvirtd). */
  async function check(fix = false): Promise<{ exitCode: number; report: CheckReport; ours: Finding[]; stderr: string }> {
    const result = await t.vms(['check', '--json', ...(fix ? ['--fix'] : [])]);
    const report = JSON.parse(result.stdout) as CheckReport;
    const ours = report.remaining.filter((f) => (f.vm ?? f.subject).endsWith(run) || f.subject.includes(t.pool));
    return { exitCode: result.exitCode, report, ours, stderr: result.stderr };
  }
  const summary = (findings: Finding[]) => findings.map((f) => `${f.kind} ${f.subject}`).sort();

  /** The fixed addresses (static DHCP hosts) in a network's definition and as it runs. */
  async function dhcpHosts(network: string): Promise<{ config: DhcpHost[]; live: DhcpHost[] }> {
    return { config: readDhcpHosts((await virsh('net-dumpxml', '--inactive', network)).stdout), live: readDhcpHosts((await virsh('net-dumpxml', network)).stdout) };
  }

  test('a consistent state: no finding about this pool, exit code follows the findings', async () => {
    assert.equal((await t.vms(['create', n('a'), '--template', n('tpl')])).exitCode, 0);
    // Its fixed address: the NIC's MAC and filter parameter IP (no DHCP snooping), and the network's static DHCP host.
    const xml = (await virsh('dumpxml', '--inactive', n('a'))).stdout;
    const nic = nicAddressOf(xml);
    assert.match(nic.ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, xml);
    assert.doesNotMatch(xml, /CTRL_IP_LEARNING/);
    const own = { mac: nic.mac!, ip: nic.ip!, name: n('a') };
    const hosts = await dhcpHosts(nic.network!);
    assert.deepEqual(hosts.config.filter((h) => h.name === n('a')), [own]);
    assert.deepEqual(hosts.live.filter((h) => h.name === n('a')), [own], 'dnsmasq has it now');
    const { exitCode, report, ours } = await check();
    assert.deepEqual(ours, []);
    assert.equal(exitCode, report.clean ? 0 : 1);
  });

  test('things broken by hand are each found once, --fix repairs what is safe and names what needs a decision', async () => {
    const vm = n('a');
    const ghost = n('ghost');
    const home = (await t.volumes()).find((v) => v.startsWith(`${vm}.home.`))!;
    // A disk deleted under the VM's feet, an orphan volume, a stale journal entry and lock, an orphan cache pool and filter.
    assert.equal((await virsh('vol-delete', '--pool', t.pool, home)).exitCode, 0);
    assert.equal((await virsh('vol-create-as', t.pool, `${ghost}.root.qcow2`, '1M', '--format', 'qcow2')).exitCode, 0);
    const state = t.env.VMS_STATE_DIR!;
    await writeFile(join(state, 'pending', ghost), '999999');
    await writeFile(join(state, 'locks', `${ghost}.lock`), '999999');
    const cachePool = `${t.pool}-pkg-${ghost}`;
    assert.equal((await virsh('pool-define-as', cachePool, 'dir', '--target', join(t.config.pkgCacheDir, ghost))).exitCode, 0);
    assert.equal((await virsh('pool-build', cachePool)).exitCode, 0);
    assert.equal((await virsh('pool-start', cachePool)).exitCode, 0);
    const filterFile = join(t.scratch, 'filter.xml');
    await writeFile(filterFile, `<filter name='vms-fw-${ghost}' chain='root'><filterref filter='clean-traffic'/></filter>`);
    assert.equal((await virsh('nwfilter-define', filterFile)).exitCode, 0);
    // A fixed address left behind in the VM's network (as by a domain undefined with virsh), at a free address.
    const network = nicAddressOf((await virsh('dumpxml', vm)).stdout).network!;
    const prefix = (await t.engine.networks()).find((net) => net.name === network)!.gateway.replace(/\.1$/, '');
    const taken = new Set((await dhcpHosts(network)).config.map((h) => h.ip));
    const ghostHost = { mac: freshMac(), ip: [...Array(40).keys()].map((i) => `${prefix}.${250 - i}`).find((ip) => !taken.has(ip))!, name: ghost };
    const added = await virsh('net-update', network, 'add-last', 'ip-dhcp-host', dhcpHostXml(ghostHost), '--live', '--config');
    assert.equal(added.exitCode, 0, added.stderr);

    const human = await t.vms(['check']);
    assert.equal(human.exitCode, 1);
    assert.match(human.stdout, new RegExp(`^problem: VM ${vm} has lost its disk ${home.replace(/\./g, '\\.')} — needs a decision: .*vms delete ${vm} --yes`, 'm'));
    assert.match(human.stdout, /--fix` repairs what it can/);

    const found = await check();
    assert.equal(found.exitCode, 1);
    assert.deepEqual(summary(found.ours), [
      `missing-disk ${home}`,
      `orphan-cache ${cachePool}`,
      `orphan-filter vms-fw-${ghost}`,
      `stale-dhcp-host ${network}/${ghostHost.ip}/${ghostHost.mac}`,
      `stale-journal pending/${ghost}`,
      `stale-lock locks/${ghost}.lock`,
      `unused-volume ${ghost}.root.qcow2`,
    ]);

    const fixed = await check(true);
    assert.deepEqual(summary(fixed.ours), [`missing-disk ${home}`], fixed.stderr);
    assert.equal(fixed.exitCode, 1);
    assert.deepEqual(summary(fixed.report.fixed.filter((f) => f.vm === ghost)), summary(found.ours.filter((f) => f.vm === ghost)));
    assert.ok(!(await t.volumes()).includes(`${ghost}.root.qcow2`));
    assert.notEqual((await virsh('pool-info', cachePool)).exitCode, 0);
    assert.notEqual((await virsh('nwfilter-dumpxml', `vms-fw-${ghost}`)).exitCode, 0);
    assert.deepEqual((await dhcpHosts(network)).config.filter((h) => h.name === ghost), [], 'the stale address is gone');
    assert.deepEqual((await dhcpHosts(network)).live.filter((h) => h.name === ghost), []);
    // The VM with the lost disk is left for the user to decide: its other volumes are still there.
    assert.ok((await t.volumes()).includes(`${vm}.root.qcow2`));

    // Starting it says what is wrong in one line (libvirt refuses before QEMU runs).
    const start = await t.vms(['start', vm]);
    assert.equal(start.exitCode, 1);
    assert.equal(start.stderr.trim().split('\n').length, 1, start.stderr);
    assert.doesNotMatch(start.stderr, /\n\s+at /);

    assert.equal((await t.vms(['delete', vm, '--yes'])).exitCode, 0);
    assert.deepEqual((await dhcpHosts(network)).config.filter((h) => h.name === vm), [], 'deleting a VM frees its address');
    assert.deepEqual((await dhcpHosts(network)).live.filter((h) => h.name === vm), []);
    assert.deepEqual((await check()).ours, []);
  });

  test('bad input: a broken config.json is one line; nothing else runs', async () => {
    const settings = join(t.env.VMS_CONFIG_DIR!, 'config.json');
    for (const text of ['{not json', '[1,2]', '{"defaultMemoryMiB": "lots"}']) {
      await writeFile(settings, text);
      const list = await t.vms(['list']);
      assert.equal(list.exitCode, 1, text);
      assert.match(list.stderr, /^vms: The settings file .*config\.json (is not valid JSON|must hold a JSON object|is not valid): .*fix or remove it/, text);
      assert.equal(list.stderr.trim().split('\n').length, 1, list.stderr);
    }
    await rm(settings);
  });

  test('bad input: vms metadata edited into garbage is a finding, and its disks stay', async () => {
    const vm = n('meta');
    assert.equal((await t.vms(['create', vm, '--template', n('tpl')])).exitCode, 0);
    const volumes = (await t.volumes()).filter((v) => v.startsWith(`${vm}.`));
    const good = (await virsh('metadata', vm, 'urn:vms:metadata:1', '--config')).stdout;
    for (const garbage of ['<vm><kind>banana</kind></vm>', '<vm><kind>appvm</kind><label>Work Stuff!</label><template>nope</template></vm>']) {
      const set = await virsh('metadata', vm, 'urn:vms:metadata:1', '--config', '--key', 'vms', '--set', garbage);
      assert.equal(set.exitCode, 0, set.stderr);
      const list = await t.vms(['list']);
      assert.equal(list.exitCode, 0, list.stderr);
      const info = await t.vms(['info', vm]);
      assert.equal(info.stderr.trim().split('\n').length <= 1, true, info.stderr);
      assert.doesNotMatch(info.stderr, /\n\s+at |unexpected error/);
      const fixed = await check(true);
      assert.deepEqual(summary(fixed.ours), [`bad-metadata ${vm}`]);
      assert.deepEqual((await t.volumes()).filter((v) => v.startsWith(`${vm}.`)), volumes, 'no disk of the VM was collected');
    }
    assert.equal((await virsh('metadata', vm, 'urn:vms:metadata:1', '--config', '--key', 'vms', '--set', good)).exitCode, 0);
    assert.deepEqual((await check()).ours, []);
    assert.equal((await t.vms(['delete', vm, '--yes'])).exitCode, 0);
  });

  test('bad input: a VM renamed with virsh domrename keeps every volume; check says to rename it back', async () => {
    const vm = n('old');
    const renamed = n('new');
    assert.equal((await t.vms(['create', vm, '--template', n('tpl')])).exitCode, 0);
    const volumes = (await t.volumes()).filter((v) => v.startsWith(`${vm}.`));
    const rename = await virsh('domrename', vm, renamed);
    assert.equal(rename.exitCode, 0, rename.stderr);
    try {
      assert.ok((await t.vms(['list'])).stdout.includes(renamed));
      const fixed = await check(true);
      assert.deepEqual(summary(fixed.ours), [`renamed-domain ${renamed}`]);
      assert.match(fixed.ours[0].remedy, new RegExp(`virsh domrename ${renamed} ${vm}`));
      assert.deepEqual((await t.volumes()).filter((v) => v.startsWith(`${vm}.`)), volumes, 'no volume of the renamed VM was collected');
      assert.equal((await virsh('pool-info', `${t.pool}-pkg-${vm}`)).exitCode, 0, 'its package cache stays');
    } finally {
      await virsh('domrename', renamed, vm);
    }
    assert.deepEqual((await check()).ours, []);
    assert.equal((await t.vms(['delete', vm, '--yes'])).exitCode, 0);
    assert.deepEqual((await check()).ours, []);
  });
});
