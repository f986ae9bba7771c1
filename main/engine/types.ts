/** The kinds of VM, as in Qubes. */
export type VmKind = 'template' | 'appvm' | 'standalone' | 'disposable';
export const VM_KINDS: readonly VmKind[] = ['template', 'appvm', 'standalone', 'disposable'];

/** libvirt's domain states, as `virsh domstate` names them. */
export type VmState = 'running' | 'paused' | 'shut off' | 'crashed' | 'in shutdown' | 'pmsuspended' | 'idle' | 'blocked' | 'unknown';

/** Running or paused: QEMU is there, with its devices and display. Pure. */
export function isOn(vm: { state: VmState }): boolean {
  return vm.state === 'running' || vm.state === 'paused';
}

export type Accel = 'kvm' | 'tcg';

/** What vms keeps about a VM in the domain's namespaced `<metadata>` element. */
export interface VmMeta {
  kind: VmKind;
  /** The security domain the VM belongs to: work, personal, hobby, disposable, … */
  label: string;
  /** For appvms, standalones made from a template, and disposables: the template's name. */
  template?: string;
  /** A CSS color for the tray and the viewer, e.g. `#2563eb`. */
  color?: string;
  /** For templates: the published image version children start from. */
  imageVersion?: number;
  /** For templates: set while the template runs on a version that is not yet published. */
  updating?: boolean;
  /** For disposables kept booted and paused, ready to hand out (issue: preloaded disposables). */
  preloaded?: boolean;
  /** ISO time of creation. */
  created?: string;
  /** The accelerator the VM last started with (chosen at every start: accel.ts). */
  accel?: Accel;
}

export interface VmDisk {
  /** `vda`, `vdb`, … */
  target: string;
  device: string;
  /** For a disk of a storage pool (vms's own disks): the pool and volume. */
  pool?: string;
  volume?: string;
  /** For a disk given by path (a domain made by hand, or a running domain's resolved source). */
  path?: string;
}

/** A VM as read back from libvirt: its domain XML plus its state. */
export interface VmInfo {
  name: string;
  uuid: string;
  meta: VmMeta;
  state: VmState;
  persistent: boolean;
  memoryMiB: number;
  vcpus: number;
  disks: VmDisk[];
  nvramPath?: string;
  /** The NIC's libvirt network, when it has one. */
  network?: string;
  clipboard: boolean;
  /** Host folders shared over virtiofs (the pacman caches), by mount tag. */
  sharedFolders?: Array<{ tag: string; source: string }>;
}
