import type { EngineContext } from './context.js';
import { diskSizeBytes } from './config.js';
import { hostResources } from './host.js';
import { chooseTemplate } from './template-choice.js';
import { resourceProblem } from './units.js';
import { independentCopy, replaceWithOverlay } from './disk-store.js';
import { getTemplate } from './inventory.js';
import { assertLabel, assertVmName } from './names.js';
import { createVmFolder, publishedImage } from './templates.js';
import { ensureVmCache, pkgLayout, pkgSharedFolders } from './pkg-cache.js';
import { createPrivateDisk } from './tools/filesystem.js';
import { defineAndRead } from './tools/virsh.js';
import type { VmInfo, VmMeta } from './types.js';
import { buildDomainXml, type DomainSpec, type NetworkSpec } from './xml/domain-build.js';
import { prepareVmNetwork } from './network/vm-network.js';
import { VmsError } from './errors.js';

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

/** The domain description for a VM with root (vda) and private (vdb) disks; pure. */
export function vmDomainSpec(ctx: EngineContext, name: string, meta: VmMeta, options: { memoryMiB: number; vcpus: number; withPrivate: boolean; network?: NetworkSpec; clipboard?: boolean }): DomainSpec {
  return {
    name,
    meta: { ...meta, color: meta.color ?? ctx.config.labelColors[meta.label] },
    memoryMiB: options.memoryMiB,
    vcpus: options.vcpus,
    accel: ctx.config.accel,
    disks: [
      { target: 'vda', path: ctx.layout.rootDisk(name) },
      ...(options.withPrivate ? [{ target: 'vdb', path: ctx.layout.privateDisk(name) }] : []),
    ],
    nvramPath: ctx.layout.nvram(name),
    consoleLogPath: ctx.layout.consoleLog(name),
    // The label's network (network/vm-network.ts prepares it); QEMU's user-mode network where there is none.
    network: options.network ?? { type: 'user' },
    clipboard: options.clipboard ?? true,
    // The pacman caches: shared (read-only) and the VM's own.
    sharedFolders: pkgSharedFolders(pkgLayout(ctx), name),
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
  const image = publishedImage(ctx, template);
  const kind = options.standalone ? 'standalone' : 'appvm';

  return createVmFolder(ctx, name, async () => {
    if (kind === 'standalone') await independentCopy(image, ctx.layout.rootDisk(name));
    else await replaceWithOverlay(ctx.layout.rootDisk(name), image);
    await createPrivateDisk(ctx.layout.privateDisk(name), String(diskBytes));
    await ensureVmCache(ctx, name);
    const meta: VmMeta = { kind, label, template: template.name, created: new Date().toISOString() };
    const net = await prepareVmNetwork(ctx, name, label);
    return defineAndRead(ctx.config.uri, buildDomainXml(vmDomainSpec(ctx, name, meta, { memoryMiB, vcpus, withPrivate: true, network: net?.network, clipboard: net?.clipboard })), name);
  });
}
