import { VmsError } from '../errors.js';
import type { Libvirt } from './connection.js';
import { isLibvirtError } from './errors.js';

/**
 * Running a program in a guest through its QEMU guest agent (`guest-exec`, then `guest-exec-status` until
 * it has exited), by libvirt's agent API: whoever may manage the VM in libvirt may do it, over a remote
 * URI too, and nobody else.
 */

export interface GuestExecRequest {
  /** Absolute path of the program in the guest. */
  path: string;
  args?: string[];
  /** The program's whole environment (`NAME=value`); the agent passes nothing else. */
  env?: string[];
  /** Bytes for its standard input. */
  input?: Buffer;
  /** How long the program may run. */
  timeoutMs?: number;
}

export interface GuestExecResult {
  exitCode: number;
  stdout: Buffer;
  stderr: Buffer;
}

/** The guest agent does not answer: the VM is still booting, or has no agent. */
export class GuestAgentUnavailableError extends VmsError {}

/** Arguments for `guest-exec`. Pure. */
export function guestExecCommand(request: GuestExecRequest): string {
  return JSON.stringify({
    execute: 'guest-exec',
    arguments: {
      path: request.path,
      arg: request.args ?? [],
      ...(request.env ? { env: request.env } : {}),
      ...(request.input ? { 'input-data': request.input.toString('base64') } : {}),
      'capture-output': true,
    },
  });
}

interface ExecStatus {
  exited: boolean;
  exitcode?: number;
  signal?: number;
  'out-data'?: string;
  'err-data'?: string;
}

/** The agent's `{"return": …}`, or a VmsError naming what it said instead. Pure. */
export function agentReturn<T>(text: string): T {
  let reply: { return?: T; error?: { desc?: string } };
  try {
    reply = JSON.parse(text) as typeof reply;
  } catch (error) {
    throw new VmsError(`The guest agent answered something that is not JSON: ${text.slice(0, 80)}`, { cause: error });
  }
  if (reply.return === undefined) throw new VmsError(`The guest agent refused: ${reply.error?.desc ?? text.slice(0, 80)}`);
  return reply.return;
}

async function agentCommand(lv: Libvirt, domain: string, json: string, ownProcess: boolean): Promise<string> {
  try {
    return await lv.run(['qemu-agent-command', domain, json], { ownProcess });
  } catch (error) {
    if (isLibvirtError(error, 'no-agent')) {
      throw new GuestAgentUnavailableError(`The guest agent of "${domain}" does not answer: wait until the VM has booted (it needs qemu-guest-agent), then try again.`, { cause: error });
    }
    throw error;
  }
}

export async function guestExec(lv: Libvirt, domain: string, request: GuestExecRequest): Promise<GuestExecResult> {
  // Input travels inside the command: a process of its own, so a long line never goes through the shell.
  const started = agentReturn<{ pid: number }>(await agentCommand(lv, domain, guestExecCommand(request), Boolean(request.input && request.input.length > 1024)));
  const deadline = Date.now() + (request.timeoutMs ?? 30_000);
  for (let wait = 20; ; wait = Math.min(wait * 2, 250)) {
    const status = agentReturn<ExecStatus>(await agentCommand(lv, domain, JSON.stringify({ execute: 'guest-exec-status', arguments: { pid: started.pid } }), false));
    if (status.exited) {
      return {
        exitCode: status.exitcode ?? 128 + (status.signal ?? 0),
        stdout: Buffer.from(status['out-data'] ?? '', 'base64'),
        stderr: Buffer.from(status['err-data'] ?? '', 'base64'),
      };
    }
    if (Date.now() > deadline) throw new VmsError(`${request.path} in "${domain}" did not finish within ${Math.round((request.timeoutMs ?? 30_000) / 1000)} s.`);
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
