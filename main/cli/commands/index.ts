import type { Command } from '../command.js';
import { clone, create, remove } from './create.js';
import { consoleCommand, view } from './display.js';
import { cache, cachePrune } from './cache.js';
import { check } from './check.js';
import { clipboard, clipboardClear, clipboardCopy, clipboardPaste } from './clipboard.js';
import { configGet, configSet, configUnset } from './config.js';
import { set } from './set.js';
import { completionCommand } from './completion.js';
import { disposable, fillDisposablePool, watchDisposable } from './disposable.js';
import { firewall } from './firewall.js';
import { info, list } from './inventory.js';
import { kill, restart, start, stop } from './lifecycle.js';
import { policyCheck, rpcd, rpcLog } from './rpc.js';
import { copyTo, run } from './vm-io.js';
import { networkCreate, networkDelete, networkList, networkSet } from './network.js';
import { templateBuild, templateImport } from './template.js';
import { usbAttach, usbDetach, usbList } from './usb.js';

/** Every verb, in the order `vms --help` lists them. */
export const COMMANDS: Command[] = [
  list, info, create, clone, set, start, stop, kill, restart, remove, disposable,
  templateBuild, templateImport, consoleCommand, view, clipboard, clipboardCopy, clipboardPaste, clipboardClear, usbList, usbAttach, usbDetach, cache, cachePrune,
  networkList, networkCreate, networkSet, networkDelete, firewall, configGet, configSet, configUnset, check,
  completionCommand(() => COMMANDS),
  copyTo, run, rpcd, policyCheck, rpcLog, watchDisposable, fillDisposablePool,
];
