import type { Command } from '../command.js';
import { clone, create, remove } from './create.js';
import { consoleCommand, view } from './display.js';
import { disposable, watchDisposable } from './disposable.js';
import { info, list } from './inventory.js';
import { kill, restart, start, stop } from './lifecycle.js';
import { templateBuild, templateImport } from './template.js';

/** Every verb, in the order `vms --help` lists them. */
export const COMMANDS: Command[] = [
  list, info, create, clone, start, stop, kill, restart, remove, disposable,
  templateBuild, templateImport, consoleCommand, view, watchDisposable,
];
