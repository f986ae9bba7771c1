import { lstat, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The viewer window in the domain color. virt-viewer has no option for it, but it is a GTK 3 program
 * whose header bar (the title bar it draws itself) takes the CSS in `$XDG_CONFIG_HOME/gtk-3.0/gtk.css`. So
 * virt-viewer gets a private XDG_CONFIG_HOME, one per color, whose gtk.css imports the user's own and then
 * colors the header bar; the user's GTK settings, dconf and virt-viewer settings are linked in, so
 * nothing else changes. Window-manager borders (i3, Hyprland) stay the window manager's.
 */

const HEX = /^#[0-9a-fA-F]{6}$/;

/** Black or white, whichever reads better on the color (WCAG relative luminance). Pure. */
export function textColorOn(color: string): '#000000' | '#ffffff' {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(color.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return luminance > 0.179 ? '#000000' : '#ffffff';
}

/** gtk.css that colors virt-viewer's header bar; `userCss` is imported first when given. Pure. */
export function viewerCss(color: string, userCss?: string): string {
  if (!HEX.test(color)) throw new Error(`not a color: ${color}`);
  const text = textColorOn(color);
  return [
    '/* Written by vms: the viewer window in its domain color. */',
    userCss ? `@import url("file://${userCss}");` : '',
    'headerbar, headerbar:backdrop, .titlebar, .titlebar:backdrop {',
    `  background: ${color};`,
    '  background-image: none;',
    `  border-color: ${color};`,
    '  box-shadow: none;',
    `  color: ${text};`,
    '}',
    `headerbar label, headerbar button, headerbar image, .titlebar label { color: ${text}; -gtk-icon-shadow: none; }`,
    '',
  ].join('\n');
}

async function ownDirectory(path: string): Promise<boolean> {
  try {
    const info = await lstat(path);
    return info.isDirectory() && !info.isSymbolicLink() && info.uid === process.getuid?.() && (info.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

async function linkIfPresent(target: string, path: string): Promise<void> {
  await rm(path, { force: true });
  try {
    await lstat(target);
  } catch {
    return;
  }
  await symlink(target, path);
}

/**
 * The environment for a virt-viewer whose header bar is `color`. Falls back to `env` unchanged when the
 * color is not a `#rrggbb` color or the folder cannot be made.
 */
export async function coloredViewerEnv(color: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<NodeJS.ProcessEnv> {
  if (!color || !HEX.test(color)) return env;
  const userConfig = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  try {
    let base = join(env.XDG_RUNTIME_DIR || tmpdir(), `vms-viewer-${process.getuid?.() ?? 0}`);
    await mkdir(base, { recursive: true, mode: 0o700 });
    // Someone else's folder in a shared /tmp must not be trusted.
    if (!(await ownDirectory(base))) base = await mkdtemp(join(tmpdir(), 'vms-viewer-'));
    const dir = join(base, color.slice(1).toLowerCase());
    await mkdir(join(dir, 'gtk-3.0'), { recursive: true });
    const userCss = join(userConfig, 'gtk-3.0', 'gtk.css');
    const hasUserCss = await lstat(userCss).then(() => true, () => false);
    await writeFile(join(dir, 'gtk-3.0', 'gtk.css'), viewerCss(color, hasUserCss ? userCss : undefined));
    await linkIfPresent(join(userConfig, 'gtk-3.0', 'settings.ini'), join(dir, 'gtk-3.0', 'settings.ini'));
    await linkIfPresent(join(userConfig, 'gtk-3.0', 'bookmarks'), join(dir, 'gtk-3.0', 'bookmarks'));
    await linkIfPresent(join(userConfig, 'dconf'), join(dir, 'dconf'));
    await linkIfPresent(join(userConfig, 'virt-viewer'), join(dir, 'virt-viewer'));
    return { ...env, XDG_CONFIG_HOME: dir };
  } catch {
    return env;
  }
}
