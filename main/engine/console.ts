import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { domainStatus } from './libvirt/domains.js';
import { openConsoleStream } from './libvirt/console-stream.js';
import { isLibvirtError } from './libvirt/errors.js';
import { downloadVolume, refreshPool } from './libvirt/storage.js';
import { ensureVmsPool } from './storage/pool.js';

/**
 * A VM's serial console without a terminal: `vms console NAME` bridges its own stdin and stdout to the
 * console, so scripts and other programs can drive a guest's shell (`virsh console` refuses to run
 * without a controlling tty).
 */

/** Ctrl+], the key `virsh console` detaches on. */
export const DETACH_KEY = 0x1d;

export interface BridgeOptions {
  /** After the input ends, wait until the guest has been quiet this long, then return (default 1 s). */
  quietMs?: number;
  /** …but no longer than this after the input ended (default 15 s). */
  drainMs?: number;
}

/**
 * Connects `input` and `output` to a running VM's serial console until Ctrl+] arrives, or the input ends and
 * the guest has gone quiet, or the VM stops. Returns 0 on a detach or end of input, 1 when the VM stopped.
 * Goes through libvirt's console stream, so it needs no rights on QEMU's pty.
 */
export async function bridgeConsole(ctx: EngineContext, name: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, options: BridgeOptions = {}): Promise<number> {
  const status = await domainStatus(ctx.libvirt, name);
  if (!status || status.state !== 'running') throw new VmsError(`"${name}" is not running: start it first (vms start ${name}).`);
  const stream = openConsoleStream(ctx.libvirt, name);
  return new Promise<number>((resolve) => {
    let finished = false;
    let quietTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    let inputEnded = false;
    const finish = (code: number) => {
      if (finished) return;
      finished = true;
      clearTimeout(quietTimer);
      clearTimeout(drainTimer);
      input.removeListener('data', onInput);
      input.removeListener('end', onEnd);
      // Stop reading, so an open stdin does not keep the process alive.
      input.pause();
      stream.close();
      resolve(code);
    };
    const armQuiet = () => {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => finish(0), options.quietMs ?? 1000);
    };
    const send = (data: Buffer) => stream.write(data);
    const onInput = (chunk: Buffer | string) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const detach = data.indexOf(DETACH_KEY);
      if (detach >= 0) {
        if (detach > 0) send(data.subarray(0, detach));
        finish(0);
        return;
      }
      send(data);
    };
    const onEnd = () => {
      inputEnded = true;
      armQuiet();
      drainTimer = setTimeout(() => finish(0), options.drainMs ?? 15_000);
    };
    stream.onData((chunk) => {
      output.write(chunk);
      if (inputEnded) armQuiet();
    });
    // virsh ended by itself: the VM stopped (or the connection went).
    void stream.ended.then(() => finish(1));
    input.on('data', onInput);
    input.on('end', onEnd);
  });
}

/**
 * The serial console log, oldest first: virtlogd rotates it (`console.log.2`, `.1`, `.0`, then the current
 * file), and every boot appends to it.
 */
export async function readConsoleLog(ctx: EngineContext, name: string): Promise<string | undefined> {
  // virtlogd (root) writes the log into vms's pool: read through libvirt, which works without rights on
  // the folder and over qemu+ssh:// too. A refresh makes the files virtlogd made visible as volumes.
  await ensureVmsPool(ctx);
  await refreshPool(ctx.libvirt, ctx.layout.pool);
  const log = ctx.layout.consoleLogVolume(name);
  const parts: string[] = [];
  for (const volume of [`${log}.2`, `${log}.1`, `${log}.0`, log]) {
    try {
      parts.push((await downloadVolume(ctx.libvirt, ctx.layout.pool, volume)).toString('utf8'));
    } catch (error) {
      if (!isLibvirtError(error, 'not-found')) throw error;
    }
  }
  return parts.length > 0 ? parts.join('') : undefined;
}
