import type { EngineContext } from './context.js';
import { watchLifecycle } from './libvirt/events.js';
import { domainStatus } from './libvirt/domains.js';

/**
 * Waits until a domain has stopped (shut off, crashed or gone), following libvirt's lifecycle events (no
 * polling): the watch is subscribed first (its ready handshake), then the state is read once, so a stop
 * between the two cannot be missed. False on timeout.
 */
export async function waitForDomainStop(ctx: EngineContext, name: string, timeoutMs: number): Promise<boolean> {
  let stoppedNow!: () => void;
  const stopped = new Promise<void>((resolve) => { stoppedNow = resolve; });
  const watch = watchLifecycle(ctx.libvirt.uri, (event) => {
    if (event.name === name && (event.event === 'Stopped' || event.event === 'Undefined' || event.event === 'Crashed')) stoppedNow();
  }, {
    // virsh says it is ready just before it subscribes, and after a reconnect (libvirtd restarted) the
    // events in between are lost: read the state then, and once more a moment later.
    onReady: () => {
      const check = () => void isStopped(ctx, name).then((yes) => yes && stoppedNow(), () => undefined);
      check();
      setTimeout(check, 500).unref();
    },
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs); });
    return await Promise.race([stopped.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
}

async function isStopped(ctx: EngineContext, name: string): Promise<boolean> {
  const status = await domainStatus(ctx.libvirt, name);
  return !status || status.state === 'shut off' || status.state === 'crashed';
}
