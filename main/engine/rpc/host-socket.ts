import { chmod, rm } from 'node:fs/promises';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { VmsError } from '../errors.js';
import type { HostCallIo, HostCallRequest, RpcService } from './rpcd.js';

/**
 * How a command on the host (`vms copy-to`, `vms run`) reaches the running rpcd, which holds every VM's
 * rpc consoles: a unix socket in the user's state folder (mode 0600), JSON lines both ways, data in base64.
 *   command → rpcd: {"call": HostCallRequest} · {"data": B64} … · {"end": true}
 *   rpcd → command: {"data": B64} … · {"exit": CODE} | {"error": "one line"}
 */

type ToRpcd = { call: HostCallRequest } | { data: string } | { end: true };
type FromRpcd = { data: string } | { exit: number } | { error: string };

/** Calls `onMessage` with each JSON line the socket receives; junk lines are dropped. */
function readMessages<T>(socket: Socket, onMessage: (message: T) => void): void {
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      try {
        onMessage(JSON.parse(line) as T);
      } catch {
        // not a message
      }
    }
  });
}

function send(socket: Socket, message: ToRpcd | FromRpcd): boolean {
  return socket.write(`${JSON.stringify(message)}\n`);
}

function checkedRequest(value: unknown): HostCallRequest | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const r = value as Record<string, unknown>;
  if (typeof r.target !== 'string' || typeof r.service !== 'string') return undefined;
  if (r.arg !== undefined && typeof r.arg !== 'string') return undefined;
  if (r.declaredSize !== undefined && !Number.isSafeInteger(r.declaredSize)) return undefined;
  return { target: r.target, service: r.service, arg: r.arg as string | undefined, declaredSize: r.declaredSize as number | undefined };
}

/** Serves host calls on `path` (a stale socket file there is replaced: the caller holds rpcd's lock). */
export async function serveHostCalls(path: string, hostCall: RpcService['hostCall']): Promise<Server> {
  await rm(path, { force: true });
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    const input = new PassThrough();
    let started = false;
    readMessages<ToRpcd>(socket, (message) => {
      if ('call' in message && !started) {
        started = true;
        const request = checkedRequest(message.call);
        if (!request) {
          send(socket, { error: 'a host call needs a target and a service' });
          socket.end();
          return;
        }
        const io: HostCallIo = { input, output: (bytes) => { send(socket, { data: bytes.toString('base64') }); } };
        hostCall(request, io).then(
          (code) => { send(socket, { exit: code }); socket.end(); },
          (error: Error) => { send(socket, { error: error.message }); socket.end(); },
        );
      } else if ('data' in message && typeof message.data === 'string') {
        // The command waits for the target's console, which takes the input at its own pace.
        if (!input.write(Buffer.from(message.data, 'base64'))) {
          socket.pause();
          input.once('drain', () => socket.resume());
        }
      } else if ('end' in message) {
        input.end();
      }
    });
    socket.on('close', () => input.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return server;
}

/**
 * Makes a host call through the running rpcd. Undefined when no rpcd listens on `path` (no socket, or a
 * stale one); the exit status of the service otherwise; a VmsError with rpcd's one line when it refused.
 */
export function callThroughSocket(path: string, request: HostCallRequest, io: HostCallIo): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let connected = false;
    let answered = false;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (!connected) return resolve(undefined);
      if (!answered) reject(new VmsError(`The connection to vms rpcd broke: ${error.message}.`));
    });
    socket.on('close', () => {
      if (connected && !answered) reject(new VmsError('vms rpcd ended the call without an answer (did it stop?).'));
    });
    readMessages<FromRpcd>(socket, (message) => {
      if ('data' in message) io.output(Buffer.from(message.data, 'base64'));
      else if ('exit' in message) { answered = true; resolve(message.exit); }
      else if ('error' in message) { answered = true; reject(new VmsError(message.error)); }
    });
    socket.on('connect', () => {
      connected = true;
      send(socket, { call: request });
      void (async () => {
        for await (const chunk of io.input ?? []) {
          if (!send(socket, { data: chunk.toString('base64') })) await new Promise((r) => socket.once('drain', r));
        }
        send(socket, { end: true });
      })().catch((error: Error) => { answered = true; socket.destroy(); reject(new VmsError(`Cannot read the input: ${error.message}.`)); });
    });
  });
}
