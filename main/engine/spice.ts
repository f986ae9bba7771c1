import type { EngineContext } from './context.js';
import { VmsError } from './errors.js';
import { getVm } from './inventory.js';
import { defineDomain, dumpXml } from './libvirt/domains.js';
import type { VmInfo } from './types.js';
import { editDomainXml, setClipboard } from './xml/domain-edit.js';

export interface ClipboardChange {
  vm: VmInfo;
  /** False when the VM runs: QEMU fixes SPICE copy-and-paste at start, so the change applies at the next one. */
  appliesNow: boolean;
}

/**
 * Turns SPICE copy-and-paste between the desktop and a VM on or off (libvirt's `<clipboard copypaste>`):
 * read the config, change it, define it. QEMU takes the setting at start only.
 */
export async function setVmClipboard(ctx: EngineContext, name: string, enabled: boolean): Promise<ClipboardChange> {
  const vm = await getVm(ctx, name);
  if (!vm.persistent) {
    throw new VmsError(`"${name}" is a disposable: its clipboard is fixed while it runs; start a new one after changing its template's setting, or use another VM.`);
  }
  const xml = await dumpXml(ctx.libvirt, name, { inactive: true });
  await defineDomain(ctx.libvirt, editDomainXml(xml, setClipboard(enabled)));
  const after = await getVm(ctx, name);
  return { vm: after, appliesNow: after.state === 'shut off' };
}
