import { VmsError } from '../../engine/errors.js';
import type { Command } from '../command.js';
import { completionScript, SHELLS, type Shell } from '../completions.js';

/** `vms completion bash|zsh|fish`: the completion script, made from `commands` (the table of `vms --help`). */
export function completionCommand(commands: () => readonly Command[]): Command {
  return {
    name: 'completion',
    summary: 'Print the shell completion script for bash, zsh or fish',
    usage: 'bash|zsh|fish',
    positionals: { min: 1, max: 1, names: ['SHELL'] },
    offline: true,
    async run({ io }, { positionals: [shell] }) {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new VmsError(`There is no completion for "${shell}": choose ${SHELLS.join(', ')}.`);
      io.out(completionScript(shell as Shell, commands()));
    },
  };
}
