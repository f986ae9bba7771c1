import { spawn, type ChildProcess } from 'node:child_process';

/**
 * One long-lived `virsh` reading commands on its standard input: each command then costs one round trip
 * to libvirtd instead of a new process (about 20–60 ms each on a desktop, which made a `vms create` of
 * 15 calls take most of a second).
 *
 * Without a terminal virsh still prints its prompt and echoes every command line, so stdout reads
 * `virsh # CMD\n<output>virsh # echo --err M\nvirsh # echo M\nM`: a command's output lies between its own
 * echoed line and the echo of its stderr marker, and its errors on stderr before `error: M`. The
 * commands are written exactly as quoted here, so their echo is known. Anything unexpected (virsh died,
 * a line not echoed as sent) fails the round trip, and the caller falls back to a process per batch.
 */

export interface ShellResult {
  stdout: string;
  /** What virsh printed on stderr for this command (`error: …` lines), '' when it succeeded. */
  stderr: string;
}

const PROMPT = 'virsh # ';
/**
 * What virsh says on its own when libvirtd goes away (its close callback, whenever that happens: between
 * two commands too) and when its next command reconnects: not an error of any command. A command that
 * really failed for it says so on a line of its own.
 */
const CONNECTION_NOTICE = /^error: (Disconnected from \S+ due to |Reconnected to the hypervisor)/;

export class VirshShellError extends Error {
  /** True when the commands were already written: they may have run, so they must not be sent again. */
  constructor(message: string, readonly afterWrite = false) {
    super(message);
  }
}

export class VirshShell {
  private child: ChildProcess | undefined;
  private stdout = '';
  private stderr = '';
  private queue: Promise<unknown> = Promise.resolve();
  private seq = 0;
  private waiter: (() => void) | undefined;
  private dead: Error | undefined;
  /** virsh printed its first prompt: it is connected and reads commands (before, nothing ran). */
  private prompted = false;

  constructor(private readonly uri: string) {}

  /** Runs command lines (already quoted for virsh) in order; one result each. */
  exec(lines: string[]): Promise<ShellResult[]> {
    const result = this.queue.then(() => this.roundTrip(lines));
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.child?.stdin?.end();
    this.child = undefined;
  }

  private start(): ChildProcess {
    // Readline echoes each command; on an 80-column dumb terminal it scrolls long lines and mangles the
    // echo, so the terminal is made as wide as any command.
    const child = spawn('virsh', ['-q', '-c', this.uri], { env: { ...process.env, LC_ALL: 'C', TERM: 'dumb', COLUMNS: '1000000', LINES: '1000' }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      this.stdout += chunk;
      if (this.stdout.includes(PROMPT)) this.prompted = true;
      this.waiter?.();
    });
    child.stderr!.on('data', (chunk: string) => { this.stderr += chunk; this.waiter?.(); });
    child.on('error', (error) => { this.dead = error; this.waiter?.(); });
    child.on('exit', () => {
      this.dead ??= new VirshShellError('virsh ended');
      if (this.child === child) this.child = undefined;
      this.waiter?.();
    });
    this.dead = undefined;
    this.prompted = false;
    this.stdout = '';
    this.stderr = '';
    return child;
  }

  /** Held while a round trip is under way; idle, the shell never keeps a finished process alive. */
  private hold(child: ChildProcess, held: boolean): void {
    for (const handle of [child, child.stdout, child.stderr, child.stdin] as unknown as Array<{ ref?: () => void; unref?: () => void }>) {
      if (held) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  private async roundTrip(lines: string[]): Promise<ShellResult[]> {
    if (!this.child || this.dead) this.child = this.start();
    const child = this.child;
    this.hold(child, true);
    try {
      return await this.exchange(child, lines);
    } finally {
      this.hold(child, false);
    }
  }

  private async exchange(child: ChildProcess, lines: string[]): Promise<ShellResult[]> {
    const id = `@@vms-${process.pid}-${this.seq++}@@`;
    const marks = lines.map((_, i) => `${id}${i}`);
    const script = lines.map((line, i) => `${line}\necho --err ${marks[i]}\necho ${marks[i]}\n`).join('');
    // What is left from the last round trip is virsh's next prompt: kept, it precedes the first echo.
    child.stdin!.write(script);
    const last = marks[marks.length - 1];
    const outDone = () => this.stdout.includes(`${PROMPT}echo ${last}\n${last}`);
    const errDone = () => new RegExp(`^error: ${last}$`, 'm').test(this.stderr);
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (outDone() && errDone()) {
          this.waiter = undefined;
          resolve();
        } else if (this.dead) {
          this.waiter = undefined;
          // Ended before its first prompt (it could not connect): nothing ran, a process may retry.
          reject(new VirshShellError(`virsh ended: ${this.dead.message}`, this.prompted));
        }
      };
      this.waiter = check;
      check();
    });
    const results: ShellResult[] = [];
    let outAt = 0;
    let errAt = 0;
    for (const [i, line] of lines.entries()) {
      const echoed = `${PROMPT}${line}\n`;
      const start = this.stdout.indexOf(echoed, outAt);
      const end = this.stdout.indexOf(`${PROMPT}echo --err ${marks[i]}\n`, start);
      if (start < 0 || end < 0) {
        // Not what a virsh shell prints: start afresh next time.
        this.close();
        throw new VirshShellError(`virsh did not echo "${line.slice(0, 80)}"`, true);
      }
      const errEnd = this.stderr.indexOf(`error: ${marks[i]}\n`, errAt);
      const stderr = this.stderr.slice(errAt, errEnd).split('\n').filter((l) => !CONNECTION_NOTICE.test(l)).join('\n').trim();
      results.push({ stdout: this.stdout.slice(start + echoed.length, end), stderr });
      outAt = this.stdout.indexOf(`\n${marks[i]}`, end) + marks[i].length + 1;
      errAt = errEnd + `error: ${marks[i]}\n`.length;
    }
    this.stdout = this.stdout.slice(outAt);
    this.stderr = this.stderr.slice(errAt);
    return results;
  }
}
