import { execa, ExecaError } from 'execa';
import { VmsError } from '../errors.js';

export interface RunOptions {
  input?: string;
  /** Turns a failure into a sentence that says what to do; gets the tool's stderr. */
  explain?: (stderr: string) => string | undefined;
}

/** Which package brings each external command, for the "not installed" message. */
const PACKAGES: Record<string, string> = {
  virsh: 'libvirt',
  'qemu-img': 'qemu-img',
  'mkfs.ext4': 'e2fsprogs',
  'virt-viewer': 'virt-viewer',
};

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/** The common case every tool shares: a full disk. */
function explainCommon(stderr: string): string | undefined {
  if (/No space left on device/i.test(stderr)) return 'The disk is full: free some space (or set another images folder) and try again.';
  return undefined;
}

/**
 * Runs one external command and returns its stdout. A failure is rethrown as a VmsError whose message
 * tells the user what to do, keeping stderr and the original error as its cause.
 */
export async function runTool(file: string, args: string[], options: RunOptions = {}): Promise<string> {
  return (await runToolWithStderr(file, args, options)).stdout;
}

/** Like runTool, but also returns what the tool printed on stderr when it succeeded. */
export async function runToolWithStderr(file: string, args: string[], options: RunOptions = {}): Promise<{ stdout: string; stderr: string }> {
  const started = performance.now();
  try {
    // LC_ALL=C: tools answer in English whatever the desktop's language, so their output parses the same everywhere.
    const result = await execa(file, args, { input: options.input, stripFinalNewline: true, env: { LC_ALL: 'C' } });
    return { stdout: result.stdout, stderr: result.stderr };
  } catch (error) {
    if (error instanceof ExecaError) {
      if ((error as { code?: string }).code === 'ENOENT') {
        throw new VmsError(`${file} is not installed: install the ${PACKAGES[file] ?? file} package and try again.`, { cause: error });
      }
      const stderr = String(error.stderr ?? '');
      const message = options.explain?.(stderr) ?? explainCommon(stderr)
        ?? `${file} ${args[0] ?? ''} failed: ${firstLine(stderr) || error.shortMessage}`;
      throw new VmsError(message, { cause: error, stderr });
    }
    throw error;
  } finally {
    // VMS_TRACE=1 shows every external command and its duration, for finding where time goes.
    if (process.env.VMS_TRACE) process.stderr.write(`[vms] ${Math.round(performance.now() - started)} ms  ${file} ${args.join(' ')}\n`);
  }
}
