import { parseArgs } from 'node:util';
import { resolveConfig } from '../engine/config.js';
import { readFileSync } from 'node:fs';
import { isVmsError, NoSuchVmError, VmsError } from '../engine/errors.js';
import { Engine } from '../engine/index.js';
import { readSettings } from '../settings/settings-file.js';
import type { CliIo, Command, OptionSpec } from './command.js';
import { COMMANDS } from './commands/index.js';
import { terminalAsker } from './confirm.js';
import { didYouMean } from './suggest.js';

function optionLine(name: string, spec: OptionSpec): string {
  const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
  return `  ${flag.padEnd(28)} ${spec.description}`;
}

export function commandHelp(command: Command): string {
  const lines = [`Usage: vms ${command.name}${command.usage ? ` ${command.usage}` : ''}`, '', command.summary + '.'];
  const options = Object.entries(command.options ?? {}).map(([name, spec]) => optionLine(name, spec));
  if (command.json) options.push(optionLine('json', { type: 'boolean', description: 'Print machine-readable JSON' }));
  options.push(optionLine('help', { type: 'boolean', short: 'h', description: 'Show this help' }));
  return [...lines, '', 'Options:', ...options].join('\n');
}

/** `vms network --help`: every verb of a group, with its usage. */
export function groupHelp(group: string): string {
  const members = COMMANDS.filter((c) => !c.hidden && (c.name === group || c.name.startsWith(`${group} `)));
  // `vms cache --help`: cache is a verb of its own too; its help comes first, then the rest of the group.
  const own = members.find((c) => c.name === group);
  if (own) {
    return [commandHelp(own), '', 'Also in this group:', ...members.filter((c) => c !== own).map((c) => `  vms ${c.name}${c.usage ? ` ${c.usage}` : ''}    ${c.summary}`)].join('\n');
  }
  return [
    `Usage: vms ${group} VERB [ARGS]`,
    '',
    ...members.flatMap((c) => [`  vms ${c.name}${c.usage ? ` ${c.usage}` : ''}`, `      ${c.summary}.`]),
    '',
    `\`vms ${group} VERB --help\` explains one.`,
  ].join('\n');
}

function groupNames(): string[] {
  return [...new Set(COMMANDS.filter((c) => !c.hidden && c.name.includes(' ')).map((c) => c.name.split(' ')[0]))];
}

/** The version in package.json, found by walking up from this file (the bundle and tsc's output sit at different depths). */
export function vmsVersion(): string {
  for (let dir = new URL('.', import.meta.url); dir.pathname !== '/'; dir = new URL('..', dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'vms' && pkg.version) return pkg.version;
    } catch {
      // not here: look one folder up
    }
  }
  return 'unknown';
}

export function mainHelp(): string {
  const verbs = COMMANDS.filter((c) => !c.hidden).map((c) => `  ${c.name.padEnd(18)} ${c.summary}`);
  return [
    'Usage: vms VERB [ARGS] [--json]',
    '',
    'Split your desktop into small, isolated VMs: templates, appvms, standalone VMs and disposables.',
    '',
    'Verbs:',
    ...verbs,
    '',
    'Every verb takes --help; `vms GROUP --help` lists a group (template, network, usb, cache, config). --version prints the version.',
    'Environment: VMS_URI (libvirt URI), VMS_IMAGES_DIR, VMS_ACCEL=kvm|tcg, VMS_CONFIG_DIR,',
    'VMS_PKG_CACHE_DIR (package caches), VMS_DISPOSABLE_POOL (preloaded disposables per template, 0-8),',
    'VMS_PACMAN_CONF (pacman.conf for template build), VMS_CACHE_DIR (the KVM probe\'s verdict). Settings: vms config get.',
  ].join('\n');
}

function findCommand(argv: string[]): { command: Command; rest: string[] } | undefined {
  const two = COMMANDS.find((c) => c.name === `${argv[0]} ${argv[1]}`);
  if (two) return { command: two, rest: argv.slice(2) };
  const one = COMMANDS.find((c) => c.name === argv[0]);
  return one ? { command: one, rest: argv.slice(1) } : undefined;
}

export interface CliOptions {
  io?: CliIo;
  engine?: Engine;
  env?: NodeJS.ProcessEnv;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text),
  interactive: Boolean(process.stderr.isTTY),
  ask: terminalAsker(),
};

/** Runs one command line and returns the exit code; never throws. */
export async function runCli(argv: string[], options: CliOptions = {}): Promise<number> {
  const io = options.io ?? processIo;
  const fail = (message: string, code = 1) => {
    io.err(`vms: ${message}\n`);
    return code;
  };
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    io.out(mainHelp());
    return argv.length === 0 ? 2 : 0;
  }
  if (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version') {
    io.out(`vms ${vmsVersion()}`);
    return 0;
  }
  const isGroup = groupNames().includes(argv[0]);
  if (isGroup && (argv[1] === '--help' || argv[1] === '-h' || argv[1] === 'help')) {
    io.out(groupHelp(argv[0]));
    return 0;
  }
  const found = findCommand(argv);
  if (!found) {
    if (isGroup) {
      const verbs = COMMANDS.filter((c) => c.name.startsWith(`${argv[0]} `) && !c.hidden).map((c) => c.name.split(' ')[1]);
      const hint = argv[1] === undefined ? '' : ` "${argv[1]}" is not one.${didYouMean(argv[1], verbs)}`;
      return fail(`\`vms ${argv[0]}\` needs one of: ${verbs.join(', ')} (see \`vms ${argv[0]} --help\`).${hint}`, 2);
    }
    const verbs = [...new Set(COMMANDS.filter((c) => !c.hidden).map((c) => c.name.split(' ')[0]))];
    return fail(`"${argv[0]}" is not a vms verb: see \`vms --help\`.${didYouMean(argv[0], verbs)}`, 2);
  }
  const { command, rest } = found;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(Object.entries(command.options ?? {}).map(([name, spec]) => [name, spec.short ? { type: spec.type, short: spec.short } : { type: spec.type }])),
        help: { type: 'boolean', short: 'h' },
        ...(command.json ? { json: { type: 'boolean' } } : {}),
      },
    });
  } catch (error) {
    const unknown = /Unknown option '([^']+)'/.exec((error as Error).message);
    const problem = unknown ? `Unknown option ${unknown[1]}` : (error as Error).message.split('\n')[0].replace(/\.$/, '');
    return fail(`${problem}: see \`vms ${command.name} --help\`.`, 2);
  }
  if (parsed.values.help) {
    io.out(commandHelp(command));
    return 0;
  }
  const { min, max, names } = command.positionals;
  if (parsed.positionals.length < min) return fail(`\`vms ${command.name}\` needs ${names.slice(parsed.positionals.length, min).join(' ')}: see \`vms ${command.name} --help\`.`, 2);
  if (parsed.positionals.length > max) return fail(`\`vms ${command.name}\` takes ${max === 0 ? 'no arguments' : `only ${names.join(' ')}`}; got "${parsed.positionals.slice(max).join(' ')}" too.`, 2);

  let engine: Engine | undefined;
  try {
    engine = options.engine ?? new Engine(resolveConfig(readSettings(options.env), options.env));
    if (!command.offline && !command.hidden && !command.skipRepair) await engine.repair();
    const code = await command.run({ engine, json: parsed.values.json === true, io }, { positionals: parsed.positionals, values: parsed.values as Record<string, string | boolean | undefined> });
    return typeof code === 'number' ? code : 0;
  } catch (error) {
    if (isVmsError(error)) {
      if (options.env?.VMS_DEBUG ?? process.env.VMS_DEBUG) io.err(`${(error as VmsError).stderr ?? ''}\n${(error as Error).stack}\n`);
      if (error instanceof NoSuchVmError && engine) return fail(`${error.message}${didYouMean(error.vmName, await vmNames(engine))}`);
      return fail(error.message);
    }
    io.err(`vms: unexpected error: ${(error as Error).stack ?? String(error)}\nPlease report this as a bug.\n`);
    return 70;
  }
}

async function vmNames(engine: Engine): Promise<string[]> {
  try {
    return (await engine.list()).map((vm) => vm.name);
  } catch {
    return []; // a suggestion is a nicety: the error itself is already known
  }
}
