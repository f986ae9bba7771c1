import type { Engine } from '../engine/index.js';
import { NameBusyError } from '../engine/name-lock.js';
import { runRpcDaemon, type AskQuestion } from '../engine/rpc/index.js';

/**
 * Keeps the tray app's rpc service running (docs/rpc.md), on the app's current engine, with the app's ask
 * dialog for `ask` policy lines. When another rpcd holds the lock (`vms rpcd` as a user unit), calls go
 * through that one and this one tries again every `retryMs`. No Electron here.
 */
export class RpcdKeeper {
  private stopCurrent: (() => Promise<void>) | undefined;

  constructor(private readonly deps: {
    engine: () => Engine;
    ask: (question: AskQuestion) => Promise<boolean>;
    onNotice: (message: string) => void;
    retryMs?: number;
  }) {}

  /** Starts the service on the current engine (stopping the one before). */
  async restart(): Promise<void> {
    await this.stop();
    const engine = this.deps.engine();
    let release!: () => void;
    const until = new Promise<void>((resolve) => { release = resolve; });
    let stopped = false;
    let retry: NodeJS.Timeout | undefined;
    let toldBusy = false;
    const attempt = (): Promise<void> => runRpcDaemon(engine, { ask: this.deps.ask, onNotice: this.deps.onNotice }, until).catch((error: Error) => {
      if (stopped) return;
      if (error instanceof NameBusyError) {
        if (!toldBusy) this.deps.onNotice('Another vms rpcd carries the calls between VMs (the vms-rpcd user unit?): its `ask` lines cannot ask here.');
        toldBusy = true;
      } else {
        this.deps.onNotice(`The service for calls between VMs stopped: ${error.message}`);
      }
      retry = setTimeout(() => { running = attempt(); }, this.deps.retryMs ?? 30_000);
      retry.unref?.();
    });
    let running = attempt();
    this.stopCurrent = async () => {
      stopped = true;
      clearTimeout(retry);
      release();
      await running;
    };
  }

  async stop(): Promise<void> {
    const stop = this.stopCurrent;
    this.stopCurrent = undefined;
    await stop?.();
  }
}
