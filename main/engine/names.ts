import { VmsError } from './errors.js';

/**
 * The safe set of names. A VM name becomes a libvirt domain name, a folder name and part of file paths,
 * so it is kept to letters, digits, `-` and `_`, starting with a letter: no path separators, dots, XML or
 * shell metacharacters can get through.
 */
export const VM_NAME_RULE = 'a letter, then up to 39 letters, digits, "-" or "_"';
const VM_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,39}$/;

/**
 * A domain label (work, personal, …) also names a libvirt network and its bridge (`vms-<label>`), and Linux
 * limits bridge names to 15 characters.
 */
export const LABEL_RULE = 'a lowercase letter, then up to 10 lowercase letters, digits or "-"';
const LABEL = /^[a-z][a-z0-9-]{0,10}$/;

/**
 * Names the engine keeps for itself (`shared` is the shared package cache's folder beside the VMs' own;
 * `host` is the folder in a VM's ~/Incoming/ where `vms copy-to` puts files from the host).
 */
const RESERVED = new Set(['default', 'vms', 'shared', 'host']);

export function vmNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string' || name.length === 0) return 'A VM name is needed';
  if (name.length > 40) return `The name "${name.slice(0, 40)}…" is too long: use at most 40 characters`;
  if (!VM_NAME.test(name)) return `The name ${JSON.stringify(name)} is not allowed: use ${VM_NAME_RULE}`;
  if (RESERVED.has(name.toLowerCase())) return `The name "${name}" is reserved: choose another one`;
  return undefined;
}

export function labelProblem(label: unknown): string | undefined {
  if (typeof label !== 'string' || label.length === 0) return 'A domain name (such as work) is needed';
  if (!LABEL.test(label)) return `The domain ${JSON.stringify(label)} is not allowed: use ${LABEL_RULE}`;
  return undefined;
}

export function assertVmName(name: unknown): asserts name is string {
  const problem = vmNameProblem(name);
  if (problem) throw new VmsError(`${problem}.`);
}

export function assertLabel(label: unknown): asserts label is string {
  const problem = labelProblem(label);
  if (problem) throw new VmsError(`${problem}.`);
}
