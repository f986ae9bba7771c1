import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { VmsError } from '../engine/errors.js';
import type { Settings } from './schema.js';
import { settingProblem, settingsPath } from './settings-file.js';

/**
 * Changes one setting in the shared settings file (the tray app's electron-store reads the same JSON):
 * the value is checked against the schema first, and the file is replaced atomically, so a crash never
 * leaves half a file. `undefined` removes the setting (back to the default).
 */
export async function writeSetting<K extends keyof Settings>(key: K, value: Settings[K] | undefined, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (value !== undefined) {
    const problem = settingProblem(key, value);
    if (problem) throw new VmsError(`Not saved: ${problem}.`);
  }
  const path = settingsPath(env);
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new VmsError(`The settings file ${path} cannot be read as JSON: fix or remove it and try again.`, { cause: error });
    }
  }
  if (value === undefined) delete data[key];
  else data[key] = value;
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(data, null, '\t')}\n`);
  await rename(temporary, path);
}
