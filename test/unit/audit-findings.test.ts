import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatCheckReport } from '../../main/cli/commands/check.js';
import { auditFindings, problemsOf, type AuditInput, type FindingKind } from '../../main/engine/audit-findings.js';
import { neededVolumes } from '../../main/engine/storage/garbage.js';
import type { VolumeInfo } from '../../main/engine/xml/storage-xml.js';

/** `vms check`'s pure judgement: each kind of finding from a hand-made state, and a clean state that has none. */

const volume = (name: string, backing?: string, readOnly = false): VolumeInfo => ({
  name, path: `/p/${name}`, format: 'qcow2', capacity: 1, allocation: 1, backingPath: backing && (backing.startsWith('/') ? backing : `/p/${backing}`), readOnly,
});

function domain(name: string, disks: string[], options: { meta?: string; nvram?: string; filter?: string; network?: string; mac?: string; cache?: string; state?: string } = {}) {
  const meta = options.meta ?? `<vms:kind>appvm</vms:kind><vms:label>work</vms:label><vms:template>arch</vms:template>`;
  return {
    name,
    state: options.state ?? 'shut off',
    xml: `<domain><name>${name}</name><metadata><vms:vm xmlns:vms='urn:vms:metadata:1'>${meta}</vms:vm></metadata>`
      + `<os><nvram>/p/${options.nvram ?? `${name}.nvram.fd`}</nvram></os><devices>`
      + disks.map((d, i) => `<disk type='volume' device='disk'><source pool='vms' volume='${d}'/><target dev='vd${'ab'[i]}'/></disk>`).join('')
      + (options.network ? `<interface type='network'><mac address='${options.mac ?? '52:54:00:00:00:0a'}'/><source network='${options.network}'/><filterref filter='${options.filter ?? `vms-fw-${name}`}'/></interface>` : '')
      + `<filesystem><source dir='/pkg/${options.cache ?? name}'/><target dir='pkg-vm'/></filesystem>`
      + `<serial type='pty'><log file='/p/${name}.console.log'/></serial></devices></domain>`,
  };
}

const template = domain('arch', ['arch.work.qcow2'], { meta: '<vms:kind>template</vms:kind><vms:label>template</vms:label><vms:imageVersion>1</vms:imageVersion>' });

function input(overrides: Partial<AuditInput> = {}): AuditInput {
  return {
    pool: 'vms',
    poolDir: '/p',
    volumes: [volume('_home-1.qcow2', undefined, true), volume('arch.v1.qcow2', undefined, true), volume('arch.work.qcow2', 'arch.v1.qcow2'), volume('arch.nvram.fd'),
      volume('mail.root.qcow2', 'arch.v1.qcow2'), volume('mail.home.aaaaaa.qcow2', '_home-1.qcow2'), volume('mail.nvram.fd')],
    domains: [template, domain('mail', ['mail.root.qcow2', 'mail.home.aaaaaa.qcow2'], { network: 'vms-work' })],
    busy: new Set(),
    journal: { pending: [], disposable: [], updating: [] },
    staleLocks: [],
    pools: ['vms', 'vms-pkg-shared', 'vms-pkg-arch', 'vms-pkg-mail', 'other-pkg-gone'],
    filters: ['vms-host-online', 'vms-fw-mail', 'vms-fw-mail-rules', 'clean-traffic'],
    networks: [{ name: 'vms-work', label: 'work', hosts: [{ mac: '52:54:00:00:00:0a', ip: '10.231.1.10', name: 'mail' }] }],
    vmCacheDir: (vm) => `/pkg/${vm}`,
    ...overrides,
  };
}

const kinds = (i: AuditInput): Array<[FindingKind, string]> => auditFindings(i).map((f) => [f.kind, f.subject]);

test('a consistent state has no findings', () => {
  assert.deepEqual(auditFindings(input()), []);
});

test('leftovers of a gone VM: its volumes, cache pool and filters, each with what --fix does', () => {
  const base = input();
  const findings = auditFindings(input({
    volumes: [...base.volumes, volume('gone.root.qcow2', 'arch.v1.qcow2'), volume('gone.nvram.fd')],
    pools: [...base.pools, 'vms-pkg-gone'],
    filters: [...base.filters, 'vms-fw-gone', 'vms-fw-gone-rules'],
  }));
  assert.deepEqual(findings.map((f) => [f.kind, f.subject, f.vm, f.fixable]), [
    ['unused-volume', 'gone.root.qcow2', 'gone', true],
    ['unused-volume', 'gone.nvram.fd', 'gone', true],
    ['orphan-cache', 'vms-pkg-gone', 'gone', true],
    ['orphan-filter', 'vms-fw-gone', 'gone', true],
    ['orphan-filter', 'vms-fw-gone-rules', 'gone', true],
  ]);
  assert.ok(findings.every((f) => /^fix: /.test(f.remedy)));
});

test('a name a live command holds is work under way, not a leftover', () => {
  const base = input();
  assert.deepEqual(kinds(input({
    busy: new Set(['new']),
    volumes: [...base.volumes, volume('new.root.qcow2', 'arch.v1.qcow2')],
    pools: [...base.pools, 'vms-pkg-new'],
    filters: [...base.filters, 'vms-fw-new'],
    journal: { pending: ['new'], disposable: [], updating: [] },
  })), []);
});

test('a lost disk needs a decision; lost UEFI variables of a running VM are only a note', () => {
  const base = input();
  const findings = auditFindings(input({
    volumes: base.volumes.filter((v) => v.name !== 'mail.home.aaaaaa.qcow2' && v.name !== 'mail.nvram.fd'),
    domains: [template, domain('mail', ['mail.root.qcow2', 'mail.home.aaaaaa.qcow2'], { network: 'vms-work', state: 'running' })],
  }));
  assert.deepEqual(findings.map((f) => [f.kind, f.subject, f.fixable, f.informational ?? false]), [
    ['missing-disk', 'mail.home.aaaaaa.qcow2', false, false],
    ['missing-nvram', 'mail.nvram.fd', false, true],
  ]);
  assert.match(findings[0].remedy, /vms delete mail --yes/);
  assert.equal(problemsOf(findings).length, 1);
});

test('a never-started VM without UEFI variables is normal', () => {
  const base = input();
  assert.deepEqual(kinds(input({ volumes: base.volumes.filter((v) => v.name !== 'mail.nvram.fd') })), []);
});

test('backing chains: gone, outside the pool, into another VM’s writable disk; writable template versions', () => {
  const base = input();
  assert.deepEqual(kinds(input({
    volumes: [...base.volumes.map((v) => (v.name === 'arch.v1.qcow2' ? { ...v, readOnly: false } : v)),
      volume('x.root.qcow2', 'lost.v1.qcow2'), volume('y.root.qcow2', '/home/u/image.qcow2'), volume('z.root.qcow2', 'mail.home.aaaaaa.qcow2')],
    domains: [...base.domains, domain('x', ['x.root.qcow2']), domain('y', ['y.root.qcow2']), domain('z', ['z.root.qcow2'])],
  })), [
    ['broken-chain', 'x.root.qcow2'],
    ['chain-outside-pool', 'y.root.qcow2'],
    ['chain-into-top', 'z.root.qcow2'],
    ['writable-template-version', 'arch.v1.qcow2'],
  ]);
});

test('metadata edited by hand: no valid kind, a bad label, a template that does not exist', () => {
  const base = input();
  const broken = (name: string, meta: string) => domain(name, [`${name}.root.qcow2`], { meta });
  assert.deepEqual(auditFindings(input({
    volumes: [...base.volumes, ...['b1', 'b2', 'b3', 'b4'].map((n) => volume(`${n}.root.qcow2`, 'arch.v1.qcow2'))],
    domains: [...base.domains,
      broken('b1', '<vms:kind>banana</vms:kind>'),
      broken('b2', '<vms:kind>appvm</vms:kind><vms:label>Work Stuff!</vms:label><vms:template>arch</vms:template>'),
      broken('b3', '<vms:kind>appvm</vms:kind><vms:label>work</vms:label><vms:template>nope</vms:template>'),
      broken('b4', '<vms:kind>template</vms:kind><vms:label>template</vms:label><vms:imageVersion>x</vms:imageVersion>')],
  })).map((f) => [f.kind, f.subject, f.fixable]), [
    ['bad-metadata', 'b1', false], ['bad-metadata', 'b2', false], ['bad-metadata', 'b3', false], ['bad-metadata', 'b4', false],
  ]);
});

test('a domain renamed with virsh keeps its disks, NVRAM, log, cache and filter; check says to rename it back', () => {
  const renamed = domain('post', ['mail.root.qcow2', 'mail.home.aaaaaa.qcow2'], { network: 'vms-work', filter: 'vms-fw-mail', cache: 'mail', nvram: 'mail.nvram.fd' });
  renamed.xml = renamed.xml.replace('/p/post.console.log', '/p/mail.console.log');
  const base = input();
  const volumes = [...base.volumes, volume('mail.console.log')];
  const findings = auditFindings(input({ volumes, domains: [template, renamed] }));
  assert.deepEqual(findings.map((f) => [f.kind, f.subject]), [['renamed-domain', 'post']]);
  assert.match(findings[0].remedy, /virsh domrename post mail/);
  // The garbage collection keeps what the renamed domain names by path.
  const needed = neededVolumes(volumes, [template, renamed], 'vms');
  assert.ok(needed.has('mail.nvram.fd') && needed.has('mail.console.log'));
});

test('journal entries and locks a killed command left; running work is not stale', () => {
  const base = input();
  const running = domain('disp1234', ['disp1234.root.qcow2'], { meta: '<vms:kind>disposable</vms:kind><vms:label>disposable</vms:label><vms:template>arch</vms:template>', state: 'running' });
  assert.deepEqual(kinds(input({
    volumes: [...base.volumes, volume('disp1234.root.qcow2', 'arch.v1.qcow2'), volume('disp1234.nvram.fd')],
    domains: [...base.domains, running],
    journal: { pending: ['half'], disposable: ['disp1234', 'disp9999'], updating: ['arch', 'gonetpl'] },
    staleLocks: ['half.lock', 'mail.lock.123.0'],
  })), [
    ['stale-journal', 'pending/half'],
    ['stale-journal', 'disposable/disp9999'],
    ['stale-journal', 'updating/arch'],
    ['stale-journal', 'updating/gonetpl'],
    ['stale-lock', 'locks/half.lock'],
    ['stale-lock', 'locks/mail.lock.123.0'],
  ]);
});

test('a fixed address no VM’s network card has is stale; one a VM renamed behind vms’s back or a command under way has is not', () => {
  const mail = { mac: '52:54:00:00:00:0a', ip: '10.231.1.10', name: 'mail' };
  const gone = { mac: '52:54:00:00:00:0b', ip: '10.231.1.11', name: 'gone' };
  const remade = { mac: '52:54:00:00:00:0c', ip: '10.231.1.12', name: 'mail' };
  const elsewhere = { mac: '52:54:00:00:00:0a', ip: '10.231.2.10', name: 'mail' };
  const findings = auditFindings(input({ networks: [
    { name: 'vms-work', label: 'work', hosts: [mail, gone, remade] },
    { name: 'vms-hobby', label: 'hobby', hosts: [elsewhere] },
  ] }));
  assert.deepEqual(findings.filter((f) => f.kind === 'stale-dhcp-host').map((f) => [f.subject, f.vm, f.fixable]), [
    ['vms-work/10.231.1.11/52:54:00:00:00:0b', 'gone', true],
    ['vms-work/10.231.1.12/52:54:00:00:00:0c', 'mail', true],
    ['vms-hobby/10.231.2.10/52:54:00:00:00:0a', 'mail', true],
  ], 'a VM gone; its name on another MAC; its MAC on a network it is not on');
  assert.match(findings.find((f) => f.vm === 'gone')!.problem, /^network vms-work keeps the address 10\.231\.1\.11 for VM gone \(52:54:00:00:00:0b\), which no VM's network card has$/);
  const renamed = domain('newname', ['mail.root.qcow2', 'mail.home.aaaaaa.qcow2'], { network: 'vms-work' });
  assert.deepEqual(kinds(input({ domains: [template, renamed] })).filter(([k]) => k === 'stale-dhcp-host'), [], 'renamed: still its MAC');
  assert.deepEqual(kinds(input({ busy: new Set(['gone']), networks: [{ name: 'vms-work', label: 'work', hosts: [mail, gone] }] })), [], 'under way');
  assert.deepEqual(kinds(input({ networks: [{ name: 'vms-work', label: 'work', hosts: [mail, gone] }] })), [['stale-dhcp-host', 'vms-work/10.231.1.11/52:54:00:00:00:0b']]);
});

test('an unused label network is a note only; check prints one line per finding', () => {
  const base = input();
  const findings = auditFindings(input({ networks: [...base.networks, { name: 'vms-hobby', label: 'hobby', hosts: [] }] }));
  assert.deepEqual(findings.map((f) => [f.kind, f.informational]), [['unused-network', true]]);
  assert.equal(problemsOf(findings).length, 0);
  const text = formatCheckReport({ found: findings, fixed: [], remaining: findings, clean: true }, false);
  assert.equal(text, 'note: network vms-hobby (domain hobby) is used by no VM — nothing to do; remove it with vms network delete hobby if it is not wanted\nNo problems remain.');
});

test('a template’s published version is needed by its metadata alone (a publish killed before its work disk moved); lost, it is a finding', () => {
  const base = input();
  const published = domain('arch', ['arch.work.qcow2'], { meta: '<vms:kind>template</vms:kind><vms:label>template</vms:label><vms:imageVersion>2</vms:imageVersion>' });
  const volumes = [...base.volumes, volume('arch.v2.qcow2', undefined, true)];
  assert.deepEqual(kinds(input({ volumes, domains: [published, base.domains[1]] })), []);
  assert.deepEqual(kinds(input({ domains: [published, base.domains[1]] })), [['missing-disk', 'arch.v2.qcow2']]);
});
