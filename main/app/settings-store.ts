import Store, { type Schema } from 'electron-store';
import type { SettingsAccess } from '../ipc/service.js';
import { SETTINGS_FILE_NAME, settingsSchema, type Settings } from '../settings/schema.js';
import { settingsDir } from '../settings/settings-file.js';

/**
 * The settings in electron-store, with the schema the CLI checks too, in the folder the CLI reads
 * (`settingsDir()`: ~/.config/vms/config.json), so both always agree.
 */
export function openSettingsStore(): SettingsAccess & { path: string } {
  const store = new Store<Settings>({
    name: SETTINGS_FILE_NAME,
    cwd: settingsDir(),
    schema: settingsSchema as unknown as Schema<Settings>,
    // A file broken by hand is reported, not silently emptied.
    clearInvalidConfig: false,
  });
  return {
    path: store.path,
    get: () => ({ ...store.store }),
    set(patch) {
      for (const [key, value] of Object.entries(patch) as Array<[keyof Settings, Settings[keyof Settings]]>) {
        if (value === undefined) store.delete(key);
        else store.set(key, value);
      }
    },
  };
}
