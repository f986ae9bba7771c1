import { openSync, constants, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import tty from 'node:tty';
import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { ttyConsole } from './tools/virsh.js';

/**
 * A VM's serial console without a terminal: `vms console NAME` bridges its own stdin and stdout to the
 * console's pty, so scripts and other programs can drive a guest's shell (`virsh console` refuses to run
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

/** Writes all of `data` to a non-blocking fd, waiting while the pty is full. */
function writeAll(fd: number, data: Buffer): void {
  let offset = 0;
  while (offset < data.length) {
    try {
      offset += writeSync(fd, data, offset);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
}

/**
 * Connects `input` and `output` to a running VM's serial console until Ctrl+] arrives, or the input ends and
 * the guest has gone quiet, or the VM stops. Returns 0 on a detach or end of input, 1 when the VM stopped.
 */
export async function bridgeConsole(ctx: EngineContext, name: string, input: NodeJS.ReadableStream, output: NodeJS.WritableStream, options: BridgeOptions = {}): Promise<number> {
  const path = (await ttyConsole(ctx.config.uri, name)).trim();
  if (!path.startsWith('/dev/')) throw new VmsError(`"${name}" has no serial console on a pty: see \`virsh dumpxml ${name}\`.`);
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY);
  const pty = new tty.ReadStream(fd);
  // Raw, so the host side of the pty neither echoes the guest's output back nor changes line ends.
  pty.setRawMode(true);
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
      pty.destroy();
      resolve(code);
    };
    const armQuiet = () => {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => finish(0), options.quietMs ?? 1000);
    };
    const onInput = (chunk: Buffer | string) => {
      const data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const detach = data.indexOf(DETACH_KEY);
      if (detach >= 0) {
        if (detach > 0) writeAll(fd, data.subarray(0, detach));
        finish(0);
        return;
      }
      writeAll(fd, data);
    };
    const onEnd = () => {
      inputEnded = true;
      armQuiet();
      drainTimer = setTimeout(() => finish(0), options.drainMs ?? 15_000);
    };
    pty.on('data', (chunk: Buffer) => {
      output.write(chunk);
      if (inputEnded) armQuiet();
    });
    // EIO: QEMU closed the pty, the VM stopped.
    pty.on('error', () => finish(1));
    pty.on('close', () => finish(finished ? 0 : 1));
    input.on('data', onInput);
    input.on('end', onEnd);
  });
}

/**
 * The serial console log, oldest first: virtlogd rotates it (`console.log.2`, `.1`, `.0`, then the current
 * file), and every boot appends to it.
 */
export async function readConsoleLog(ctx: EngineContext, name: string): Promise<string | undefined> {
  const path = ctx.layout.consoleLog(name);
  const parts: string[] = [];
  for (const file of [`${path}.2`, `${path}.1`, `${path}.0`, path]) {
    try {
      parts.push(await readFile(file, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return parts.length > 0 ? parts.join('') : undefined;
}
