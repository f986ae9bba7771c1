import { availableParallelism, totalmem } from 'node:os';
import { MIB } from './units.js';

/** What this computer has, for bounding a VM's memory and CPUs (vms runs VMs on the desktop it runs on). */
export function hostResources(): { memoryMiB: number; cpus: number } {
  return { memoryMiB: Math.floor(totalmem() / MIB), cpus: availableParallelism() };
}
