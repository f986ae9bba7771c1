import { createInterface } from 'node:readline/promises';
import { VmsError } from '../engine/errors.js';
import type { CliIo } from './command.js';

/** Options every destructive verb takes. */
export const CONFIRM_OPTIONS = {
  yes: { type: 'boolean', short: 'y', description: 'Do not ask (for scripts); without a terminal this is required' },
} as const;

export const FORCE_OPTION = {
  force: { type: 'boolean', short: 'f', description: 'Also when the VM is running (it is forced off first)' },
} as const;

/**
 * Asks on the terminal before a destructive step; `--yes` skips the question. Without a terminal there is
 * no one to ask, so a script must say --yes: a pipe never deletes anything by accident.
 */
export async function confirmOrStop(io: CliIo, yes: boolean, question: string, retry: string): Promise<void> {
  if (yes) return;
  if (!io.ask) throw new VmsError(`\`${retry}\` asks first, and there is no terminal to ask on: add --yes (${retry} --yes).`);
  const answer = (await io.ask(`${question} [y/N] `)).trim().toLowerCase();
  if (answer !== 'y' && answer !== 'yes') throw new VmsError('Nothing was changed.');
}

/** Asks one question on the terminal (stdin and stderr both terminals), else undefined. */
export function terminalAsker(): ((question: string) => Promise<string>) | undefined {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  return async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      return await rl.question(question);
    } finally {
      rl.close();
    }
  };
}
