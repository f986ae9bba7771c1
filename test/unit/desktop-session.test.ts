import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chromiumProfileDir } from '../../main/app/app-paths.js';
import { childEnv } from '../../main/app/child-env.js';
import { detectDesktop, disposableBinding, loginStart } from '../../main/app/desktop-session.js';
import { shellWord } from '../../main/engine/shell-word.js';
import { settingsDir } from '../../main/settings/settings-file.js';
import type { LifecycleWatch } from '../../main/engine/libvirt/events.js';
import type { VmInfo } from '../../main/engine/types.js';
import { TrayState } from '../../main/tray/tray-state.js';

/** The desktop-facing decisions of the tray app, pure: which desktop, what login start means there, what children get. */

describe('the desktop the app runs in', { timeout: 10_000 }, () => {
  it('is told by the compositor\'s own variables first, then XDG_CURRENT_DESKTOP', () => {
    assert.equal(detectDesktop({ HYPRLAND_INSTANCE_SIGNATURE: 'abc', XDG_CURRENT_DESKTOP: 'Hyprland' }), 'hyprland');
    assert.equal(detectDesktop({ I3SOCK: '/run/user/1000/i3/ipc-socket.1' }), 'i3');
    assert.equal(detectDesktop({ SWAYSOCK: '/run/user/1000/sway-ipc.sock' }), 'sway');
    assert.equal(detectDesktop({ XDG_CURRENT_DESKTOP: 'ubuntu:GNOME' }), 'gnome');
    assert.equal(detectDesktop({ XDG_CURRENT_DESKTOP: 'KDE' }), 'kde');
    assert.equal(detectDesktop({ XDG_CURRENT_DESKTOP: 'XFCE' }), 'other');
  });

  it('starts at login through XDG autostart where it is read, else through the exact line for the window manager', () => {
    const env = { XDG_CONFIG_HOME: '/home/u/.config' };
    assert.deepEqual(loginStart('gnome', ['/usr/bin/vms-tray', '--hidden'], env), { kind: 'xdg', path: '/home/u/.config/autostart/vms.desktop' });
    assert.deepEqual(loginStart('kde', ['/usr/bin/vms-tray', '--hidden'], env).kind, 'xdg');
    assert.deepEqual(loginStart('hyprland', ['/usr/bin/vms-tray', '--hidden'], env),
      { kind: 'wm', file: '/home/u/.config/hypr/hyprland.conf', line: 'exec-once = /usr/bin/vms-tray --hidden' });
    assert.deepEqual(loginStart('i3', ['/usr/bin/vms-tray', '--hidden'], env),
      { kind: 'wm', file: '/home/u/.config/i3/config', line: 'exec --no-startup-id /usr/bin/vms-tray --hidden' });
    // A development checkout: the words are quoted for the sh -c the window manager runs.
    assert.equal((loginStart('sway', ['/usr/bin/electron', "/home/u/my vms's", '--hidden'], env) as { line: string }).line,
      `exec /usr/bin/electron '/home/u/my vms'\\''s' --hidden`);
  });

  it('offers the window manager\'s own "New disposable" binding on tiling desktops only', () => {
    const env = { XDG_CONFIG_HOME: '/c' };
    assert.deepEqual(disposableBinding('hyprland', ['vms-tray', '--new-disposable'], env), { file: '/c/hypr/hyprland.conf', line: 'bind = SUPER SHIFT, D, exec, vms-tray --new-disposable' });
    assert.deepEqual(disposableBinding('i3', ['vms-tray', '--new-disposable'], env), { file: '/c/i3/config', line: 'bindsym $mod+Shift+d exec --no-startup-id vms-tray --new-disposable' });
    assert.equal(disposableBinding('gnome', ['vms-tray'], env), undefined);
    assert.equal(shellWord('plain/path-1.2'), 'plain/path-1.2');
    assert.equal(shellWord('$HOME'), `'$HOME'`);
  });

  it('keeps Chromium\'s profile apart from config.json, and a checkout apart from the installed app', () => {
    const appData = '/home/u/.config';
    const installed = chromiumProfileDir(appData, true);
    const dev = chromiumProfileDir(appData, false);
    assert.notEqual(installed, dev);
    for (const dir of [installed, dev]) assert.notEqual(dir, settingsDir({ XDG_CONFIG_HOME: appData }));
  });
});

describe('what remote-viewer and terminals inherit', { timeout: 10_000 }, () => {
  it('drops what Electron and an AppImage set for the app, and the AppImage\'s folders from search paths', () => {
    const env = childEnv({
      HOME: '/home/u', DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-1', LANG: 'de_DE.UTF-8',
      NO_AT_BRIDGE: '1', CHROME_DESKTOP: 'vms.desktop', ELECTRON_RUN_AS_NODE: '1', ELECTRON_NO_ATTACH_CONSOLE: '1',
      APPDIR: '/tmp/.mount_vmsAbc', APPIMAGE: '/home/u/vms.AppImage', ARGV0: 'vms.AppImage', OWD: '/home/u',
      PATH: '/tmp/.mount_vmsAbc:/tmp/.mount_vmsAbc/usr/sbin:/usr/local/bin:/usr/bin',
      LD_LIBRARY_PATH: '/tmp/.mount_vmsAbc/usr/lib:',
      XDG_DATA_DIRS: '/tmp/.mount_vmsAbc/usr/share:/usr/local/share:/usr/share',
      GIO_LAUNCHED_DESKTOP_FILE: '/usr/share/applications/vms.desktop',
    });
    assert.deepEqual(env, {
      HOME: '/home/u', DISPLAY: ':0', WAYLAND_DISPLAY: 'wayland-1', LANG: 'de_DE.UTF-8',
      PATH: '/usr/local/bin:/usr/bin', XDG_DATA_DIRS: '/usr/local/share:/usr/share',
    });
  });

  it('leaves a plain desktop environment as it is', () => {
    const plain = { HOME: '/home/u', PATH: '/usr/bin', XDG_RUNTIME_DIR: '/run/user/1000', DBUS_SESSION_BUS_ADDRESS: 'unix:path=/run/user/1000/bus' };
    assert.deepEqual(childEnv(plain), plain);
  });
});

describe('the tray menu is rebuilt only when it changes', { timeout: 10_000 }, () => {
  it('does not re-send an unchanged menu on every progress tick', async () => {
    const vms: VmInfo[] = [{ name: 'mail', uuid: 'u', state: 'shut off', persistent: true, memoryMiB: 1024, vcpus: 1, disks: [], clipboard: true, meta: { kind: 'appvm', label: 'work', template: 'arch' } }];
    let renders = 0;
    const watch: LifecycleWatch = { ready: Promise.resolve(), stop: () => undefined };
    const tray = new TrayState({ list: async () => vms, watch: () => watch, labelColors: () => ({}), defaultTemplate: () => undefined, render: () => { renders++; } });
    await tray.start();
    const afterStart = renders;
    tray.setBusy({ mail: 'cloning' });
    assert.equal(renders, afterStart + 1, 'a new busy VM changes the menu');
    for (let tick = 0; tick < 50; tick++) tray.setBusy({ mail: 'cloning' });
    assert.equal(renders, afterStart + 1, 'progress ticks with the same busy VMs do not');
    tray.setBusy({});
    assert.equal(renders, afterStart + 2);
    tray.stop();
  });
});
