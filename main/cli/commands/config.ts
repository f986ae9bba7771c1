import { DEFAULTS } from '../../engine/config.js';
import { VmsError } from '../../engine/errors.js';
import { labelProblem } from '../../engine/names.js';
import { formatMemoryMiB, sizeProblem } from '../../engine/units.js';
import type { Settings } from '../../settings/schema.js';
import { readSettings, settingsPath } from '../../settings/settings-file.js';
import { writeSetting } from '../../settings/settings-write.js';
import type { Command, CommandContext } from '../command.js';
import { memoryOption, wholeNumber } from '../options.js';
import { didYouMean } from '../suggest.js';

/** `vms config`: the settings the CLI and the tray app share, by the names users type. */

interface ConfigKey {
  setting: keyof Settings;
  description: string;
  /** The environment variable that wins over the file, if any. */
  env?: string;
  /** Reads what the user typed into the stored value; throws a VmsError with what to type instead. */
  parse(value: string, ctx: CommandContext): Promise<Settings[keyof Settings]>;
  show(value: unknown): string;
}

const plain = (value: unknown) => String(value);

export const CONFIG_KEYS: Record<string, ConfigKey> = {
  'default-template': {
    setting: 'defaultTemplate',
    description: 'template for create and disposable when --template is not given',
    async parse(value, { engine }) {
      const vm = await engine.find(value);
      if (vm?.meta.kind !== 'template') throw new VmsError(`There is no template named "${value}": see \`vms list\`.`);
      return value;
    },
    show: plain,
  },
  'default-domain': {
    setting: 'defaultLabel',
    description: 'domain of a new VM when --domain is not given',
    async parse(value) {
      const problem = labelProblem(value);
      if (problem) throw new VmsError(`${problem}.`);
      return value;
    },
    show: plain,
  },
  'default-memory': {
    setting: 'defaultMemoryMiB',
    description: 'memory of a new VM',
    async parse(value) { return memoryOption(value); },
    show: (value) => formatMemoryMiB(Number(value)),
  },
  'default-cpus': {
    setting: 'defaultVcpus',
    description: 'CPUs of a new VM',
    async parse(value) { return wholeNumber(value, 'default-cpus'); },
    show: plain,
  },
  'default-disk-size': {
    setting: 'defaultDiskSize',
    description: 'size of a new VM’s /home disk',
    async parse(value) {
      const problem = sizeProblem(value);
      if (problem) throw new VmsError(`default-disk-size: ${problem}.`);
      return value.trim();
    },
    show: plain,
  },
  accel: {
    setting: 'accel',
    env: 'VMS_ACCEL',
    description: 'kvm or tcg for every VM; unset: chosen at each start by a quick KVM probe',
    async parse(value) {
      if (value !== 'kvm' && value !== 'tcg') throw new VmsError(`accel takes kvm or tcg (got "${value}"); \`vms config unset accel\` lets each start choose.`);
      return value;
    },
    show: plain,
  },
  'pool-size': {
    setting: 'disposablePoolSize',
    env: 'VMS_DISPOSABLE_POOL',
    description: 'preloaded disposables kept ready per template, 0 to 8',
    async parse(value) { return wholeNumber(value, 'pool-size', '1'); },
    show: plain,
  },
};

const DEFAULT_SHOWN: Partial<Record<keyof Settings, unknown>> = {
  defaultLabel: DEFAULTS.defaultLabel,
  defaultMemoryMiB: DEFAULTS.defaultMemoryMiB,
  defaultVcpus: DEFAULTS.defaultVcpus,
  defaultDiskSize: DEFAULTS.defaultDiskSize,
  disposablePoolSize: DEFAULTS.disposablePoolSize,
};

function configKey(name: string): ConfigKey {
  const key = CONFIG_KEYS[name];
  if (!key) throw new VmsError(`"${name}" is not a setting: use ${Object.keys(CONFIG_KEYS).join(', ')}.${didYouMean(name, Object.keys(CONFIG_KEYS))}`);
  return key;
}

function describe(name: string, key: ConfigKey, stored: Settings, env: NodeJS.ProcessEnv) {
  const fromEnv = key.env ? env[key.env] : undefined;
  const value = fromEnv ?? stored[key.setting] ?? DEFAULT_SHOWN[key.setting];
  const source = fromEnv !== undefined ? `from ${key.env}` : stored[key.setting] !== undefined ? 'set' : value === undefined ? 'not set' : 'default';
  return { key: name, value: value === undefined ? null : value, shown: value === undefined ? '-' : key.show(value), source, description: key.description };
}

export const configGet: Command = {
  name: 'config get',
  summary: 'Show the settings shared by the CLI and the tray app (all, or one)',
  usage: '[KEY]',
  positionals: { min: 0, max: 1, names: ['KEY'] },
  json: true,
  offline: true,
  async run({ json, io }, { positionals: [name] }) {
    const stored = readSettings();
    const rows = (name ? [name] : Object.keys(CONFIG_KEYS)).map((n) => describe(n, configKey(n), stored, process.env));
    if (json) {
      io.out(JSON.stringify(name ? rows[0] : rows, null, 2));
      return;
    }
    if (name) {
      io.out(rows[0].shown);
      return;
    }
    const width = Math.max(...rows.map((r) => r.key.length));
    io.out([...rows.map((r) => `${r.key.padEnd(width)}  ${r.shown.padEnd(10)} (${r.source}) ${r.description}`), `(in ${settingsPath()})`].join('\n'));
  },
};

export const configSet: Command = {
  name: 'config set',
  summary: 'Change a setting; `vms config unset KEY` goes back to the default',
  usage: `KEY VALUE    keys: ${Object.keys(CONFIG_KEYS).join(', ')}`,
  positionals: { min: 2, max: 2, names: ['KEY', 'VALUE'] },
  async run(ctx, { positionals: [name, value] }) {
    const key = configKey(name);
    await writeSetting(key.setting, await key.parse(value, ctx));
    const overridden = key.env && process.env[key.env] !== undefined ? ` (${key.env} is set and wins while it is)` : '';
    ctx.io.out(`${name} is ${key.show(readSettings()[key.setting])}${overridden}.`);
  },
};

export const configUnset: Command = {
  name: 'config unset',
  summary: 'Remove a setting, so its default applies',
  usage: 'KEY',
  positionals: { min: 1, max: 1, names: ['KEY'] },
  offline: true,
  async run({ io }, { positionals: [name] }) {
    const key = configKey(name);
    await writeSetting(key.setting, undefined);
    const fallback = DEFAULT_SHOWN[key.setting];
    io.out(`${name} is back to ${fallback === undefined ? 'not set' : `its default, ${key.show(fallback)}`}.`);
  },
};
