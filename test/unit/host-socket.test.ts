import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { VmsError } from '../../main/engine/errors.js';
import { callThroughSocket, serveHostCalls } from '../../main/engine/rpc/host-socket.js';
import type { HostCallIo, HostCallRequest } from '../../main/engine/rpc/rpcd.js';

/** The socket between a host command (`vms copy-to`, `vms run`) and the running rpcd, on a real unix socket. */

async function* chunks(...parts: string[]): AsyncIterable<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

describe('host calls through rpcd\'s socket', () => {
  it('carries the request, the input and the output, and the exit status; the socket is the user\'s only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vms-socket-'));
    const path = join(dir, 'rpcd.sock');
    const seen: HostCallRequest[] = [];
    const server = await serveHostCalls(path, async (request: HostCallRequest, io: HostCallIo) => {
      seen.push(request);
      let input = '';
      for await (const chunk of io.input ?? []) input += chunk.toString();
      io.output(Buffer.from(input.toUpperCase()));
      io.output(Buffer.from([0, 255, 10]));
      return 7;
    });
    try {
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      const out: Buffer[] = [];
      const big = 'x'.repeat(300_000);
      const code = await callThroughSocket(path, { target: 'mail', service: 'vms.Run', arg: "echo 'hi'" }, { input: chunks('abc', big), output: (b) => out.push(b) });
      assert.equal(code, 7);
      assert.deepEqual(seen, [{ target: 'mail', service: 'vms.Run', arg: "echo 'hi'", declaredSize: undefined }]);
      const all = Buffer.concat(out);
      assert.equal(all.subarray(0, all.length - 3).toString(), `ABC${big.toUpperCase()}`);
      assert.deepEqual([...all.subarray(-3)], [0, 255, 10], 'bytes come through as they are');
    } finally {
      server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rpcd\'s refusal comes back as its one line; no rpcd listening is undefined', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vms-socket-'));
    const path = join(dir, 'rpcd.sock');
    try {
      assert.equal(await callThroughSocket(path, { target: 'mail', service: 'vms.Ping' }, { output: () => undefined }), undefined);
      const server = await serveHostCalls(path, async () => { throw new VmsError('mail is shut off: start it first.'); });
      await assert.rejects(callThroughSocket(path, { target: 'mail', service: 'vms.Ping' }, { output: () => undefined }), (error: Error) => error instanceof VmsError && error.message === 'mail is shut off: start it first.');
      await new Promise((resolve) => server.close(resolve));
      assert.equal(await callThroughSocket(path, { target: 'mail', service: 'vms.Ping' }, { output: () => undefined }), undefined, 'rpcd stopped');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
