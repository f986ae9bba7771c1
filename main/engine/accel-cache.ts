import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where accel.ts keeps its KVM probe's verdict: per user, like any cache. */
export function probeCachePath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.VMS_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'vms'), 'kvm-probe.json');
}

/** The last probe's verdict (true: KVM runs guests), without checking it is current; undefined before any probe. */
export function cachedKvmVerdict(env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  try {
    const cached = JSON.parse(readFileSync(probeCachePath(env), 'utf8')) as { probe?: { works?: unknown } };
    return typeof cached.probe?.works === 'boolean' ? cached.probe.works : undefined;
  } catch {
    return undefined;
  }
}
