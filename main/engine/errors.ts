/**
 * The one error type the engine throws on purpose. Its message is a single sentence that tells the user
 * what to do; the CLI prints it as `vms: <message>` and the tray app shows it as is.
 */
export class VmsError extends Error {
  /** What the failing tool printed, kept for `--verbose` output and bug reports. */
  readonly stderr?: string;

  constructor(message: string, options: { cause?: unknown; stderr?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VmsError';
    this.stderr = options.stderr;
  }
}

export function isVmsError(error: unknown): error is VmsError {
  return error instanceof VmsError;
}

/** There is no VM by that name; the CLI catches it to suggest the closest name. */
export class NoSuchVmError extends VmsError {
  constructor(readonly vmName: string) {
    super(`There is no VM named "${vmName}": see \`vms list\`.`);
  }
}
