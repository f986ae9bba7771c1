import { createReadStream } from 'node:fs';
import { access, constants, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { VmsError } from '../../engine/errors.js';
import type { Engine } from '../../engine/index.js';
import { callFromHost } from '../../engine/rpc/index.js';
import { DEFAULT_COPY_LIMIT_BYTES, fileNameProblem } from '../../engine/rpc/rpc-names.js';
import { shellWord } from '../../engine/shell-word.js';
import type { CliIo, Command } from '../command.js';

/**
 * The host's own calls into a VM (docs/rpc.md): `vms copy-to` and `vms run`. They go over the VM's rpc
 * serve console, through the running rpcd or, without one, this process (engine/rpc/host-calls.ts), and
 * not through the qemu guest agent: its guest-exec and guest-file-* need `virsh qemu-agent-command`,
 * which libvirt marks unsupported (it taints the domain) and which VMs without qemu-ga (the busybox test
 * guest) lack, while vms-rpc-agent is in every VM vms builds. No policy: the user typed the command.
 */

const START_OPTION = { start: { type: 'boolean' as const, description: 'Start the VM first if it is off' } };

/** The VM, running: started when `start`, else a one-line error that says how. */
async function runningVm(engine: Engine, name: string, start: boolean, io: CliIo): Promise<void> {
  const vm = await engine.info(name);
  if (vm.state === 'running') return;
  if (!start) throw new VmsError(`"${name}" is ${vm.state}: start it with \`vms start ${name}\`, or pass --start.`);
  io.err(`Starting "${name}"…\n`);
  await engine.start(name);
}

function bytesCollector(): { output: (bytes: Buffer) => void; text: () => string; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return { output: (bytes) => { chunks.push(bytes); }, text: () => Buffer.concat(chunks).toString('utf8').trim(), bytes: () => Buffer.concat(chunks) };
}

async function checkedFile(path: string): Promise<{ path: string; name: string; size: number }> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new VmsError(`${path} is not a file: \`vms copy-to\` copies files (make an archive of a folder first).`);
  await access(path, constants.R_OK).catch(() => { throw new VmsError(`${path} cannot be read: check its permissions.`); });
  const name = basename(path);
  const problem = fileNameProblem(name);
  if (problem) throw new VmsError(`${path}: ${problem}.`);
  if (info.size > DEFAULT_COPY_LIMIT_BYTES) throw new VmsError(`${path} is larger than the limit of ${DEFAULT_COPY_LIMIT_BYTES} bytes.`);
  return { path, name, size: info.size };
}

export const copyTo: Command = {
  name: 'copy-to',
  summary: 'Copy files from the host into a VM\'s ~/Incoming/host/ (never overwriting)',
  usage: 'VM FILE… [--start]',
  positionals: { min: 2, max: Infinity, names: ['VM', 'FILE'] },
  options: START_OPTION,
  async run({ engine, io }, { positionals: [vm, ...paths], values }) {
    // Every file is checked before the first is sent: bad input writes nothing.
    const files = [];
    for (const path of paths) files.push(await checkedFile(path));
    await runningVm(engine, vm, values.start === true, io);
    let failed = 0;
    for (const file of files) {
      const answer = bytesCollector();
      const code = await callFromHost(engine, { target: vm, service: 'vms.FileCopy', arg: `${file.size} ${file.name}`, declaredSize: file.size },
        { input: createReadStream(file.path), output: answer.output }, (message) => io.err(`vms: ${message}\n`));
      // vms.FileCopy answers where the file went, or why it did not take it.
      if (code === 0) io.out(`${file.path} → ${vm}:${answer.text()}`);
      else {
        failed++;
        io.err(`vms: ${file.path}: ${answer.text() || `${vm} refused it (exit status ${code})`}\n`);
      }
    }
    return failed > 0 ? 1 : 0;
  },
};

/** `vms.Run`'s answer: a line `vms-run OUT ERR`, then OUT bytes of stdout and ERR bytes of stderr. Pure. */
export function parseRunOutput(answer: Buffer): { stdout: Buffer; stderr: Buffer } | undefined {
  const newline = answer.indexOf(0x0a);
  const match = newline < 0 ? null : /^vms-run (\d+) (\d+)$/.exec(answer.subarray(0, newline).toString('latin1'));
  if (!match) return undefined;
  const [out, err] = [Number(match[1]), Number(match[2])];
  const body = answer.subarray(newline + 1);
  if (body.length !== out + err) return undefined;
  return { stdout: body.subarray(0, out), stderr: body.subarray(out) };
}

export const run: Command = {
  name: 'run',
  summary: 'Run a command in a VM as its user; its output and exit status come back',
  usage: 'VM [--start] [-n] -- COMMAND [ARGS…]',
  positionals: { min: 2, max: Infinity, names: ['VM', 'COMMAND'] },
  options: {
    ...START_OPTION,
    'no-stdin': { type: 'boolean', short: 'n', description: 'Do not pass standard input on (it is, unless it is a terminal)' },
  },
  async run({ engine, io }, { positionals: [vm, ...command], values }) {
    await runningVm(engine, vm, values.start === true, io);
    const answer = bytesCollector();
    const input = values['no-stdin'] === true || process.stdin.isTTY ? undefined : process.stdin;
    const code = await callFromHost(engine, { target: vm, service: 'vms.Run', arg: command.map(shellWord).join(' ') },
      { input, output: answer.output }, (message) => io.err(`vms: ${message}\n`));
    const output = parseRunOutput(answer.bytes());
    if (!output) throw new VmsError(`${vm} answered something else than a command's output: is its vms-rpc-agent from this version of vms?`);
    process.stdout.write(output.stdout);
    process.stderr.write(output.stderr);
    return code;
  },
};
