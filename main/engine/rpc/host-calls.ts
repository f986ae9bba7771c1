import { VmsError } from '../errors.js';
import type { Engine } from '../index.js';
import { NameBusyError, withNameLock } from '../name-lock.js';
import { callThroughSocket } from './host-socket.js';
import { RPCD_LOCK, rpcdSocketPath } from './rpcd-daemon.js';
import { startRpcService, type HostCallIo, type HostCallRequest } from './rpcd.js';

/**
 * A call the host makes into a running VM (`vms copy-to`, `vms run`), over the VM's serve console like a
 * call from another VM (so it needs nothing in the guest beyond vms rpc's agent, works as the desktop user
 * and over qemu+ssh://). Through the running rpcd, which holds the consoles; when none runs, this process
 * opens that VM's consoles itself, holding rpcd's lock meanwhile so that no rpcd takes them mid-call.
 * Resolves with the service's exit status.
 */
export async function callFromHost(engine: Engine, request: HostCallRequest, io: HostCallIo, onNotice?: (message: string) => void): Promise<number> {
  const socket = rpcdSocketPath(engine.config.stateDir);
  for (let attempt = 0; ; attempt++) {
    const answered = await callThroughSocket(socket, request, io);
    if (answered !== undefined) return answered;
    try {
      return await withNameLock(engine.ctx.layout.lock(RPCD_LOCK), 'rpcd', async () => {
        const service = startRpcService(engine, { vms: [request.target], onNotice });
        try {
          return await service.hostCall(request, io);
        } finally {
          service.stop();
        }
      });
    } catch (error) {
      if (!(error instanceof NameBusyError)) throw error;
      // An rpcd (or another host call) holds the lock without a socket yet: it is starting, or busy.
      if (attempt >= 40) throw new VmsError('vms rpcd holds the VMs\' rpc consoles but does not answer on its socket: restart it and try again.');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
