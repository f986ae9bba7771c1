import { execa } from 'execa';

/**
 * libvirt's domain lifecycle events, followed with one long-running `virsh event --loop` (no polling).
 * The tray app refreshes its menu on them, so a VM started from the shell shows as running at once.
 */

/** The lifecycle event names virsh prints (virDomainEventType). */
export type LifecycleEventName = 'Defined' | 'Undefined' | 'Started' | 'Suspended' | 'Resumed' | 'Stopped' | 'Shutdown' | 'PMSuspended' | 'Crashed';

const EVENT_NAMES = new Set<string>(['Defined', 'Undefined', 'Started', 'Suspended', 'Resumed', 'Stopped', 'Shutdown', 'PMSuspended', 'Crashed']);

export interface LifecycleEvent {
  /** The domain's name. */
  name: string;
  event: LifecycleEventName;
  /** virsh's detail word(s): `Booted`, `Destroyed`, `Finished`, `Added`, … ('' when there is none). */
  detail: string;
}

// `event 'lifecycle' for domain 'work-mail': Started Booted`, optionally after a `--timestamp` prefix
// (`2026-01-02 03:04:05.678+0000: `). The name is matched greedily up to the last `': `, so a foreign
// domain whose name holds a quote still parses.
const LINE = /^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}: )?event 'lifecycle' for domain '(.+)': (\w+)(?: (.*?))?\s*$/;

/** Parses one line of `virsh event --event lifecycle` output; undefined for anything else. Pure. */
export function parseLifecycleLine(line: string): LifecycleEvent | undefined {
  const match = LINE.exec(line);
  if (!match || !EVENT_NAMES.has(match[2])) return undefined;
  return { name: match[1], event: match[2] as LifecycleEventName, detail: match[3] ?? '' };
}

/** Splits a stream of chunks into whole lines; returns the function to feed chunks to. Pure apart from `onLine`. */
export function lineSplitter(onLine: (line: string) => void): (chunk: string) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, newline).replace(/\r$/, ''));
      pending = pending.slice(newline + 1);
    }
  };
}

export interface LifecycleWatch {
  /** Resolves once virsh is connected and subscribed (events from then on are seen). */
  ready: Promise<void>;
  stop(): void;
}

export interface WatchOptions {
  /** Called when virsh ends unexpectedly (libvirtd restarted, connection lost); the watch restarts by itself. */
  onError?: (message: string) => void;
  /** Called after every (re)subscription, so the caller can re-read the full state it may have missed. */
  onReady?: () => void;
  /**
   * First restart delay. A watch that was subscribed (libvirtd restarted under it) starts over with it;
   * one that cannot subscribe doubles it up to 10 s while virsh keeps failing.
   */
  restartDelayMs?: number;
}

const READY = 'vms-events-ready';

/**
 * Follows every domain's lifecycle events on `uri` until `stop()`. One virsh process, in batch mode: its
 * `echo` line marks the moment it is connected, just before it subscribes.
 */
export function watchLifecycle(uri: string, onEvent: (event: LifecycleEvent) => void, options: WatchOptions = {}): LifecycleWatch {
  let stopped = false;
  let child: ReturnType<typeof execa> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = options.restartDelayMs ?? 500;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => { markReady = resolve; });

  const spawn = () => {
    if (stopped) return;
    const started = Date.now();
    let subscribed = false;
    let stderr = '';
    const proc = execa('virsh', ['-c', uri, `echo ${READY} ; event --loop --event lifecycle`], { reject: false, buffer: false, stdin: 'ignore', env: { LC_ALL: 'C' } });
    child = proc;
    proc.stdout?.setEncoding('utf8');
    proc.stderr?.setEncoding('utf8');
    proc.stdout?.on('data', lineSplitter((line) => {
      if (line.trim() === READY) {
        subscribed = true;
        markReady();
        options.onReady?.();
        return;
      }
      const event = parseLifecycleLine(line);
      if (event) onEvent(event);
    }));
    proc.stderr?.on('data', (chunk: string) => { stderr += chunk; });
    void proc.then((result) => {
      if (stopped || child !== proc) return;
      const reason = stderr.split('\n').map((l) => l.replace(/^error:\s*/, '').trim()).find(Boolean)
        ?? (result.failed && (result as { code?: string }).code === 'ENOENT' ? 'virsh is not installed: install the libvirt package' : `virsh event ended (exit ${result.exitCode ?? result.signal})`);
      options.onError?.(`Lost libvirt's events at ${uri}: ${reason}. Retrying.`);
      // A watch that was subscribed for a while (libvirtd went away under it) tries again soon, and
      // backs off from there while libvirtd is still down; one that keeps failing at once backs off.
      delay = subscribed && Date.now() - started > 1000 ? (options.restartDelayMs ?? 500) : Math.min(delay * 2, 10_000);
      timer = setTimeout(spawn, delay);
    });
  };
  spawn();

  return {
    ready,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      child?.kill();
    },
  };
}
