/**
 * The line protocol on a VM's two rpc consoles (docs/rpc.md). Text lines only, base64 for data: virsh
 * treats byte 0x1d as "detach", and a console is a terminal. Pure: parsing and formatting, no I/O.
 *
 * Calls out of a VM (its call console):
 *   guest: CALL ID SERVICE TARGET [ARG64]   host: A ID (accepted) | F ID REASON (refused)
 *   guest: D B64 … W N (a window of N data lines; waits for K) … E (end of input)
 *   host:  K (window received) … D B64 (the service's output) … X CODE | F ID REASON
 * Calls into a VM (its serve console, held by the guest's vms-rpc-agent):
 *   guest: READY (idle; also a heartbeat)   host: HELLO (asks for READY; only once the guest's kernel runs)
 *   host:  RUN ID SERVICE SOURCE ARG64|- [disposable] · D B64 … · E
 *   guest: P (still running) · L (the caller may go: it gets X 0, the target goes on)
 *   guest: D B64 … W N (waits for K) … X CODE | F REASON
 *
 * A virtio console drops what the host does not read in time, so a guest never has more than two windows
 * (WINDOW_LINES lines each, about 2.5 KiB) on their way to the host.
 */

export const WINDOW_LINES = 32;
/** Longer lines are junk (firmware output, a guest misbehaving): the host drops them. */
export const MAX_LINE = 4096;

const ID = /^[A-Za-z0-9]{1,32}$/;
const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

export type GuestLine =
  | { kind: 'call'; id: string; service: string; target: string; arg?: string }
  | { kind: 'data'; bytes: Buffer; text: string }
  | { kind: 'window'; lines: number }
  | { kind: 'end' }
  | { kind: 'ready' }
  | { kind: 'alive' }
  | { kind: 'release' }
  | { kind: 'exit'; code: number }
  | { kind: 'fail'; reason: string };

export type ParseResult = GuestLine | { kind: 'invalid'; problem: string } | { kind: 'ignored' };

function decodeArg(word: string | undefined): string | undefined | null {
  if (word === undefined) return undefined;
  if (!B64.test(word) || word.length > 1400) return null;
  return Buffer.from(word, 'base64').toString('utf8');
}

/**
 * One line from a guest. Words after a CALL's argument are ignored: nothing a guest says about
 * itself (a `source=` field, say) counts; the host knows the caller by the console the line came on.
 */
export function parseGuestLine(raw: string): ParseResult {
  const line = raw.replace(/\r$/, '');
  if (line === '') return { kind: 'ignored' };
  if (line.length > MAX_LINE) return { kind: 'invalid', problem: 'a line longer than 4096 characters' };
  const words = line.split(' ');
  switch (words[0]) {
    case 'CALL': {
      // Words after ARG64 are ignored.
      const [, id, service, target, argWord] = words;
      if (!id || !ID.test(id) || !service || !target) return { kind: 'invalid', problem: 'a CALL line needs ID SERVICE TARGET' };
      const arg = decodeArg(argWord);
      if (arg === null) return { kind: 'invalid', problem: 'the call\'s argument is not base64' };
      return { kind: 'call', id, service, target, ...(arg === undefined ? {} : { arg }) };
    }
    case 'D':
      if (words.length !== 2 || !B64.test(words[1])) return { kind: 'invalid', problem: 'a data line that is not base64' };
      return { kind: 'data', bytes: Buffer.from(words[1], 'base64'), text: words[1] };
    case 'W': {
      const lines = Number(words[1]);
      return Number.isInteger(lines) && lines > 0 && lines <= WINDOW_LINES ? { kind: 'window', lines } : { kind: 'invalid', problem: 'a bad window line' };
    }
    case 'E': return words.length === 1 ? { kind: 'end' } : { kind: 'invalid', problem: 'a bad end line' };
    case 'READY': return { kind: 'ready' };
    case 'P': return { kind: 'alive' };
    case 'L': return { kind: 'release' };
    case 'X': {
      const code = Number(words[1]);
      return Number.isInteger(code) && code >= 0 && code <= 255 ? { kind: 'exit', code } : { kind: 'invalid', problem: 'a bad exit line' };
    }
    case 'F': return { kind: 'fail', reason: words.slice(1).join(' ') };
    // Firmware and kernel output that reached the console before the guest's agent: not ours.
    default: return { kind: 'ignored' };
  }
}

export function encodeArg(arg: string): string {
  return Buffer.from(arg, 'utf8').toString('base64');
}

/** Host → guest lines (each ends with a newline). */
export const hostLine = {
  accepted: (id: string) => `A ${id}\n`,
  refused: (id: string, reason: string) => `F ${id} ${reason.replace(/[\r\n]+/g, ' ')}\n`,
  windowAck: () => 'K\n',
  data: (text: string) => `D ${text}\n`,
  exit: (code: number) => `X ${code}\n`,
  end: () => 'E\n',
  /** `disposable`: the target is a disposable made for this call (it goes when the call ends). */
  run: (id: string, service: string, source: string, arg?: string, disposable = false) => `RUN ${id} ${service} ${source} ${arg ? encodeArg(arg) : '-'}${disposable ? ' disposable' : ''}\n`,
  hello: () => 'HELLO\n',
};

/** Splits a byte stream into lines (latin1: base64 and words are ASCII), dropping over-long junk. */
export function guestLineSplitter(onLine: (line: string) => void): (chunk: Buffer) => void {
  let pending = '';
  return (chunk) => {
    pending += chunk.toString('latin1');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
    if (pending.length > MAX_LINE) pending = '';
  };
}
