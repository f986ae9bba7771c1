import type { LifecycleEvent, LifecycleWatch, WatchOptions } from '../engine/libvirt/events.js';
import { isVmsError } from '../engine/errors.js';
import type { VmInfo } from '../engine/types.js';
import type { UsbDeviceUse } from '../engine/usb.js';
import { buildMenuModel, disposableTemplate, type MenuEntry } from './menu-model.js';

/**
 * What the tray shows, kept up to date without polling: libvirt's lifecycle events patch the VM list at
 * once (so a VM started from the shell shows as running within a few milliseconds) and trigger a full
 * re-read in the background (new VMs, metadata). No Electron here: `render` gets the plain menu model.
 */

/** Applies one lifecycle event to a VM list; undefined when only a full re-read can tell (a new domain). Pure. */
export function applyLifecycleEvent(vms: readonly VmInfo[], event: LifecycleEvent): VmInfo[] | undefined {
  const index = vms.findIndex((vm) => vm.name === event.name);
  if (index < 0) return event.event === 'Undefined' || event.event === 'Stopped' ? [...vms] : undefined;
  const vm = vms[index];
  const next = [...vms];
  const withState = (state: VmInfo['state']) => { next[index] = { ...vm, state }; return next; };
  switch (event.event) {
    case 'Started':
    case 'Resumed':
      return withState('running');
    case 'Suspended':
      return withState('paused');
    case 'PMSuspended':
      return withState('pmsuspended');
    case 'Crashed':
      return withState('crashed');
    case 'Stopped':
      // A transient domain (a disposable) is gone once it stops.
      if (!vm.persistent) {
        next.splice(index, 1);
        return next;
      }
      return withState('shut off');
    case 'Undefined':
      if (vm.state === 'shut off') next.splice(index, 1);
      else next[index] = { ...vm, persistent: false };
      return next;
    case 'Shutdown':
      return withState('in shutdown');
    case 'Defined':
      return undefined;
  }
}

export interface TrayStateDeps {
  list: () => Promise<VmInfo[]>;
  watch: (onEvent: (event: LifecycleEvent) => void, options: WatchOptions) => LifecycleWatch;
  labelColors: () => Record<string, string>;
  defaultTemplate: () => string | undefined;
  /** Called with every new menu model. */
  render: (model: MenuEntry[], vms: VmInfo[] | undefined) => void;
  /** Called on every lifecycle event (the windows re-read their lists). */
  onChange?: (event: LifecycleEvent) => void;
  /** The host's USB devices and who holds them, for the Devices submenu (absent: no submenu). */
  listUsb?: () => Promise<UsbDeviceUse[]>;
  /** Calls back when a USB device comes or goes; returns how to stop. */
  watchUsb?: (onChange: () => void) => () => void;
}

export class TrayState {
  private vms: VmInfo[] | undefined;
  private busy: Record<string, string> = {};
  private error: string | undefined;
  private watchError: string | undefined;
  private watch: LifecycleWatch | undefined;
  private usb: UsbDeviceUse[] | undefined;
  private stopUsbWatch: (() => void) | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  /** The last model handed to `render`, as JSON. */
  private rendered: string | undefined;

  constructor(private readonly deps: TrayStateDeps) {}

  /**
   * Subscribes to lifecycle events and reads the list; resolves once that first read succeeded or failed.
   * It never waits for the subscription: with libvirtd down, unreachable or refusing, the watch keeps
   * retrying on its own (backing off to 10 s) and its first successful subscription re-reads the list, so
   * the tray goes from "libvirt unreachable" to the VM list without a restart.
   */
  start(): Promise<void> {
    const watch = this.deps.watch((event) => this.onEvent(event), {
      onError: (message) => {
        this.watchError = message;
        this.render();
      },
      // After every (re)subscription: events may have been missed meanwhile.
      onReady: () => {
        this.watchError = undefined;
        void this.refresh();
      },
    });
    this.watch = watch;
    this.stopUsbWatch = this.deps.watchUsb?.(() => this.refreshDevices());
    this.render();
    return this.refresh();
  }

  /** Resolves once libvirt's events are followed (never, while libvirt stays unreachable). */
  subscribed(): Promise<void> {
    return this.watch?.ready ?? Promise.reject(new Error('The tray state is not started.'));
  }

  stop(): void {
    this.watch?.stop();
    this.watch = undefined;
    this.stopUsbWatch?.();
    this.stopUsbWatch = undefined;
  }

  /** Restarts the watch (the libvirt URI changed) and re-reads. */
  restart(): Promise<void> {
    this.stop();
    this.vms = undefined;
    return this.start();
  }

  /** "Retry now": a new subscription at once instead of the watch's next backed-off attempt. */
  retry(): Promise<void> {
    this.stop();
    return this.start();
  }

  setBusy(busy: Record<string, string>): void {
    this.busy = busy;
    this.render();
  }

  /** True while the last read or the event watch failed: the menu says so and offers "Retry now". */
  unreachable(): boolean {
    return (this.error ?? this.watchError) !== undefined;
  }

  /** The VMs as last read (with events applied). */
  current(): VmInfo[] | undefined {
    return this.vms;
  }

  /** Re-reads the VM list; concurrent calls coalesce into at most one more read. */
  refresh(): Promise<void> {
    if (this.reading) {
      this.readAgain = true;
      return this.reading;
    }
    this.reading = (async () => {
      do {
        this.readAgain = false;
        const devices = this.readDevices();
        try {
          this.vms = await this.deps.list();
          this.error = undefined;
        } catch (error) {
          this.error = isVmsError(error) ? error.message : `Could not list the VMs: ${(error as Error).message}`;
        }
        this.usb = await devices;
        this.render();
      } while (this.readAgain);
    })().finally(() => { this.reading = undefined; });
    return this.reading;
  }

  /** Re-reads the USB devices alone (after an attach or detach, or a device plugged in or out). */
  async refreshDevices(): Promise<void> {
    this.usb = await this.readDevices();
    this.render();
  }

  /** The devices, or undefined when they cannot be shown (libvirt on another host, libvirt down). */
  private readDevices(): Promise<UsbDeviceUse[] | undefined> {
    return this.deps.listUsb?.().catch(() => undefined) ?? Promise.resolve(undefined);
  }

  private onEvent(event: LifecycleEvent): void {
    const patched = this.vms && applyLifecycleEvent(this.vms, event);
    if (patched) {
      this.vms = patched;
      this.render();
    }
    this.deps.onChange?.(event);
    void this.refresh();
  }

  model(): MenuEntry[] {
    return buildMenuModel({
      vms: this.vms,
      labelColors: this.deps.labelColors(),
      disposableTemplate: this.vms ? disposableTemplate(this.vms, this.deps.defaultTemplate()) : undefined,
      busy: this.busy,
      error: this.error ?? this.watchError,
      usb: this.usb,
    });
  }

  /**
   * Hands the model to `render` only when it differs from the last one: every change of an operation
   * (progress ticks, up to 20 a second) passes here, and each render rebuilds the native menu and sends
   * it over D-Bus (StatusNotifierItem's com.canonical.dbusmenu) to the tray host.
   */
  private render(): void {
    const model = this.model();
    const text = JSON.stringify(model);
    if (text === this.rendered) return;
    this.rendered = text;
    this.deps.render(model, this.vms);
  }
}
