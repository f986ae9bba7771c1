import { readFile } from 'node:fs/promises';
import { execa } from 'execa';

/**
 * What the viewer tests share: an X server of their own (Xvfb), the sockets a VM's QEMU listens on, and
 * running the `vms` command line as the unprivileged libvirt user `vmstest`.
 */

/** The unprivileged user in groups libvirt and kvm (set up by .ci/run), as a desktop user would be. */
export const DESKTOP_USER = 'vmstest';

function launchXvfb(size: string) {
  return execa('Xvfb', ['-displayfd', '3', '-screen', '0', `${size}x24`, '-nolisten', 'tcp', '-br'], { stdio: ['ignore', 'ignore', 'pipe', 'pipe'], reject: false });
}
export type Xvfb = ReturnType<typeof launchXvfb>;

/** Starts Xvfb on a display it picks itself (-displayfd); black root, so an empty screen is all black. */
export async function startXvfb(size = '1600x1000'): Promise<{ xvfb: Xvfb; display: string }> {
  const xvfb = launchXvfb(size);
  const number = await new Promise<string>((resolve, reject) => {
    let text = '';
    (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    void xvfb.then((result) => reject(new Error(`Xvfb ended: ${String(result.stderr)}`)));
  });
  return { xvfb, display: `:${number}` };
}

/** The running domain's QEMU process id (libvirt's pid file). */
export async function qemuPid(name: string): Promise<number> {
  return Number((await readFile(`/run/libvirt/qemu/${name}.pid`, 'utf8')).trim());
}

/** Every listening TCP socket (IPv4 and IPv6) owned by the process, as `ss` prints them. */
export async function listeningTcpSockets(pid: number): Promise<string[]> {
  const { stdout } = await execa('ss', ['-H', '-ltnp'], { env: { LC_ALL: 'C' } });
  return stdout.split('\n').filter((line) => line.includes(`pid=${pid},`));
}

/** The user's uid, read from the process's /proc status. */
export async function processUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
}

/** A command line that runs as DESKTOP_USER: through runuser when the test runs as root, as is when it is that user. */
export function asDesktopUser(command: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', DESKTOP_USER, '--', ...command] : command;
}

/** Runs a program as DESKTOP_USER with exactly these environment variables (plus LC_ALL=C). */
export function runAsDesktopUser(file: string, args: string[], env: Record<string, string | undefined>, options: { timeout?: number } = {}) {
  const assignments = Object.entries({ ...env, LC_ALL: 'C' }).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
  const [command, ...rest] = asDesktopUser(['env', '-i', ...assignments, file, ...args]);
  return execa(command, rest, { reject: false, timeout: options.timeout ?? 60_000 });
}

/** i3's focused workspace button (its default colors): i3's bar is on screen when these pixels are. */
export const I3_FOCUSED_WORKSPACE = '#285577';

/**
 * How many of a region's pixels (WxH+X+Y) of a PNG have this color, give or take 2 % (ImageMagick). Tight,
 * because the anti-aliased edges of other colors pass through shades close to any color.
 */
export async function colorPixels(png: string, geometry: string, color: string): Promise<number> {
  const { stdout } = await execa('convert', [png, '-crop', geometry, '+repage', '-fuzz', '2%', '-fill', 'black', '+opaque', color,
    '-fill', 'white', '-opaque', color, '-colorspace', 'Gray', '-format', '%[fx:round(mean*w*h)]', 'info:']);
  return Number(stdout);
}
