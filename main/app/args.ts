/** The tray app's own command-line flags. Pure: used by electron-main.ts and tested without Electron. */

export const NEW_DISPOSABLE_FLAG = '--new-disposable';
export const HIDDEN_FLAG = '--hidden';

export interface AppArgs {
  /** Start a disposable (in the running instance, when there is one). */
  newDisposable: boolean;
  /** Start in the tray only, without the main window (autostart). */
  hidden: boolean;
}

/** Reads the flags from an argv (Electron's, so it may hold the app path and Chromium switches). */
export function parseAppArgs(argv: readonly string[]): AppArgs {
  return { newDisposable: argv.includes(NEW_DISPOSABLE_FLAG), hidden: argv.includes(HIDDEN_FLAG) };
}

/** What a second launch asks the running instance to do: from its additional data, else its argv. */
export function secondInstanceRequest(argv: readonly string[], additionalData: unknown): AppArgs {
  if (typeof additionalData === 'object' && additionalData !== null && typeof (additionalData as AppArgs).newDisposable === 'boolean') {
    return { newDisposable: (additionalData as AppArgs).newDisposable, hidden: (additionalData as AppArgs).hidden === true };
  }
  return parseAppArgs(argv);
}
