import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { execa } from 'execa';
import { defaultPolicy } from '../../main/engine/network/network-xml.js';
import { CLI, makeTestEngine, removeDomainsUsing, testGuestImage, URI, type TestEngine } from '../helpers/engine-fixture.js';
import { sh, startAndConnect } from '../helpers/guest.js';
import type { SerialConsole } from '../helpers/serial-console.js';

/**
 * Isolation between domains, with real TCG guests on the label networks (addresses by DHCP), proven with
 * ping and TCP (busybox nc and httpd in the guests, a Node listener on the host's 0.0.0.0):
 *   same domain reachable; other domain unreachable; host services unreachable except DHCP and DNS; a
 *   firewall rule closes a port on a running VM and removing it opens it again; spoofed sources dropped;
 *   --isolate-vms cuts a domain's VMs apart; an offline domain has no way out and no DNS.
 * Traffic goes only to the guests, the bridges' host addresses and loopback. Everything it made (domains,
 * networks, filters, host guard, the listener) goes afterwards, failure or not.
 */

const tag = randomBytes(2).toString('hex');
const A = `ia${tag}`;
const B = `ib${tag}`;
const BOOT_MS = 300_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function guestIp(c: SerialConsole): Promise<string> {
  return until('a DHCP lease', async () => {
    const out = (await c.run("ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1 | head -1")).output.trim();
    return /^\d+\.\d+\.\d+\.\d+$/.test(out) ? out : undefined;
  }, 90_000);
}

async function pings(c: SerialConsole, ip: string, extra = ''): Promise<boolean> {
  return (await c.run(`ping -c 1 -W 2 ${extra} ${ip}`)).exitCode === 0;
}

/** True when a TCP connection to ip:port returns `marker` (an HTTP GET to busybox httpd, or the host listener's greeting). */
async function tcpReaches(c: SerialConsole, ip: string, port: number, marker: string): Promise<boolean> {
  const out = (await c.run(`printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${ip} ${port} 2>&1`)).output;
  return out.includes(marker);
}

/** True when the guest gets a TCP connection to the bridge's dnsmasq (no query is sent, so nothing goes further). */
async function dnsOpen(c: SerialConsole, gw: string): Promise<boolean> {
  return (await c.run(`nc -w 2 ${gw} 53 </dev/null && echo DNS-OPEN`)).output.includes('DNS-OPEN');
}

async function serveHttp(c: SerialConsole, marker: string): Promise<void> {
  await sh(c, `mkdir -p /tmp/www && echo ${marker} > /tmp/www/index.html && httpd -p 8080 -h /tmp/www`);
}

const gateway = async (t: TestEngine, label: string) => (await t.engine.networks()).find((n) => n.label === label)!.gateway;
const gateways: Record<string, string> = {};
const gwOf = (label: string) => gateways[label];

describe('isolation between domains, with booted guests', { timeout: 900_000 }, () => {
  let t: TestEngine;
  const consoles: SerialConsole[] = [];
  const open = (c: SerialConsole) => (consoles.push(c), c);
  let listener: net.Server;
  let hostPort = 0;
  let forwardingBefore = '0';
  const measured: Record<string, string> = {};
  let a1: SerialConsole, a2: SerialConsole, b1: SerialConsole;
  const ip: Record<string, string> = {};

  before(async () => {
    forwardingBefore = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    t = await makeTestEngine('iso');
    await t.engine.importTemplate('tpl', await testGuestImage());
    listener = net.createServer((socket) => socket.end('HOST-SERVICE\n'));
    await new Promise<void>((resolve) => listener.listen(0, '0.0.0.0', resolve));
    hostPort = (listener.address() as net.AddressInfo).port;

    let started = Date.now();
    await t.engine.create('a1', { template: 'tpl', label: A, memoryMiB: 256 });
    measured['create (first VM of a domain: network made)'] = `${Date.now() - started} ms`;
    started = Date.now();
    await t.engine.create('a2', { template: 'tpl', label: A, memoryMiB: 256 });
    measured['create (network exists)'] = `${Date.now() - started} ms`;
    await t.engine.create('b1', { template: 'tpl', label: B, memoryMiB: 256 });
    started = Date.now();
    [a1, a2, b1] = (await Promise.all(['a1', 'a2', 'b1'].map((n) => startAndConnect(t.engine, n, BOOT_MS)))).map(open);
    measured['3 guests: start to shell'] = `${Date.now() - started} ms`;
    started = Date.now();
    [ip.a1, ip.a2, ip.b1] = await Promise.all([a1, a2, b1].map(guestIp));
    measured['DHCP leases after the shells'] = `${Date.now() - started} ms`;
    await Promise.all([serveHttp(a2, 'WEB-A2'), serveHttp(b1, 'WEB-B1')]);
    gateways[A] = await gateway(t, A);
    gateways[B] = await gateway(t, B);
  });

  after(async () => {
    for (const c of consoles) c.close();
    listener?.close();
    if (!t) return;
    // Domains first (a network with VMs is not deleted), then filters and networks, then the folder.
    await removeDomainsUsing(t.pool, `${t.imagesDir}/${t.pool}`);
    for (const vm of ['a1', 'a2', 'b1']) {
      for (const filter of [`vms-fw-${vm}`, `vms-fw-${vm}-rules`]) await execa('virsh', ['-c', URI, 'nwfilter-undefine', filter], { reject: false });
    }
    for (const label of [A, B]) {
      try {
        await t.engine.deleteNetwork(label);
      } catch {
        await execa('virsh', ['-c', URI, 'net-destroy', `vms-${label}`], { reject: false });
        await execa('virsh', ['-c', URI, 'net-undefine', `vms-${label}`], { reject: false });
      }
    }
    await t.cleanup();
    // Starting a NAT network turns IP forwarding on; put it back when no libvirt network is left running.
    const active = (await execa('virsh', ['-q', '-c', URI, 'net-list', '--name'], { reject: false })).stdout.trim();
    if (!active) await writeFile('/proc/sys/net/ipv4/ip_forward', forwardingBefore).catch(() => undefined);
    console.log(`measured: ${JSON.stringify(measured, null, 2)}`);
  });

  test('each domain got its own network; the VMs joined it through their own filter', async () => {
    const networks = await t.engine.networks();
    const a = networks.find((n) => n.label === A)!;
    const b = networks.find((n) => n.label === B)!;
    assert.ok(a.active && b.active);
    assert.notEqual(a.subnet.address, b.subnet.address);
    assert.deepEqual(a.policy, defaultPolicy(A));
    const vm = await t.engine.info('a1');
    assert.equal(vm.network, `vms-${A}`);
    const xml = (await execa('virsh', ['-c', URI, 'dumpxml', 'a1'])).stdout;
    assert.match(xml, /<filterref filter='vms-fw-a1'>/);
    assert.match(xml, /<parameter name='CTRL_IP_LEARNING' value='dhcp'\/>/);
    const cli = JSON.parse((await t.vms(['network', 'list', '--json'])).stdout) as Array<{ label: string; subnet: string; gateway: string }>;
    assert.equal(cli.find((n) => n.label === A)?.gateway, a.gateway);
    for (const [name, address] of Object.entries(ip)) {
      const net = name.startsWith('a') ? a : b;
      assert.equal(address.split('.').slice(0, 3).join('.'), net.gateway.split('.').slice(0, 3).join('.'), `${name} got its lease on its own network`);
    }
  });

  test('VMs of one domain reach each other; VMs of another domain do not', async () => {
    // The filter is in place once libvirt has seen the lease; until then only DHCP passes.
    const started = Date.now();
    await until('a1 to reach a2', () => pings(a1, ip.a2), 60_000);
    measured['same domain reachable after the leases'] = `${Date.now() - started} ms`;
    assert.ok(await tcpReaches(a1, ip.a2, 8080, 'WEB-A2'), 'TCP inside the domain');

    // b1's filter has learned its lease too (it reaches its own DNS), so a failure below is the isolation.
    await until('b1 to reach its DNS', () => dnsOpen(b1, gwOf(B)), 60_000);
    assert.equal(await pings(a1, ip.b1), false, 'a1 → b1 ping');
    assert.equal(await tcpReaches(a1, ip.b1, 8080, 'WEB-B1'), false, 'a1 → b1 TCP');
    assert.equal(await pings(b1, ip.a2), false, 'b1 → a2 ping');
    assert.equal(await tcpReaches(b1, ip.a2, 8080, 'WEB-A2'), false, 'b1 → a2 TCP');
    // Even with a route set by hand through the host.
    await sh(b1, `ip route add ${ip.a2}/32 via ${await gateway(t, B)} 2>/dev/null || true`);
    assert.equal(await tcpReaches(b1, ip.a2, 8080, 'WEB-A2'), false, 'b1 → a2 TCP with a host route');
  });

  test('host services on 0.0.0.0 are out of reach; DHCP and DNS on the own bridge are not', async () => {
    // The listener is really there: the host itself reaches it.
    const local = await new Promise<string>((resolve, reject) => {
      const s = net.createConnection(hostPort, '127.0.0.1');
      let data = '';
      s.on('data', (d) => { data += d; }).on('end', () => resolve(data)).on('error', reject);
    });
    assert.match(local, /HOST-SERVICE/);
    const gwA = await gateway(t, A);
    const gwB = await gateway(t, B);
    for (const [c, name] of [[a1, 'a1'], [b1, 'b1']] as const) {
      for (const gw of [gwA, gwB]) {
        assert.equal(await tcpReaches(c, gw, hostPort, 'HOST-SERVICE'), false, `${name} → host ${gw}:${hostPort}`);
      }
    }
    assert.equal(await pings(a1, gwA), false, 'not even ping to the host');
    // DNS: a TCP connection to the network's dnsmasq (no query, so nothing is forwarded out).
    assert.equal(await dnsOpen(a1, gwA), true, 'DNS on the own bridge');
    assert.equal(await dnsOpen(a1, gwB), false, 'not another bridge’s DNS');
    // DHCP: a renewal through the guard gets its lease again.
    await sh(a1, ': > /run/udhcpc.log; kill -USR1 $(pidof udhcpc)');
    await until('the renewed lease', async () => (await a1.run('cat /run/udhcpc.log')).output.includes(`lease of ${ip.a1} obtained`), 30_000);
  });

  test('a firewall rule closes a port on a running VM; removing it opens it again', async () => {
    let started = Date.now();
    const add = await t.vms(['firewall', 'a1', 'add', 'deny', 'proto=tcp', 'port=8080']);
    assert.equal(add.exitCode, 0, add.stderr);
    const commandMs = Date.now() - started;
    await until('the rule to apply', async () => !(await tcpReaches(a1, ip.a2, 8080, 'WEB-A2')), 60_000, 200);
    measured['deny rule: until the port is closed'] = `${Date.now() - started} ms (the command took ${commandMs} ms)`;
    assert.ok(await pings(a1, ip.a2), 'only that port: ping still passes');
    const listed = JSON.parse((await t.vms(['firewall', 'a1', 'list', '--json'])).stdout) as { rules: Array<{ rule: string }> };
    assert.deepEqual(listed.rules.map((r) => r.rule), ['deny proto=tcp port=8080']);

    started = Date.now();
    const del = await t.vms(['firewall', 'a1', 'del', '1']);
    assert.equal(del.exitCode, 0, del.stderr);
    await until('the port to open again', () => tcpReaches(a1, ip.a2, 8080, 'WEB-A2'), 60_000, 200);
    measured['rule removed: command + until the port is open'] = `${Date.now() - started} ms`;

    // An allow-list: only TCP 8080 to a2, then nothing; the lease still renews.
    const set = await execa(process.execPath, [CLI, 'firewall', 'a1', 'set', '-'], {
      env: t.env, input: `# a1 may only reach a2's web server\nallow dst=${ip.a2} proto=tcp port=8080\ndeny\n`, reject: false,
    });
    assert.equal(set.exitCode, 0, set.stderr);
    await until('the allow-list to apply', async () => !(await pings(a1, ip.a2)), 60_000, 200);
    assert.ok(await tcpReaches(a1, ip.a2, 8080, 'WEB-A2'), 'the allowed port');
    await sh(a1, ': > /run/udhcpc.log; kill -USR1 $(pidof udhcpc)');
    await until('the renewed lease under deny-all', async () => (await a1.run('cat /run/udhcpc.log')).output.includes(`lease of ${ip.a1} obtained`), 30_000);
    assert.equal((await t.vms(['firewall', 'a1', 'clear'])).exitCode, 0);
    await until('the rules to go', () => pings(a1, ip.a2), 60_000, 200);

    const bad = await t.vms(['firewall', 'a1', 'add', 'deny', 'port=22']);
    assert.equal(bad.exitCode, 1);
    assert.match(bad.stderr, /^vms: Bad firewall rule: port= needs proto=tcp or proto=udp/);
    assert.deepEqual(await t.engine.firewall('a1'), [], 'nothing written');
  });

  test('spoofed source addresses are dropped', async () => {
    const spoofed = ip.a1.split('.').slice(0, 3).concat(['5']).join('.');
    await sh(a1, `ip addr add ${spoofed}/24 dev eth0`);
    assert.equal(await pings(a1, ip.a2, `-I ${spoofed}`), false, 'from a second address');
    assert.equal(await pings(a1, ip.a2, `-I ${ip.b1}`), false, 'from another domain’s address');
    assert.ok(await pings(a1, ip.a2), 'from its own address');
    await sh(a1, `ip addr del ${spoofed}/24 dev eth0`);
  });

  test('--isolate-vms cuts a domain’s VMs apart; offline leaves no way out and no DNS', async () => {
    const refused = await t.vms(['network', 'set', A, '--isolate-vms']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /^vms: The "[a-z0-9]+" network must restart for that, and (a1, a2|a2, a1) run on it: stop them first/);
    assert.equal(refused.stderr.trim().split('\n').length, 1);
    assert.equal((await t.engine.networks()).find((n) => n.label === A)!.policy.isolateVms, false, 'nothing written');

    for (const c of [a1, a2, b1]) c.close();
    await Promise.all(['a1', 'a2', 'b1'].map((n) => t.engine.kill(n)));
    const isolate = await t.vms(['network', 'set', A, '--isolate-vms', '--clipboard', 'off', '--json']);
    assert.equal(isolate.exitCode, 0, isolate.stderr);
    assert.equal(JSON.parse(isolate.stdout).isolateVms, true);
    assert.equal((await t.engine.info('a1')).clipboard, false, 'the label’s clipboard policy reached its VMs');
    const offline = await t.vms(['network', 'set', B, '--offline']);
    assert.equal(offline.exitCode, 0, offline.stderr);

    [a1, a2, b1] = (await Promise.all(['a1', 'a2', 'b1'].map((n) => startAndConnect(t.engine, n, BOOT_MS)))).map(open);
    [ip.a1, ip.a2, ip.b1] = await Promise.all([a1, a2, b1].map(guestIp));
    await serveHttp(a2, 'WEB-A2');
    // Both filters have learned their leases (each VM reaches its DNS), so a failure below is the isolation.
    await until('a1 and a2 to reach their DNS', async () => (await dnsOpen(a1, gwOf(A))) && dnsOpen(a2, gwOf(A)), 60_000);
    assert.equal(await pings(a1, ip.a2), false, 'isolated: a1 → a2 ping');
    assert.equal(await tcpReaches(a1, ip.a2, 8080, 'WEB-A2'), false, 'isolated: a1 → a2 TCP');

    const gwB = await gateway(t, B);
    assert.equal((await b1.run('ip route | grep -c ^default')).output.trim(), '0', 'offline: the lease has no router');
    await sh(b1, `ip route add default via ${gwB} 2>/dev/null || true`);
    assert.equal(await tcpReaches(b1, ip.a2, 8080, 'WEB-A2'), false, 'offline: nothing forwarded even through a hand-made route');
    assert.equal(await dnsOpen(b1, gwB), false, 'offline: no DNS');
  });

  test('a disposable joins its domain’s network with its own filter, and the filter goes with it', async () => {
    const vm = await t.engine.disposable({ template: 'tpl', label: A, paused: true });
    assert.equal(vm.network, `vms-${A}`);
    assert.match((await execa('virsh', ['-c', URI, 'dumpxml', vm.name])).stdout, new RegExp(`<filterref filter='vms-fw-${vm.name}'>`));
    await t.engine.kill(vm.name);
    const filters = (await execa('virsh', ['-c', URI, 'nwfilter-list'])).stdout;
    assert.ok(!filters.includes(`vms-fw-${vm.name}`), 'reaped with the disposable');
  });

  test('a domain with VMs cannot be deleted; without them it can', async () => {
    const refused = await t.vms(['network', 'delete', A, '--yes']);
    assert.equal(refused.exitCode, 1);
    assert.match(refused.stderr, /is used by (a1, a2|a2, a1):/);
    for (const c of [a1, a2, b1]) c.close();
    await Promise.all(['a1', 'a2', 'b1'].map((n) => t.engine.kill(n)));
    for (const name of ['a1', 'a2', 'b1']) assert.equal((await t.vms(['delete', name, '--yes', '--force'])).exitCode, 0, name);
    const filters = (await execa('virsh', ['-c', URI, 'nwfilter-list'])).stdout;
    assert.ok(!/vms-fw-(a1|a2|b1)\b/.test(filters), 'deleting a VM removes its filters');
    assert.equal((await t.vms(['network', 'delete', B, '--yes'])).exitCode, 0);
    assert.equal((await t.engine.networks()).some((n) => n.label === B), false);
  });
});
