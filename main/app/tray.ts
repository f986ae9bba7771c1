import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Menu, nativeImage, Tray, type MenuItemConstructorOptions, type NativeImage } from 'electron';
import { colorDotPng, dotIconName } from '../tray/color-dot.js';
import type { MenuAction, MenuEntry } from '../tray/menu-model.js';

/**
 * The tray icon and its menu: turns the plain menu model (main/tray/menu-model.ts) into an Electron Menu.
 * All decisions about what the menu holds are made in the model.
 */
export class TrayMenu {
  private readonly tray: Tray;
  private readonly dots = new Map<string, NativeImage>();

  constructor(private readonly iconsDir: string, private readonly onAction: (action: MenuAction) => void, onClick: () => void) {
    this.tray = new Tray(nativeImage.createFromPath(join(iconsDir, 'tray.png')));
    this.tray.setToolTip('vms');
    // Delivered by some Linux tray hosts only; the menu has an explicit "Open vms" item too.
    this.tray.on('click', onClick);
  }

  /** A menu icon for a domain color: the shipped file when there is one, else drawn. */
  private dot(color: string | undefined): NativeImage | undefined {
    if (!color || !/^#[0-9a-fA-F]{6}$/.test(color)) return undefined;
    let image = this.dots.get(color);
    if (!image) {
      const file = join(this.iconsDir, dotIconName(color));
      image = existsSync(file) ? nativeImage.createFromPath(file) : nativeImage.createFromBuffer(colorDotPng(color, 32), { scaleFactor: 2 });
      this.dots.set(color, image);
    }
    return image;
  }

  private template(entries: MenuEntry[]): MenuItemConstructorOptions[] {
    return entries.map((entry): MenuItemConstructorOptions => {
      switch (entry.type) {
        case 'separator':
          return { type: 'separator' };
        case 'header':
          return { label: entry.label, enabled: false, icon: this.dot(entry.color) };
        case 'submenu':
          return { label: entry.label, enabled: entry.enabled, icon: this.dot(entry.color), submenu: this.template(entry.items) };
        case 'item': {
          const action = entry.action;
          return { label: entry.label, enabled: entry.enabled, icon: this.dot(entry.color), click: action ? () => this.onAction(action) : undefined };
        }
      }
    });
  }

  render(model: MenuEntry[]): void {
    this.tray.setContextMenu(Menu.buildFromTemplate(this.template(model)));
  }

  destroy(): void {
    this.tray.destroy();
  }
}
