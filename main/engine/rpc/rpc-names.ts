/**
 * Checks on the words a guest puts in a call. Everything a guest sends is untrusted: each check returns
 * the problem as a sentence, or undefined when the word is fine. Pure.
 */

/** A service name: `vms.FileCopy`, `my-notes.Sync`; the file /etc/vms/rpc.d/NAME runs it in the target. */
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
/** A call's target as the caller wrote it: a VM name, `@default`, `@dispvm` or `@dispvm:TEMPLATE`. */
const VM_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;

/** The controlled clipboard's guest services (main/engine/clipboard): only the host calls them, never a VM. */
export const CLIPBOARD_COPY_SERVICE = 'vms.ClipboardCopy';
export const CLIPBOARD_PASTE_SERVICE = 'vms.ClipboardPaste';
export const HOST_ONLY_SERVICES: ReadonlySet<string> = new Set([CLIPBOARD_COPY_SERVICE, CLIPBOARD_PASTE_SERVICE]);

export function serviceNameProblem(name: string): string | undefined {
  return SERVICE.test(name) ? undefined : `"${printable(name)}" is not a service name (letters, digits, . _ + -, up to 64)`;
}

export function isVmName(word: string): boolean {
  return VM_NAME.test(word);
}

export function requestedTargetProblem(target: string): string | undefined {
  if (isVmName(target) || target === '@default' || target === '@dispvm') return undefined;
  if (target.startsWith('@dispvm:') && isVmName(target.slice('@dispvm:'.length))) return undefined;
  return `"${printable(target)}" is not a target (a VM name, @default, @dispvm or @dispvm:TEMPLATE)`;
}

/** The caller's name when the host makes a call (`vms copy-to`, `vms run`); no VM name starts with @. */
export const HOST_SOURCE = '@host';

/**
 * Services that give their caller a shell in the target: a policy line must name them to allow them to
 * another VM; a `*` line never does.
 */
export const SHELL_SERVICES: ReadonlySet<string> = new Set(['vms.Run']);

/** Largest file vms-copy sends, unless the host's settings say otherwise. */
export const DEFAULT_COPY_LIMIT_BYTES = 4 * 1024 ** 3;

/**
 * A file name that vms-copy may create in the target's Incoming folder: one path component, no `.`/`..`,
 * no slash, no control characters, at most 255 bytes, and not the receiver's own temporary names.
 */
export function fileNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return `"${printable(name)}" is not a file name`;
  if (name.includes('/')) return `"${printable(name)}" holds a slash: only plain file names are copied`;
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) return `"${printable(name)}" holds control characters`;
  if (Buffer.byteLength(name) > 255) return 'the file name is longer than 255 bytes';
  if (name.startsWith('.vms-incoming')) return `"${name}" is a name the receiver keeps for itself`;
  return undefined;
}

export interface CopyArgument {
  size: number;
  name: string;
}

/** vms.FileCopy's argument, `SIZE NAME`, checked against the size limit. Pure. */
export function parseCopyArgument(arg: string | undefined, limitBytes: number): CopyArgument | string {
  const match = /^(\d{1,15}) (.*)$/s.exec(arg ?? '');
  if (!match) return 'vms.FileCopy needs "SIZE NAME" as its argument';
  const size = Number(match[1]);
  if (size > limitBytes) return `the file is ${size} bytes, more than the limit of ${limitBytes}`;
  return fileNameProblem(match[2]) ?? { size, name: match[2] };
}

/** Makes guest-supplied text safe to print on one line. */
export function printable(text: string, max = 80): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
