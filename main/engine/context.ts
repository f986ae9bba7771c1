import type { EngineConfig } from './config.js';
import { StorageLayout } from './storage-layout.js';

/** What every engine operation is given: the configuration and where files live. */
export interface EngineContext {
  config: EngineConfig;
  layout: StorageLayout;
}

export function makeContext(config: EngineConfig): EngineContext {
  return { config, layout: new StorageLayout(config.imagesDir) };
}
