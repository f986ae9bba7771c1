import { join } from 'node:path';
import type { Engine } from '../index.js';
import { withNameLock } from '../name-lock.js';
import { serveHostCalls } from './host-socket.js';
import { startRpcService, type RpcServiceOptions } from './rpcd.js';

/** The lock the one rpcd of a user holds (two would take each other's consoles); no VM name starts with _. */
export const RPCD_LOCK = '_rpcd';

/** Where the running rpcd takes host calls (`vms copy-to`, `vms run`). */
export function rpcdSocketPath(stateDir: string): string {
  return join(stateDir, 'rpcd.sock');
}

/**
 * Runs the rpc service of this user until `until` resolves: under rpcd's lock (NameBusyError when another
 * runs: the tray app, `vms rpcd`, or a host call made while neither ran), with its socket for host calls.
 * The CLI's `vms rpcd` and the tray app both run it.
 */
export async function runRpcDaemon(engine: Engine, options: RpcServiceOptions & { onReady?: () => void }, until: Promise<void>): Promise<void> {
  await withNameLock(engine.ctx.layout.lock(RPCD_LOCK), 'rpcd', async () => {
    const service = startRpcService(engine, options);
    const server = await serveHostCalls(rpcdSocketPath(engine.config.stateDir), service.hostCall).catch((error: Error) => {
      service.stop();
      throw error;
    });
    try {
      await service.ready;
      options.onReady?.();
      await until;
    } finally {
      server.close();
      service.stop();
    }
  });
}
