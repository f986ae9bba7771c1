import { join } from 'node:path';
import type { EngineConfig } from './config.js';
import { Libvirt } from './libvirt/connection.js';
import { StorageLayout } from './storage/layout.js';

/** What every engine operation is given: the configuration, the libvirt connection and where things live. */
export interface EngineContext {
  config: EngineConfig;
  libvirt: Libvirt;
  layout: StorageLayout;
}

export function makeContext(config: EngineConfig): EngineContext {
  return {
    config,
    libvirt: new Libvirt(config.uri),
    layout: new StorageLayout(config.pool, join(config.imagesDir, config.pool), config.stateDir),
  };
}
