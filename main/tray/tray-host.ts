import { execa, type ResultPromise } from 'execa';

/**
 * Is there a tray to sit in? On Linux, Chromium (and so Electron's `new Tray()`) asks the session bus
 * once, when the tray is made, whether `org.kde.StatusNotifierWatcher` is owned and reports
 * `IsStatusNotifierHostRegistered`; if not, it falls back for the whole process to the XEmbed /
 * GtkStatusIcon tray (electron/electron#36815), which i3bar shows but no Wayland bar does. With
 * `exec-once = vms-tray --hidden` racing waybar, the watcher often comes a second later, so the tray is
 * made only once a host is there (or the wait gives up). Plain Node: the session bus is asked with glib's
 * `gdbus` (glib2 comes with GTK, which Electron needs), so this runs and is tested without Electron.
 */

export const STATUS_NOTIFIER_WATCHER = 'org.kde.StatusNotifierWatcher';

/** `present`: a tray host is there; `absent`: the bus answered but no host came within the wait; `no-bus`: no session bus (or no gdbus) to ask. */
export type TrayHost = 'present' | 'absent' | 'no-bus';

export interface TrayHostWait {
  result: Promise<TrayHost>;
  /** Ends the wait (its gdbus process, by pid); `result` then resolves `absent`. */
  stop(): void;
}

/** The display server Electron will use: Wayland when the session has one, unless told to use X11. Pure. */
export function displayServer(env: NodeJS.ProcessEnv, argv: readonly string[] = []): 'wayland' | 'x11' {
  const forced = argv.find((arg) => arg.startsWith('--ozone-platform='))?.split('=')[1] ?? env.ELECTRON_OZONE_PLATFORM_HINT;
  if (forced === 'x11') return 'x11';
  return env.WAYLAND_DISPLAY ? 'wayland' : 'x11';
}

/**
 * How long to wait for a StatusNotifierWatcher before making the tray anyway. On X11 the XEmbed
 * fallback is a real tray (i3bar, and KDE/XFCE through their proxies), so the tray is made at once; on
 * Wayland it would show nothing, so the app waits, and past the bound opens its window instead. Pure.
 */
export function trayHostBoundMs(server: 'wayland' | 'x11'): number {
  return server === 'wayland' ? 20_000 : 0;
}

function gdbus(args: string[], env: NodeJS.ProcessEnv): ResultPromise<{ reject: false; stdin: 'ignore'; env: NodeJS.ProcessEnv; extendEnv: false }> {
  return execa('gdbus', args, { reject: false, stdin: 'ignore', env: { ...env, LC_ALL: 'C' }, extendEnv: false });
}

/** How often the watcher's host property is asked while the watcher is there but no host yet: first, and at most. */
const HOST_POLL_MS = 250;
const HOST_POLL_MAX_MS = 5000;

/**
 * Waits until a StatusNotifierWatcher owns its name on the session bus of `env` and has a host
 * registered, for at most `boundMs` (0: only look once; Infinity: until `stop()`).
 */
export function waitForTrayHost(env: NodeJS.ProcessEnv, boundMs: number): TrayHostWait {
  let stopped = false;
  let child: ReturnType<typeof gdbus> | undefined;
  let sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  const deadline = Date.now() + boundMs;
  const run = (args: string[]) => { child = gdbus(args, env); return child; };
  // A name owner that never answers (a hung bar) must not hold the wait beyond a poll or two.
  const hostRegistered = async () => String((await run(['call', '--session', '--timeout', '2', '--dest', STATUS_NOTIFIER_WATCHER, '--object-path', '/StatusNotifierWatcher',
    '--method', 'org.freedesktop.DBus.Properties.Get', STATUS_NOTIFIER_WATCHER, 'IsStatusNotifierHostRegistered'])).stdout).trim() === '(<true>,)';
  const sleep = (ms: number) => new Promise<void>((wake) => { sleeping = { timer: setTimeout(wake, ms), wake }; });

  const result = (async (): Promise<TrayHost> => {
    // One look first: it tells "no bus" (the call fails) from "no watcher yet" (it answers false).
    const look = await run(['call', '--session', '--dest', 'org.freedesktop.DBus', '--object-path', '/org/freedesktop/DBus',
      '--method', 'org.freedesktop.DBus.NameHasOwner', STATUS_NOTIFIER_WATCHER]);
    if (look.exitCode !== 0) return 'no-bus';
    if (String(look.stdout).trim() !== '(true,)') {
      if (boundMs <= 0 || stopped) return 'absent';
      // gdbus wait counts whole seconds; 0 means no limit.
      const seconds = Number.isFinite(boundMs) ? String(Math.max(1, Math.ceil((deadline - Date.now()) / 1000))) : '0';
      if ((await run(['wait', '--session', '--timeout', seconds, STATUS_NOTIFIER_WATCHER])).exitCode !== 0 || stopped) return 'absent';
    }
    // A bar may own the watcher's name before its host (the part that draws icons) registers; asked
    // often at first, then less (an unbounded wait must not spawn gdbus four times a second for good).
    let pollMs = HOST_POLL_MS;
    while (!stopped) {
      if (await hostRegistered()) return 'present';
      if (Date.now() + pollMs > deadline) return 'absent';
      await sleep(pollMs);
      pollMs = Math.min(pollMs * 2, HOST_POLL_MAX_MS);
    }
    return 'absent';
  })();
  return {
    result,
    stop() {
      stopped = true;
      if (sleeping) { clearTimeout(sleeping.timer); sleeping.wake(); }
      child?.kill();
    },
  };
}
