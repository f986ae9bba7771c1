import type { EngineContext } from '../context.js';
import { VmsError } from '../errors.js';
import { isLibvirtError } from '../libvirt/errors.js';
import { ensureDirPool } from '../libvirt/storage.js';

const ready = new WeakMap<EngineContext, Promise<void>>();

/**
 * Makes sure vms's storage pool exists and runs (setup defines it as root; a member of group libvirt can
 * too, since libvirtd does the mkdir). Once per context; the pool's real folder wins over the configured
 * one, so a pool moved with virsh keeps working.
 */
export function ensureVmsPool(ctx: EngineContext): Promise<void> {
  let promise = ready.get(ctx);
  if (!promise) {
    promise = ensureDirPool(ctx.libvirt, ctx.layout.pool, ctx.layout.poolDir).then((state) => {
      if (state.path) ctx.layout.poolDir = state.path;
    }, (error) => {
      ready.delete(ctx);
      if (isLibvirtError(error, 'unreachable')) throw error;
      throw new VmsError(`Cannot set up the storage pool "${ctx.layout.pool}" at ${ctx.layout.poolDir}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
    ready.set(ctx, promise);
  }
  return promise;
}
