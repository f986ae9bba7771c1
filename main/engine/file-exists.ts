import { stat } from 'node:fs/promises';

/** True when something exists at `path` (markers, VM folders). */
export async function pathExists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}
