import { randomBytes } from 'node:crypto';
import type { EngineContext } from '../context.js';
import { VmsError } from '../errors.js';
import { getVm } from '../inventory.js';
import { guestExec, type GuestExecResult } from '../libvirt/guest-agent.js';
import { decide, explainDecision, type PolicyRequest, type VmFacts } from '../rpc/policy.js';
import { loadPolicy } from '../rpc/policy-files.js';
import { appendRpcLog, type RpcLogEntry } from '../rpc/rpc-log.js';
import { CLIPBOARD_COPY_SERVICE, CLIPBOARD_PASTE_SERVICE } from '../rpc/rpc-names.js';
import type { VmInfo } from '../types.js';
import { clearBuffer, clipboardBufferPath, newEntry, readBuffer, writeBuffer, type ClipboardEntry } from './buffer.js';
import { focusedVm } from './focus.js';
import { notify, vmMarkup } from './notify.js';

/**
 * The controlled clipboard (docs/clipboard.md), as in Qubes: `copy` takes the X clipboard of one VM into
 * a buffer the host holds, `paste` puts it into another VM and empties the buffer. A VM's clipboard is
 * read only by an explicit copy, and a paste is decided by the rpc policy's service vms.ClipboardPaste
 * (SOURCE = the VM copied from, TARGET = the VM pasted into). Both run the guest's services of those names
 * (assets/guest-rpc/rpc.d) through the VM's guest agent, as the desktop user may through libvirt.
 */

export interface ClipboardOptions {
  /** The VM; by default the one whose viewer window has focus. */
  vm?: string;
  /** The desktop's environment (DISPLAY, HYPRLAND_INSTANCE_SIGNATURE, XDG_RUNTIME_DIR, the policy's folders). */
  env?: NodeJS.ProcessEnv;
  /** Asks the user about a paste the policy says `ask` for; without it such a paste is refused. */
  ask?: (question: { source: string; target: string; rule: string }) => Promise<boolean>;
  /** Desktop notifications (on by default). */
  notify?: boolean;
}

/** How a guest service's exit status reads to the user. Pure. */
export function guestClipboardProblem(vm: string, result: Pick<GuestExecResult, 'exitCode' | 'stderr'>, limitBytes: number): string | undefined {
  switch (result.exitCode) {
    case 0: return undefined;
    case 3: return `The clipboard of "${vm}" is empty: copy some text in the VM first.`;
    case 4: return `"${vm}" has no desktop running (no X display): wait until it has started, or log in.`;
    case 5: return `The clipboard of "${vm}" holds more than ${limitBytes} bytes, the limit: copy less.`;
    case 126: case 127: return `"${vm}" has no vms clipboard service: rebuild its template with this version of vms.`;
    default: return `The clipboard service of "${vm}" failed (exit ${result.exitCode}): ${result.stderr.toString('utf8').trim().split('\n').pop() ?? ''}`;
  }
}

function bufferPath(ctx: EngineContext, env: NodeJS.ProcessEnv): string {
  return clipboardBufferPath(env, ctx.config.stateDir);
}

/** The named VM, or the focused one; running, and (when found by its window) of the label its title shows. */
async function resolveVm(ctx: EngineContext, options: ClipboardOptions): Promise<VmInfo> {
  const env = options.env ?? process.env;
  const focused = options.vm === undefined ? await focusedVm(env) : undefined;
  const vm = await getVm(ctx, options.vm ?? focused!.name);
  if (focused && vm.meta.label !== focused.label) {
    throw new VmsError(`The focused window says "[${focused.label}] ${focused.name}", but "${vm.name}" is in ${vm.meta.label}: close that window and open the VM's viewer again.`);
  }
  if (vm.state !== 'running') throw new VmsError(`"${vm.name}" is ${vm.state}: start it first (vms start ${vm.name}).`);
  return vm;
}

function serviceRequest(service: string, env: Record<string, string>, input?: Buffer) {
  return {
    path: `/etc/vms/rpc.d/${service}`,
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/bin', `VMS_RPC_SERVICE=${service}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)],
    input,
    timeoutMs: 20_000,
  };
}

async function log(ctx: EngineContext, entry: Omit<RpcLogEntry, 'time' | 'id'>): Promise<void> {
  await appendRpcLog(ctx.config.stateDir, { time: new Date().toISOString(), id: randomBytes(6).toString('hex'), ...entry }).catch(() => undefined);
}

/** Takes the VM's X clipboard into the host's buffer (replacing what was there). */
export async function clipboardCopy(ctx: EngineContext, options: ClipboardOptions = {}): Promise<ClipboardEntry> {
  const env = options.env ?? process.env;
  const started = Date.now();
  const vm = await resolveVm(ctx, options);
  const limit = ctx.config.clipboardLimitBytes;
  const result = await guestExec(ctx.libvirt, vm.name, serviceRequest(CLIPBOARD_COPY_SERVICE, { VMS_CLIPBOARD_LIMIT: String(limit) }));
  const problem = guestClipboardProblem(vm.name, result, limit) ?? (result.stdout.length > limit ? `The clipboard of "${vm.name}" holds more than ${limit} bytes, the limit: copy less.` : undefined);
  const base = { service: CLIPBOARD_COPY_SERVICE, source: vm.name, target: '@host', decision: 'allow' as const, bytesIn: 0, bytesOut: result.stdout.length };
  if (problem) {
    await log(ctx, { ...base, exitCode: result.exitCode, error: problem, ms: Date.now() - started });
    throw new VmsError(problem);
  }
  const entry = newEntry(vm.name, vm.meta.label, result.stdout.toString('utf8'), Date.now(), ctx.config.clipboardKeepSeconds);
  await writeBuffer(bufferPath(ctx, env), entry);
  await log(ctx, { ...base, exitCode: 0, ms: Date.now() - started });
  if (options.notify !== false) {
    await notify('Copied to the vms clipboard', `${Buffer.byteLength(entry.text)} bytes from ${vmMarkup({ name: vm.name, label: vm.meta.label, color: vm.meta.color })}; paste within ${ctx.config.clipboardKeepSeconds} s`, { iconColor: vm.meta.color, env });
  }
  return entry;
}

export interface PasteResult {
  entry: ClipboardEntry;
  target: string;
}

function facts(vm: VmInfo): VmFacts {
  return { name: vm.name, label: vm.meta.label, kind: vm.meta.kind, template: vm.meta.template };
}

/** Puts the host's buffer into the VM's X clipboard, if the policy allows, and empties the buffer. */
export async function clipboardPaste(ctx: EngineContext, options: ClipboardOptions = {}): Promise<PasteResult> {
  const env = options.env ?? process.env;
  const started = Date.now();
  const path = bufferPath(ctx, env);
  const entry = await readBuffer(path);
  if (!entry) throw new VmsError('The vms clipboard is empty (nothing copied, already pasted, or cleared after its time): copy in a VM first (vms clipboard copy).');
  const target = await resolveVm(ctx, options);
  const sourceVm = await getVm(ctx, entry.source).catch(() => undefined);
  const request: PolicyRequest = {
    service: CLIPBOARD_PASTE_SERVICE,
    source: sourceVm ? facts(sourceVm) : { name: entry.source, label: entry.label, kind: 'appvm' },
    target: target.name,
    targetVm: facts(target),
  };
  const { rules, errors } = await loadPolicy(env);
  if (errors.length > 0) throw errors[0];
  // A paste no line of the user's mentions is allowed by vms's built-in rule (policy.ts, BUILT_IN_RULES).
  const decision = decide(rules, request);
  const rule = decision.rule && decision.rule.line > 0 ? `${decision.rule.file}:${decision.rule.line}` : undefined;
  const base = { service: CLIPBOARD_PASTE_SERVICE, source: entry.source, target: target.name, decision: decision.action, rule, bytesIn: Buffer.byteLength(entry.text), bytesOut: 0 };
  const refuse = async (reason: string): Promise<never> => {
    await log(ctx, { ...base, error: reason, ms: Date.now() - started });
    throw new VmsError(reason);
  };
  if (decision.action === 'deny') await refuse(`The policy refuses pasting from "${entry.source}" into "${target.name}" (${explainDecision(decision, request).replace(/^.*: deny/, 'deny')}).`);
  if (decision.action === 'ask') {
    if (!options.ask) await refuse(`The policy asks before pasting from "${entry.source}" into "${target.name}" (${rule}), and only the tray app can ask: use its Paste item, or change that line.`);
    if (!(await options.ask!({ source: entry.source, target: target.name, rule: rule! }))) await refuse('You said no: nothing was pasted.');
  }
  const result = await guestExec(ctx.libvirt, target.name, serviceRequest(CLIPBOARD_PASTE_SERVICE,
    { VMS_RPC_SOURCE: entry.source, VMS_CLIPBOARD_LIMIT: String(ctx.config.clipboardLimitBytes) }, Buffer.from(entry.text, 'utf8')));
  const problem = guestClipboardProblem(target.name, result, ctx.config.clipboardLimitBytes);
  if (problem) await refuse(problem);
  await clearBuffer(path, entry.id);
  await log(ctx, { ...base, exitCode: 0, ms: Date.now() - started });
  if (options.notify !== false) {
    const from = sourceVm ? { name: sourceVm.name, label: sourceVm.meta.label, color: sourceVm.meta.color } : { name: entry.source, label: entry.label };
    await notify('Pasted from the vms clipboard', `${base.bytesIn} bytes from ${vmMarkup(from)} into ${vmMarkup({ name: target.name, label: target.meta.label, color: target.meta.color })}; the vms clipboard is empty again`, { iconColor: target.meta.color, env });
  }
  return { entry, target: target.name };
}

/** Empties the host's buffer (only if it still holds copy `id`, when given). */
export async function clipboardClear(ctx: EngineContext, options: { id?: string; env?: NodeJS.ProcessEnv } = {}): Promise<boolean> {
  return clearBuffer(bufferPath(ctx, options.env ?? process.env), options.id);
}

/** What the host's buffer holds now (without the text). */
export async function clipboardStatus(ctx: EngineContext, env: NodeJS.ProcessEnv = process.env): Promise<Omit<ClipboardEntry, 'text'> & { bytes: number } | undefined> {
  const entry = await readBuffer(bufferPath(ctx, env));
  if (!entry) return undefined;
  const { text, ...rest } = entry;
  return { ...rest, bytes: Buffer.byteLength(text) };
}
