import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Writes a sysfs-like tree of USB devices: <root>/bus/usb/devices/<id>/<file>, each file one line. */
export async function sysfsTree(root: string, devices: Record<string, Record<string, string>>): Promise<void> {
  for (const [id, files] of Object.entries(devices)) {
    const dir = join(root, 'bus', 'usb', 'devices', id);
    await mkdir(dir, { recursive: true });
    for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), `${content}\n`);
  }
}
