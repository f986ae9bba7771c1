import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { VmsError } from '../engine/errors.js';
import { SETTINGS_FILE_NAME, settingsSchema, type Settings } from './schema.js';

/** `$VMS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/vms`, else `~/.config/vms`: the same folder the tray app uses. */
export function settingsDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VMS_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'vms');
}

export function settingsPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(settingsDir(env), `${SETTINGS_FILE_NAME}.json`);
}

/** Checks one value against the shared schema's simple rules; returns a problem or undefined. */
export function settingProblem(key: string, value: unknown): string | undefined {
  const rule = (settingsSchema as Record<string, { type: string; pattern?: string; enum?: readonly string[]; minimum?: number; maximum?: number }>)[key];
  if (!rule) return `"${key}" is not a setting`;
  const type = rule.type === 'integer' ? 'number' : rule.type;
  if (typeof value !== type || (type === 'object' && (value === null || Array.isArray(value)))) return `"${key}" must be a ${rule.type}`;
  if (rule.type === 'integer' && !Number.isInteger(value)) return `"${key}" must be a whole number`;
  if (rule.pattern && !new RegExp(rule.pattern).test(value as string)) return `"${key}" has a value in the wrong form`;
  if (rule.enum && !rule.enum.includes(value as string)) return `"${key}" must be one of ${rule.enum.join(', ')}`;
  if (rule.minimum !== undefined && (value as number) < rule.minimum) return `"${key}" must be at least ${rule.minimum}`;
  if (rule.maximum !== undefined && (value as number) > rule.maximum) return `"${key}" must be at most ${rule.maximum}`;
  return undefined;
}

/**
 * Reads the settings file the tray app writes (electron-store, built on conf, writes plain JSON). Read
 * directly rather than through conf, because every CLI start pays for conf's schema compiler.
 */
export function readSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const path = settingsPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new VmsError(`The settings file ${path} is not valid JSON: fix or remove it and try again.`, { cause: error });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new VmsError(`The settings file ${path} must hold a JSON object: fix or remove it.`);
  for (const [key, value] of Object.entries(data)) {
    if (key.startsWith('__')) continue; // conf's own bookkeeping
    const problem = settingProblem(key, value);
    if (problem) throw new VmsError(`The settings file ${path} is not valid: ${problem}; fix or remove it and try again.`);
  }
  return data as Settings;
}
