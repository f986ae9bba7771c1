import type { EngineContext } from './context.js';
import { NoSuchVmError, VmsError } from './errors.js';
import { domainXmlAndStatus, dumpXmlIfExists, listDomainsWithXml, type DomainSnapshot } from './libvirt/domains.js';
import type { VmInfo } from './types.js';
import { readDomain } from './xml/domain-read.js';

/** Every VM vms manages, read back from libvirt (domains without vms metadata are left out). */
export async function listVms(ctx: EngineContext): Promise<VmInfo[]> {
  return (await listDomainsWithXml(ctx.libvirt)).flatMap((domain) => {
    const definition = readDomain(domain.xml);
    return definition ? [{ ...definition, state: domain.state, persistent: domain.persistent }] : [];
  });
}

/** A VmInfo from what libvirt returned; undefined when the domain carries no vms metadata. */
export function vmFromSnapshot(snapshot: DomainSnapshot): VmInfo | undefined {
  const definition = readDomain(snapshot.xml);
  return definition ? { ...definition, ...snapshot.status } : undefined;
}

export async function findVm(ctx: EngineContext, name: string): Promise<VmInfo | undefined> {
  const found = await domainXmlAndStatus(ctx.libvirt, name);
  return found ? vmFromSnapshot(found) : undefined;
}

export async function getVm(ctx: EngineContext, name: string): Promise<VmInfo> {
  const vm = await findVm(ctx, name);
  if (!vm) {
    const other = await dumpXmlIfExists(ctx.libvirt, name);
    if (other) throw new VmsError(`The libvirt domain "${name}" was not made by vms: manage it with virsh or virt-manager.`);
    throw new NoSuchVmError(name);
  }
  return vm;
}

export async function getTemplate(ctx: EngineContext, name: string): Promise<VmInfo> {
  const vm = await findVm(ctx, name);
  if (!vm || vm.meta.kind !== 'template') {
    throw new VmsError(`There is no template named "${name}": see \`vms list\`, or make one with \`vms template build ${name}\` or \`vms template import ${name} IMAGE\`.`);
  }
  return vm;
}
