import type { Engine } from '../engine/index.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Shown in the verb's --help, e.g. `--memory MIB  Memory in MiB`. */
  description: string;
  valueName?: string;
}

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** True when stderr is a terminal (progress bars are drawn only then). */
  interactive: boolean;
  /** Asks a question on the terminal and returns the answer; absent when there is no terminal to ask on. */
  ask?: (question: string) => Promise<string>;
}

export interface CommandContext {
  engine: Engine;
  json: boolean;
  io: CliIo;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | undefined>;
}

/** One verb of the command line; each lives in its own file under commands/. */
export interface Command {
  /** `create`, or two words for a group: `template import`. */
  name: string;
  summary: string;
  /** Arguments after the verb, e.g. `NAME --template T`. */
  usage: string;
  positionals: { min: number; max: number; names: string[] };
  options?: Record<string, OptionSpec>;
  /** Prints state, so it takes --json. */
  json?: boolean;
  /** Does not need libvirt (skips the repair step). */
  offline?: boolean;
  hidden?: boolean;
  /** Looks at the state as it is: the automatic repair would hide what it reports (vms check). */
  skipRepair?: boolean;
  run(ctx: CommandContext, args: ParsedArgs): Promise<number | void>;
}
