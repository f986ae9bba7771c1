import type { Libvirt } from './connection.js';
import { isLibvirtError } from './errors.js';

/** Networks and network filters: one small function per libvirt call. */

async function ignoring(work: Promise<unknown>, ...kinds: Array<'not-found' | 'inactive' | 'active'>): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!kinds.some((kind) => isLibvirtError(error, kind))) throw error;
  }
}

export interface NetworkEntry {
  name: string;
  active: boolean;
  /** The persistent definition (`--inactive`): what the network will be on its next start. */
  xml: string;
}

/** Every libvirt network, vms's or not, with its definition; one virsh process for the lists, one for the XML. */
export async function listNetworks(lv: Libvirt): Promise<NetworkEntry[]> {
  const [all, active] = await lv.batchOrThrow([['net-list', '--all', '--name'], ['net-list', '--name']]);
  const names = all.split('\n').map((n) => n.trim()).filter(Boolean);
  const activeNames = new Set(active.split('\n').map((n) => n.trim()));
  const xmls = await lv.batch(names.map((n) => ['net-dumpxml', '--inactive', n]));
  return names.flatMap((name, i) => (xmls[i].stdout.includes('<network') ? [{ name, active: activeNames.has(name), xml: xmls[i].stdout }] : []));
}

export async function defineNetwork(lv: Libvirt, xml: string): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['net-define', file]));
}

/** Starts a network; one that is already active is fine. */
export async function startNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-start', name]), 'active');
}

export async function destroyNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-destroy', name]), 'inactive', 'not-found');
}

export async function undefineNetwork(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['net-undefine', name]), 'not-found');
}

/** The definitions of network filters, in order (undefined where there is none); one virsh process. */
export async function filterXmls(lv: Libvirt, names: string[]): Promise<Array<string | undefined>> {
  const xmls = await lv.batch(names.map((name) => ['nwfilter-dumpxml', name]));
  return xmls.map((r) => (r.stdout.includes('<filter') ? r.stdout : undefined));
}

/** The UUID in a filter's definition: libvirt redefines a filter only under its UUID. */
export function filterUuidOf(xml: string | undefined): string | undefined {
  return xml ? /<uuid>([0-9a-f-]+)<\/uuid>/.exec(xml)?.[1] : undefined;
}

/** Defines or redefines a filter; libvirt re-applies a redefined filter to running VMs before returning. */
export async function defineFilter(lv: Libvirt, xml: string): Promise<void> {
  await lv.withXmlFile(xml, (file) => lv.run(['nwfilter-define', file]));
}

export async function undefineFilter(lv: Libvirt, name: string): Promise<void> {
  await ignoring(lv.run(['nwfilter-undefine', name]), 'not-found');
}

export async function listFilters(lv: Libvirt): Promise<string[]> {
  const out = await lv.run(['nwfilter-list']);
  return out.split('\n').map((line) => line.trim().split(/\s+/)[1]).filter((n): n is string => Boolean(n) && n !== 'Name');
}
