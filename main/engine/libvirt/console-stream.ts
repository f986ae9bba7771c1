import { execa, type ResultPromise } from 'execa';
import { shellWord } from '../shell-word.js';
import type { Libvirt } from './connection.js';

/**
 * A VM's serial console through libvirt's own stream (`virsh console`), so it works for a member of group
 * libvirt (the pty QEMU opened belongs to QEMU's user) and over qemu+ssh:// too. virsh insists on a
 * terminal: `script` gives it one, and we talk to script's stdin and stdout. Ctrl+] (0x1d) detaches, so
 * that byte is never sent unless meant.
 */
export interface ConsoleStream {
  /** The guest's output, as bytes (virsh's own banner is left out). */
  onData(listener: (chunk: Buffer) => void): void;
  /** Sent once virsh is attached; what is written before waits. False when the caller should wait for drained(). */
  write(data: Buffer | string): boolean;
  /** Resolves once what was written has gone on to virsh (or virsh ended): for large transfers. */
  drained(): Promise<void>;
  /** Resolves once virsh is attached and its terminal is raw. */
  attached: Promise<void>;
  /** Resolves when virsh ended (detached, the domain stopped, or close()). */
  ended: Promise<void>;
  close(): void;
}

/** The end of virsh's banner: `Escape character is ^] (Ctrl + ])`. */
const BANNER_END = /Escape character is \^\][^\n]*\n/;
/** virsh makes its terminal raw just after the banner; input before that would be echoed by the pty. */
const RAW_DELAY_MS = 300;

export function openConsoleStream(lv: Libvirt, name: string, options: { device?: string } = {}): ConsoleStream {
  const virsh = ['virsh', '-c', lv.uri, 'console', '--force', ...(options.device ? ['--devname', options.device] : []), name];
  const child: ResultPromise = execa('script', ['-qfec', virsh.map(shellWord).join(' '), '/dev/null'], {
    env: { LC_ALL: 'C', TERM: 'dumb' },
    stdin: 'pipe',
    buffer: false,
    reject: false,
  });
  const listeners: Array<(chunk: Buffer) => void> = [];
  const pending: Buffer[] = [];
  let banner: Buffer | undefined = Buffer.alloc(0);
  let isAttached = false;
  let markAttached!: () => void;
  const attached = new Promise<void>((resolve) => { markAttached = resolve; });
  const ended = child.then(() => undefined, () => undefined);
  const emit = (chunk: Buffer) => { if (chunk.length > 0) for (const listener of listeners) listener(chunk); };

  child.stdout?.on('data', (chunk: Buffer) => {
    if (!banner) return emit(chunk);
    banner = Buffer.concat([banner, chunk]);
    const match = BANNER_END.exec(banner.toString('latin1'));
    if (!match) return;
    const rest = banner.subarray(match.index + match[0].length);
    banner = undefined;
    emit(rest);
    setTimeout(() => {
      isAttached = true;
      for (const data of pending.splice(0)) child.stdin?.write(data);
      markAttached();
    }, RAW_DELAY_MS);
  });
  return {
    onData(listener) {
      listeners.push(listener);
    },
    write(data) {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      if (isAttached) return child.stdin?.write(bytes) ?? false;
      pending.push(bytes);
      return false;
    },
    async drained() {
      await Promise.race([attached, ended]);
      const stdin = child.stdin;
      if (!stdin || !stdin.writableNeedDrain) return;
      await Promise.race([new Promise((resolve) => stdin.once('drain', resolve)), ended]);
    },
    attached,
    ended,
    close() {
      // Ctrl+] is virsh's own detach: it leaves the guest's console as it was.
      if (child.exitCode === null) child.stdin?.write(Buffer.from([0x1d]));
      setTimeout(() => child.kill(), 1000).unref();
    },
  };
}
