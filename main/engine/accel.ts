import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { probeCachePath } from './accel-cache.js';
import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { defineDomain, dumpXml } from './libvirt/domains.js';
import type { Accel } from './types.js';
import { editDomainXml, setMetadata, type DomainMutator } from './xml/domain-edit.js';
import { readDomain } from './xml/domain-read.js';
import { setAccel, setHostname } from './xml/domain-settings.js';

/**
 * KVM or TCG, chosen at every start from what works here. `/dev/kvm` being accessible does not mean KVM
 * can run a guest (nested or restricted hosts fail inside QEMU with an assertion), so a tiny QEMU is
 * started with KVM once and the verdict is cached per kernel, QEMU binary and /dev/kvm.
 */

export interface AccelChoice {
  accel: Accel;
  /** Why, for `vms info` and errors: "VMS_ACCEL", "setting", "probe: KVM runs guests", … */
  reason: string;
}

export interface KvmProbe {
  works: boolean;
  detail: string;
}

const QEMU = 'qemu-system-x86_64';
/** A working KVM guest keeps running; a broken one dies at its first instruction, within milliseconds. */
const PROBE_MS = 1500;

/** Starts a firmware-only KVM guest and watches whether it survives (about 1.5 s when KVM works). */
export async function probeKvm(): Promise<KvmProbe> {
  const child = execa(QEMU, ['-accel', 'kvm', '-machine', 'pc', '-cpu', 'host', '-m', '32', '-nodefaults', '-display', 'none', '-no-reboot', '-serial', 'none', '-monitor', 'none'], {
    reject: false, env: { LC_ALL: 'C' }, timeout: PROBE_MS, killSignal: 'SIGKILL',
  });
  const result = await child;
  if ((result as { code?: string }).code === 'ENOENT') return { works: false, detail: `${QEMU} is not installed` };
  if (result.timedOut) return { works: true, detail: 'KVM runs guests' };
  const said = String(result.stderr).split('\n').map((l) => l.replace(/^qemu-system-x86_64:\s*/, '').trim()).filter((l) => l && !/^warning:/.test(l));
  return { works: false, detail: said.at(-1) ?? `QEMU exited with ${result.exitCode}` };
}

async function probeKey(): Promise<string> {
  const kvm = await stat('/dev/kvm').then((s) => `${s.rdev}:${s.mode}:${s.uid}:${s.gid}`, () => 'none');
  const qemu = await execa('sh', ['-c', `command -v ${QEMU}`], { reject: false, env: { LC_ALL: 'C', PATH: process.env.PATH ?? '' } });
  const binary = String(qemu.stdout).trim();
  const qemuStamp = binary ? await stat(binary).then((s) => `${binary}:${s.mtimeMs}`, () => binary) : 'none';
  return `${release()}|${kvm}|${qemuStamp}`;
}

/** The cached probe, or a new one (then cached). No /dev/kvm at all means TCG without probing. */
export async function kvmVerdict(env: NodeJS.ProcessEnv = process.env): Promise<KvmProbe> {
  const key = await probeKey();
  if (key.includes('|none|')) return { works: false, detail: 'this computer has no /dev/kvm' };
  const path = probeCachePath(env);
  try {
    const cached = JSON.parse(await readFile(path, 'utf8')) as { key: string; probe: KvmProbe };
    if (cached.key === key) return cached.probe;
  } catch {
    // no cache yet, or an unreadable one: probe
  }
  const probe = await probeKvm();
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, JSON.stringify({ key, probe, at: new Date().toISOString() }));
  return probe;
}

/** Pure: VMS_ACCEL wins, then the `accel` setting, then the probe. */
export function chooseAccel(forced: { env?: string; setting?: Accel }, probe: () => Promise<KvmProbe>): Promise<AccelChoice> {
  if (forced.env === 'kvm' || forced.env === 'tcg') return Promise.resolve({ accel: forced.env, reason: 'VMS_ACCEL' });
  if (forced.env) return Promise.reject(new VmsError(`VMS_ACCEL=${forced.env} is not understood: use kvm or tcg.`));
  if (forced.setting) return Promise.resolve({ accel: forced.setting, reason: 'the accel setting' });
  return probe().then((p) => ({ accel: p.works ? 'kvm' : 'tcg', reason: `probe: ${p.detail}` }));
}

/** The accelerator a VM defined now should get (disposables start at once, without prepareForStart). */
export async function currentAccel(ctx: EngineContext): Promise<Accel> {
  return (await chooseAccel({ env: process.env.VMS_ACCEL, setting: ctx.config.accelSetting }, () => kvmVerdict())).accel;
}

/**
 * Brings a stopped VM's definition in line before it starts: the accelerator chosen now, and its
 * hostname (its name, also after a clone). Defines only when something changed.
 */
export async function prepareForStart(ctx: EngineContext, name: string): Promise<AccelChoice> {
  const choice = await chooseAccel({ env: process.env.VMS_ACCEL, setting: ctx.config.accelSetting }, () => kvmVerdict());
  const xml = await dumpXml(ctx.libvirt, name, { inactive: true });
  const meta = readDomain(xml)?.meta;
  const mutators: DomainMutator[] = [setAccel(choice.accel), setHostname(name)];
  if (meta) mutators.push(setMetadata({ ...meta, accel: choice.accel }));
  const changed = editDomainXml(xml, ...mutators);
  if (changed !== editDomainXml(xml)) await defineDomain(ctx.libvirt, changed);
  return choice;
}

/**
 * Starts a VM with the accelerator chosen for it; when KVM fails at start, says exactly what to do
 * instead of QEMU's assertion.
 */
export async function startWithAccel(ctx: EngineContext, name: string, start: () => Promise<void>): Promise<void> {
  const choice = await prepareForStart(ctx, name);
  try {
    await start();
  } catch (error) {
    // Only a failure QEMU blames on KVM gets the KVM advice; any other start error stays as it is.
    if (choice.accel !== 'kvm' || !(error instanceof VmsError) || !/kvm/i.test(error.stderr ?? '')) throw error;
    throw new VmsError(`"${name}" could not start with KVM (${choice.reason}): start it under TCG with \`VMS_ACCEL=tcg vms start ${name}\`, or make TCG the default with \`vms config set accel tcg\`; check that KVM works (lsmod | grep kvm, and the virtualization setting in the firmware).`, { cause: error, stderr: error.stderr });
  }
}
