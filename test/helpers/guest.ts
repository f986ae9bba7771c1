import type { Engine } from '../../main/engine/index.js';
import { SerialConsole } from './serial-console.js';

/**
 * Starts a VM through the engine and returns its serial console once the test guest's shell answers.
 * The console is opened right after the start, so the boot marker cannot be missed.
 */
export async function startAndConnect(engine: Engine, name: string, timeoutMs = 120_000): Promise<SerialConsole> {
  await engine.start(name);
  return connect(engine, name, timeoutMs);
}

export async function connect(engine: Engine, name: string, timeoutMs = 120_000): Promise<SerialConsole> {
  const console = await SerialConsole.forDomain(name, engine.config.uri);
  try {
    await console.waitFor('VMS-GUEST-UP', timeoutMs);
    return console;
  } catch (error) {
    console.close();
    throw error;
  }
}

/** Runs a shell command in the guest and returns its output; fails the test on a non-zero exit. */
export async function sh(console: SerialConsole, command: string): Promise<string> {
  const result = await console.run(command, 30_000);
  if (result.exitCode !== 0) throw new Error(`guest command failed (${result.exitCode}): ${command}\n${result.output}`);
  return result.output;
}

/** True when the file exists in the guest. */
export async function guestHasFile(console: SerialConsole, path: string): Promise<boolean> {
  return (await console.run(`test -e ${path}`, 30_000)).exitCode === 0;
}
