import { VmsError } from '../errors.js';

/** What went wrong in a libvirt call, for control flow: callers branch on this, never on message text. */
export type LibvirtErrorKind =
  | 'not-found' // no such domain, volume, pool, network, filter or DHCP host
  | 'unreachable' // libvirtd is down, or the socket refuses this user
  | 'exists' // an object of that name is already there (a DHCP host: its MAC, name or address)
  | 'inactive' // the object exists but is not running (a stopped network, an inactive pool)
  | 'active' // already running
  | 'busy' // in use by another process (a disk image locked, a domain operation under way)
  | 'no-agent' // the domain's QEMU guest agent is not connected or does not answer
  | 'failed'; // anything else libvirt refused

/** A failed libvirt call. Its message is the one line the user sees; `kind` is for the code. */
export class LibvirtError extends VmsError {
  readonly kind: LibvirtErrorKind;

  constructor(kind: LibvirtErrorKind, message: string, options: { cause?: unknown; stderr?: string } = {}) {
    super(message, options);
    this.name = 'LibvirtError';
    this.kind = kind;
  }
}

export function isLibvirtError(error: unknown, kind?: LibvirtErrorKind): error is LibvirtError {
  return error instanceof LibvirtError && (kind === undefined || error.kind === kind);
}

/** A connection that was there and went away under a command (libvirtd stopped or restarted): virsh's words for it. */
const LOST = /Failed to reconnect to the hypervisor|client socket is closed/i;

/**
 * The one place that reads libvirt's words. Every virsh child runs with LC_ALL=C, so these are libvirt's
 * English messages (virerror.c) whatever the desktop's language.
 */
export function classifyLibvirtError(stderr: string): LibvirtErrorKind {
  if (LOST.test(stderr) || /failed to connect to the hypervisor|Failed to connect socket|Connection refused|Cannot recv data|End of file while reading data|unable to connect to server|Permission denied.*sock|authentication (unavailable|failed)|no connection driver/i.test(stderr)) return 'unreachable';
  if (/not found|no (domain|network|nwfilter|storage pool|storage vol) with matching|failed to get (domain|vol|pool|network)|Network filter not found|couldn't locate a matching dhcp host entry/i.test(stderr)) return 'not-found';
  if (/already exists|exists already|already in use|is already defined|Network is already in use by interface|there is an existing dhcp host entry/i.test(stderr)) return 'exists';
  if (/is not running|not active|isn't active|domain is not running|storage pool .* is not active|Requested operation is not valid: .* is not active/i.test(stderr)) return 'inactive';
  if (/already active|is already running|domain is already running/i.test(stderr)) return 'active';
  if (/guest agent is not (connected|responding)|Guest agent is not responding|agent is not configured/i.test(stderr)) return 'no-agent';
  if (/Failed to get ".*" lock|Is another process using the image|another job|cannot acquire state change lock|Device or resource busy|asynchronous jobs running|still being allocated/i.test(stderr)) return 'busy';
  return 'failed';
}

/** libvirt's error lines without virsh's `error:` prefix and its "Failed to start domain" preamble. */
export function libvirtErrorText(stderr: string): string {
  return stderr.split('\n')
    .map((line) => line.replace(/^error:\s*/, '').trim())
    .filter((line) => line && !/^Failed to (start|create|define|destroy|shutdown|undefine|get)\b/.test(line) && !/^failed to get (domain|vol|pool|network)/.test(line))
    .join(' ');
}

export function libvirtError(uri: string, stderr: string, cause?: unknown): LibvirtError {
  const kind = classifyLibvirtError(stderr);
  const text = libvirtErrorText(stderr) || stderr.trim();
  const message = kind === 'unreachable' && LOST.test(stderr)
    ? `Lost the connection to libvirt at ${uri} in the middle of the command (libvirtd stopped or restarted): once libvirtd runs again (sudo systemctl start libvirtd), the next vms command tidies up what this one left; check with \`vms list\` and try again.`
    : kind === 'unreachable'
    ? `Cannot reach libvirt at ${uri}: start it (sudo systemctl start libvirtd), check that you are in group libvirt, or set VMS_URI; then try again.`
    : /No space left on device/i.test(stderr)
      ? 'The disk is full: free some space (or set another images folder) and try again.'
      : `libvirt refused: ${text}`;
  return new LibvirtError(kind, message, { cause, stderr });
}
