import type { VmActionName, WindowView } from '../ipc/channels.js';
import type { Confirmation, MenuAction } from './menu-model.js';

/**
 * What a tray menu click does. The Electron edge passes the few things that need Electron (windows, the
 * confirmation box, notifications, quitting); the rest goes through the same service as the IPC handlers.
 */
export interface TrayActionDeps {
  service: {
    vmAction(action: VmActionName, name?: string): Promise<unknown>;
    newDisposable(): Promise<unknown>;
    openViewer(name: string): Promise<unknown>;
    openConsole(name: string): Promise<unknown>;
    usbAttach(vm: string, device: string): Promise<unknown>;
    usbDetach(vm: string, device: string): Promise<unknown>;
    /** `vms clipboard copy|paste NAME`; `ask` answers a policy line that says ask. */
    clipboard(action: 'copy' | 'paste', name: string, ask: (question: { source: string; target: string; rule: string }) => Promise<boolean>): Promise<unknown>;
  };
  showWindow(view: WindowView, params?: Record<string, string>): void;
  /** Asks the user; true to go ahead. */
  confirm(confirmation: Confirmation): Promise<boolean>;
  /** Shows a one-line error that no operation reported (the service notifies about its own failures). */
  showError(message: string): void;
  /** Re-reads the host's USB devices and who holds them (libvirt sends no lifecycle event for a hotplug). */
  refreshDevices(): void;
  /** Subscribes to libvirt again at once (the menu's "Retry now" while it is unreachable). */
  retry(): Promise<void>;
  quit(): void;
}

const VM_ACTIONS: Record<string, VmActionName> = { start: 'start', stop: 'stop', discard: 'stop', kill: 'kill', 'kill-discard': 'kill', restart: 'restart', delete: 'delete' };

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs one menu action; never throws (failures end up in a notification). */
export async function runTrayAction(action: MenuAction, deps: TrayActionDeps): Promise<void> {
  const tracked = async (work: Promise<unknown>) => {
    // Tracked operations notify about their own failures.
    await work.catch(() => undefined);
  };
  const untracked = async (work: Promise<unknown>) => {
    await work.catch((error) => deps.showError(message(error)));
  };
  switch (action.id) {
    case 'open': return deps.showWindow('main');
    case 'new-vm': return deps.showWindow('create', action.template ? { template: action.template } : {});
    case 'new-disposable': return tracked(deps.service.newDisposable());
    case 'build-template': return deps.showWindow('templates', { tab: 'build' });
    case 'import-template': return deps.showWindow('templates', { tab: 'import' });
    case 'settings': return deps.showWindow('settings');
    case 'retry': return deps.retry();
    case 'quit': return deps.quit();
    case 'view': return untracked(deps.service.openViewer(action.vm));
    case 'console': return untracked(deps.service.openConsole(action.vm));
    case 'clipboard-copy':
    case 'clipboard-paste':
      return untracked(deps.service.clipboard(action.id === 'clipboard-copy' ? 'copy' : 'paste', action.vm, (question) => deps.confirm({
        message: `Paste the text copied in "${question.source}" into "${question.target}"?`,
        detail: `The policy line ${question.rule} asks before such a paste.`,
        button: 'Paste',
      })));
    case 'clone': return deps.showWindow('clone', { vm: action.vm });
    case 'usb-attach':
    case 'usb-detach': {
      const work = action.id === 'usb-attach' ? deps.service.usbAttach(action.vm, action.device) : deps.service.usbDetach(action.vm, action.device);
      await tracked(work);
      return deps.refreshDevices();
    }
    case 'start-view': {
      try {
        await deps.service.vmAction('start', action.vm);
      } catch {
        return; // notified by the operation
      }
      return untracked(deps.service.openViewer(action.vm));
    }
    default: {
      if (action.confirm && !(await deps.confirm(action.confirm))) return;
      return tracked(deps.service.vmAction(VM_ACTIONS[action.id], action.vm));
    }
  }
}
