// Drives a guest's serial console from Node without a controlling tty.
//
// The domain has `<serial type='pty'>`; `virsh ttyconsole` gives the pty (/dev/pts/N). We open it
// with O_NOCTTY and put it in raw mode at once: otherwise the host-side line discipline echoes
// the guest's output back into the guest. Everything received since open is kept, so waitFor()
// also sees output that arrived before it was called. QEMU drops pty output while nobody has the
// pty open, so open the console right after `virsh start` (the `<log file=…>` keeps everything).
//
// run() sends the command inside a brace group between two `echo` markers whose text differs from
// the typed line (`echo __VMS_B_"id"__` prints `__VMS_B_id__`), so the shell's echo of the input
// never matches. The group is parsed completely before it runs, so no prompt lands in the output.
import fs from 'node:fs';
import tty from 'node:tty';
import { execa } from 'execa';

export interface RunResult {
  /** What the command printed (stdout and stderr), CRLF turned into LF, final newline removed. */
  output: string;
  exitCode: number;
}

export class SerialConsole {
  private received = '';
  /** waitFor() searches from here; each match moves it past the matched text. */
  private cursor = 0;
  private readonly checks = new Set<() => void>();
  private readonly stream: tty.ReadStream;
  private closed = false;
  private failure: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;

  private constructor(readonly path: string, private readonly fd: number) {
    this.stream = new tty.ReadStream(fd);
    this.stream.setRawMode(true);
    this.stream.setEncoding('utf8');
    this.stream.on('data', (chunk: string) => {
      this.received += chunk;
      this.notify();
    });
    this.stream.on('error', (err: Error) => {
      // EIO: QEMU closed the pty (the domain stopped).
      this.failure = err;
      this.notify();
    });
    this.stream.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** Opens the serial console (pty) of a running libvirt domain. */
  static async forDomain(name: string, uri = 'qemu:///system'): Promise<SerialConsole> {
    const { stdout } = await execa('virsh', ['-c', uri, 'ttyconsole', name]);
    const path = stdout.trim();
    if (!path.startsWith('/dev/')) throw new Error(`virsh ttyconsole ${name}: unexpected output "${path}"`);
    return SerialConsole.open(path);
  }

  /** Opens a pty path directly. */
  static open(path: string): SerialConsole {
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_NOCTTY);
    return new SerialConsole(path, fd);
  }

  /** Everything received since open. */
  get transcript(): string {
    return this.received;
  }

  /**
   * Resolves with the first match of `pattern` in the output after the previous match (or since
   * open), waiting up to `timeoutMs` for it to arrive.
   */
  waitFor(pattern: RegExp | string, timeoutMs = 60_000): Promise<RegExpExecArray> {
    const re = typeof pattern === 'string'
      ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      : new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ''));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.path}: no ${re} within ${timeoutMs} ms; last output:\n${this.tail()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.checks.delete(check);
      };
      const check = () => {
        const match = re.exec(this.received.slice(this.cursor));
        if (match) {
          done();
          match.index += this.cursor;
          this.cursor = match.index + match[0].length;
          resolve(match);
        } else if (this.failure || this.closed) {
          done();
          reject(new Error(`${this.path}: console ${this.failure ? `failed (${this.failure.message})` : 'closed'} `
            + `while waiting for ${re}; last output:\n${this.tail()}`));
        }
      };
      this.checks.add(check);
      check();
    });
  }

  /** Runs one shell command line on the console's shell. Calls are queued, never interleaved. */
  run(command: string, timeoutMs = 30_000): Promise<RunResult> {
    const result = this.queue.then(async () => {
      const id = `${process.pid.toString(36)}x${Date.now().toString(36)}x${(this.seq++).toString(36)}`;
      this.write(`{ echo __VMS_B_"${id}"__\n${command}\necho __VMS_E_"${id}"_$?__\n} </dev/null\n`);
      const m = await this.waitFor(new RegExp(`__VMS_B_${id}__\\r?\\n([\\s\\S]*?)__VMS_E_${id}_(\\d+)__`), timeoutMs);
      return { output: m[1].replace(/\r\n/g, '\n').replace(/\n$/, ''), exitCode: Number(m[2]) };
    });
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Writes raw text (e.g. '\x03' for Ctrl-C). */
  write(text: string): void {
    if (this.closed) throw new Error(`${this.path}: console is closed`);
    const data = Buffer.from(text);
    let offset = 0;
    while (offset < data.length) {
      try {
        offset += fs.writeSync(this.fd, data, offset);
      } catch (err) {
        // libuv made the fd non-blocking; wait for QEMU to drain the pty.
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.destroy(); // closes the fd
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.checks]) check();
  }

  private tail(): string {
    return this.received.slice(-600);
  }
}
