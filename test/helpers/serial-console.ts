// Drives a guest's serial console from Node without a controlling tty, through libvirt's console
// stream (main/engine/libvirt/console-stream.ts: `virsh console` under `script`), as the desktop user
// can: the pty itself belongs to QEMU's user. Everything received since open is kept, so waitFor()
// also sees output that arrived before it was called. Output while nobody is attached is only in the
// `<log file=…>`, so open the console right after `virsh start`.
//
// run() sends the command inside a brace group between two `echo` markers whose text differs from
// the typed line (`echo __VMS_B_"id"__` prints `__VMS_B_id__`), so the shell's echo of the input
// never matches. The group is parsed completely before it runs, so no prompt lands in the output.
import { Libvirt } from '../../main/engine/libvirt/connection.js';
import { openConsoleStream, type ConsoleStream } from '../../main/engine/libvirt/console-stream.js';

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
  private closed = false;
  private failure: Error | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;

  private constructor(readonly path: string, private readonly stream: ConsoleStream) {
    stream.onData((chunk) => {
      this.received += chunk.toString('utf8');
      this.notify();
    });
    void stream.ended.then(() => {
      // virsh ended: the domain stopped, or close().
      this.closed = true;
      this.notify();
    });
  }

  /** Attaches to the serial console of a running libvirt domain (resolves once virsh is attached). */
  static async forDomain(name: string, uri = process.env.VMS_URI ?? 'qemu:///system'): Promise<SerialConsole> {
    const stream = openConsoleStream(new Libvirt(uri), name);
    const console = new SerialConsole(`console of ${name}`, stream);
    const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`virsh console ${name} did not attach within 30 s; it said:\n${console.transcript}`)), 30_000).unref());
    try {
      await Promise.race([stream.attached, stream.ended.then(() => { throw new Error(`virsh console ${name} ended before it attached`); }), timeout]);
    } catch (error) {
      console.close();
      throw error;
    }
    return console;
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
    this.stream.write(text);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stream.close();
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.checks]) check();
  }

  private tail(): string {
    return this.received.slice(-600);
  }
}
