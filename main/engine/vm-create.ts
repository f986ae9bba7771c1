import type { EngineContext } from './context.js';
import { diskSizeBytes } from './config.js';
import { hostResources } from './host.js';
import { chooseTemplate } from './template-choice.js';
import { resourceProblem } from './units.js';
import { VmsError } from './errors.js';
import { getTemplate } from './inventory.js';
import { defineAndRead } from './libvirt/domains.js';
import { createVolumes } from './libvirt/storage.js';
import { assertLabel, assertVmName } from './names.js';
import { prepareVmNetwork } from './network/vm-network.js';
import { ensureVmCache, pkgLayout, pkgSharedFolders } from './storage/pkg-cache.js';
import { copyDisk, emptyHomeVolume, overlaySpec } from './storage/disks.js';
import { publishedVolume } from './templates.js';
import type { VmInfo, VmMeta } from './types.js';
import { createVmRecord } from './vm-record.js';
import { buildDomainXml, type DomainSpec, type NetworkSpec } from './xml/domain-build.js';

export interface CreateOptions {
  template?: string;
  label?: string;
  memoryMiB?: number;
  vcpus?: number;
  /** Size of the private disk (/home). */
  diskSize?: string;
  /** A full, independent copy of the template's root instead of an appvm. */
  standalone?: boolean;
}

/** The domain description for a VM with root (vda) and, unless disposable, private (vdb) volumes; pure. */
export function vmDomainSpec(ctx: EngineContext, name: string, meta: VmMeta, options: { memoryMiB: number; vcpus: number; rootVolume: string; homeVolume?: string; network?: NetworkSpec; clipboard?: boolean; pkgCache?: boolean }): DomainSpec {
  const pool = ctx.layout.pool;
  return {
    name,
    meta: { ...meta, color: meta.color ?? ctx.config.labelColors[meta.label] },
    memoryMiB: options.memoryMiB,
    vcpus: options.vcpus,
    accel: ctx.config.accel,
    disks: [
      { target: 'vda', pool, volume: options.rootVolume },
      ...(options.homeVolume ? [{ target: 'vdb', pool, volume: options.homeVolume }] : []),
    ],
    nvramPath: ctx.layout.volumePath(ctx.layout.nvramVolume(name)),
    consoleLogPath: ctx.layout.volumePath(ctx.layout.consoleLogVolume(name)),
    // The label's network (network/vm-network.ts prepares it); QEMU's user-mode network where there is none.
    network: options.network ?? { type: 'user' },
    clipboard: options.clipboard ?? false,
    // The pacman caches: shared (read-only) and, but for disposables, the VM's own.
    sharedFolders: pkgSharedFolders(pkgLayout(ctx), options.pkgCache === false ? undefined : name),
  };
}

export function checkResources(memoryMiB: number, vcpus: number): void {
  const problem = resourceProblem({ memoryMiB, vcpus }, hostResources());
  if (problem) throw new VmsError(`${problem}.`);
}

/** Creates an appvm (root overlay on the template, own private disk) or a standalone VM from a template. */
export async function createVm(ctx: EngineContext, name: string, options: CreateOptions): Promise<VmInfo> {
  assertVmName(name);
  const label = options.label ?? ctx.config.defaultLabel;
  assertLabel(label);
  const diskSize = options.diskSize ?? ctx.config.defaultDiskSize;
  const diskBytes = diskSizeBytes(diskSize, 'The disk size');
  const memoryMiB = options.memoryMiB ?? ctx.config.defaultMemoryMiB;
  const vcpus = options.vcpus ?? ctx.config.defaultVcpus;
  checkResources(memoryMiB, vcpus);
  const templateName = await chooseTemplate(ctx, options.template);
  const template = await getTemplate(ctx, templateName);
  const published = publishedVolume(ctx, template);
  const kind = options.standalone ? 'standalone' : 'appvm';

  return createVmRecord(ctx, name, async () => {
    const emptyHome = await emptyHomeVolume(ctx, diskBytes);
    const rootVolume = kind === 'standalone' ? ctx.layout.standaloneRootVolume(name) : ctx.layout.rootVolume(name);
    const homeVolume = ctx.layout.homeVolume(name);
    if (kind === 'standalone') await copyDisk(ctx, published, rootVolume);
    await createVolumes(ctx.libvirt, ctx.layout.pool, [
      ...(kind === 'appvm' ? [overlaySpec(ctx, rootVolume, published)] : []),
      overlaySpec(ctx, homeVolume, emptyHome),
    ]);
    await ensureVmCache(ctx, name);
    const meta: VmMeta = { kind, label, template: template.name, created: new Date().toISOString() };
    const net = await prepareVmNetwork(ctx, name, label);
    return defineAndRead(ctx.libvirt, buildDomainXml(vmDomainSpec(ctx, name, meta, { memoryMiB, vcpus, rootVolume, homeVolume, network: net?.network, clipboard: net?.clipboard })), name);
  });
}
