import type { Accel } from '../types.js';
import type { DomainMutator } from './domain-edit.js';
import { child, childElements, el, ensureChild, removeChildren, setText, type XmlElement } from './tree.js';

/**
 * Pure mutators for what a user may change after create (`vms set`) and for what vms sets at every start
 * (acceleration, hostname). Each changes the tree it is given; editDomainXml hands it a copy.
 */

export const setMemory = (memoryMiB: number): DomainMutator => (domain) => {
  // Both, so the balloon does not start the guest below its size; the unit is written out so an
  // old `KiB` attribute cannot turn MiB into KiB.
  for (const name of ['memory', 'currentMemory']) {
    const element = ensureChild(domain, name);
    element.attrs = { unit: 'MiB' };
    setText(element, String(memoryMiB));
  }
};

export const setVcpus = (vcpus: number): DomainMutator => (domain) => {
  const vcpu = ensureChild(domain, 'vcpu');
  // `current` below the maximum would silently keep the old count.
  delete vcpu.attrs.current;
  setText(vcpu, String(vcpus));
};

/**
 * The domain type and CPU model for an accelerator. KVM passes the host CPU through; TCG emulates the
 * most capable CPU QEMU can (`maximum`), which is also what a guest built under KVM expects to find.
 */
export const setAccel = (accel: Accel): DomainMutator => (domain) => {
  domain.attrs.type = accel === 'kvm' ? 'kvm' : 'qemu';
  const cpu = accel === 'kvm' ? el('cpu', { mode: 'host-passthrough', check: 'none' }) : el('cpu', { mode: 'maximum', check: 'none' });
  const index = domain.children.findIndex((c) => typeof c === 'object' && c.name === 'cpu');
  if (index >= 0) domain.children[index] = cpu;
  else domain.children.splice(Math.max(0, domain.children.findIndex((c) => typeof c === 'object' && c.name === 'clock')), 0, cpu);
};

export function accelOf(domain: XmlElement): Accel {
  return domain.attrs.type === 'kvm' ? 'kvm' : 'tcg';
}

const HOSTNAME_CREDENTIAL = 'io.systemd.credential:system.hostname=';

/**
 * The guest's hostname, given from the host without touching its disk: a systemd credential in an SMBIOS
 * OEM string (type 11), which systemd imports at boot (v252+) and uses as the hostname (v254+) when the
 * image has no /etc/hostname. Other OEM strings and sysinfo blocks are kept.
 */
export const setHostname = (hostname: string): DomainMutator => (domain) => {
  const os = ensureChild(domain, 'os');
  removeChildren(os, (e) => e.name === 'smbios');
  os.children.push(el('smbios', { mode: 'sysinfo' }));
  let sysinfo = childElements(domain, 'sysinfo').find((s) => s.attrs.type === 'smbios');
  if (!sysinfo) {
    sysinfo = el('sysinfo', { type: 'smbios' });
    // libvirt's schema wants sysinfo before <os>.
    domain.children.splice(domain.children.indexOf(os), 0, sysinfo);
  }
  const oem = ensureChild(sysinfo, 'oemStrings');
  removeChildren(oem, (e) => e.name === 'entry' && entryText(e).startsWith(HOSTNAME_CREDENTIAL));
  oem.children.push(el('entry', {}, `${HOSTNAME_CREDENTIAL}${hostname}`));
};

function entryText(entry: XmlElement): string {
  return entry.children.filter((c): c is string => typeof c === 'string').join('');
}

export function hostnameOf(domain: XmlElement): string | undefined {
  const sysinfo = childElements(domain, 'sysinfo').find((s) => s.attrs.type === 'smbios');
  const entry = childElements(child(sysinfo, 'oemStrings') ?? el('none'), 'entry').map(entryText).find((t) => t.startsWith(HOSTNAME_CREDENTIAL));
  return entry?.slice(HOSTNAME_CREDENTIAL.length);
}
