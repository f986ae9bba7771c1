import { execa } from 'execa';
import { VmsError } from '../errors.js';
import { runTool } from './run.js';

/** One small function per qemu-img command. */

export async function createDisk(path: string, size: string): Promise<void> {
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', path, size]);
}

/** A copy-on-write overlay: instant, whatever the size of the backing image. */
export async function createOverlay(path: string, backingPath: string): Promise<void> {
  await runTool('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', backingPath, path]);
}

export interface ImageInfo {
  format: string;
  virtualSize: number;
  actualSize: number;
  backingFile?: string;
}

export async function imageInfo(path: string): Promise<ImageInfo> {
  // -U: the image may be open by a running VM; we only read its header.
  const out = await runTool('qemu-img', ['info', '-U', '--output=json', path], {
    explain: (stderr) => (/Could not open|No such file/.test(stderr) ? `Cannot read the disk image ${path}: check the path and try again.` : undefined),
  });
  const info = JSON.parse(out) as Record<string, unknown>;
  return {
    format: String(info.format),
    virtualSize: Number(info['virtual-size']),
    actualSize: Number(info['actual-size'] ?? 0),
    backingFile: (info['full-backing-filename'] ?? info['backing-filename']) as string | undefined,
  };
}

/** Every file in an image's backing chain, the image itself first. */
export async function backingChain(path: string): Promise<string[]> {
  const out = await runTool('qemu-img', ['info', '-U', '--backing-chain', '--output=json', path]);
  return (JSON.parse(out) as Array<{ filename: string }>).map((layer) => layer.filename);
}

/**
 * Writes an independent, flattened qcow2 copy. `onProgress` gets 0–100 from qemu-img's own progress
 * output (`-p` prints `    (12.34/100%)` with carriage returns).
 */
export async function convertToQcow2(source: string, target: string, onProgress?: (percent: number) => void): Promise<void> {
  const child = execa('qemu-img', ['convert', '-p', '-O', 'qcow2', '-W', '-m', '4', source, target]);
  child.stdout?.on('data', (chunk: Buffer) => {
    const matches = [...chunk.toString().matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
    const last = matches.at(-1);
    if (last && onProgress) onProgress(Number(last[1]));
  });
  try {
    await child;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '');
    if (/No space left/.test(stderr)) throw new VmsError('The disk is full: free some space (or set another images folder) and try again.', { cause: error, stderr });
    if ((error as { code?: string }).code === 'ENOENT') throw new VmsError('qemu-img is not installed: install the qemu-img package and try again.', { cause: error });
    throw new VmsError(`Copying ${source} failed: ${stderr.trim().split('\n')[0] || String(error)}`, { cause: error, stderr });
  }
}
