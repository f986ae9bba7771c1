import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The project's assets/ folder (scripts the engine runs), found by walking up from this module: the same
 * code runs from dist/ (tsc), from the CLI bundle, and from a packaged app.
 */
export function assetsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    if (existsSync(join(dir, 'assets', 'template')) && existsSync(join(dir, 'package.json'))) return join(dir, 'assets');
    dir = dirname(dir);
  }
  // Packaged by electron-builder: assets are shipped as extra resources.
  const resources = (process as { resourcesPath?: string }).resourcesPath;
  return join(resources ?? dirname(fileURLToPath(import.meta.url)), 'assets');
}

export function assetPath(...parts: string[]): string {
  return join(assetsDir(), ...parts);
}
