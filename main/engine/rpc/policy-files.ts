import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BUILT_IN_RULES, parsePolicy, type PolicyError, type PolicyRule } from './policy.js';

/**
 * Where the policy lives: the user's `~/.config/vms/policy` first (it is their desktop), then every
 * `*.policy` file of /etc/vms/policy.d in name order. VMS_CONFIG_DIR and VMS_POLICY_DIR move them.
 */
export function policyFiles(env: NodeJS.ProcessEnv = process.env): { user: string; systemDir: string } {
  const configDir = env.VMS_CONFIG_DIR || join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'vms');
  return { user: join(configDir, 'policy'), systemDir: env.VMS_POLICY_DIR || '/etc/vms/policy.d' };
}

async function existingFiles(env: NodeJS.ProcessEnv): Promise<string[]> {
  const { user, systemDir } = policyFiles(env);
  const system = await readdir(systemDir).then((names) => names.filter((n) => n.endsWith('.policy')).sort().map((n) => join(systemDir, n)), () => []);
  return [user, ...system];
}

/** Every rule in order (vms's built-in rules last), and every bad line. A missing file is an empty one. */
export async function loadPolicy(env: NodeJS.ProcessEnv = process.env): Promise<{ rules: PolicyRule[]; errors: PolicyError[] }> {
  const rules: PolicyRule[] = [];
  const errors: PolicyError[] = [];
  for (const file of await existingFiles(env)) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    const parsed = parsePolicy(text, file);
    rules.push(...parsed.rules);
    errors.push(...parsed.errors);
  }
  return { rules: [...rules, ...BUILT_IN_RULES], errors };
}

/** Changes whenever a policy file is added, removed or written. */
export async function policySignature(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const parts = await Promise.all((await existingFiles(env)).map(async (file) => {
    const info = await stat(file).catch(() => undefined);
    return `${file}:${info ? `${info.mtimeMs}:${info.size}` : '-'}`;
  }));
  return parts.join('|');
}

/**
 * Keeps the last good policy: a file with a bad line is reported (FILE:LINE) and the rules from before
 * stay in force until it is fixed. The first load with errors has no good policy yet: deny everything.
 */
export class PolicyStore {
  private rules: PolicyRule[] = [];
  private signature = '';

  constructor(private readonly env: NodeJS.ProcessEnv, private readonly onError: (error: PolicyError) => void) {}

  async current(): Promise<PolicyRule[]> {
    const signature = await policySignature(this.env);
    if (signature === this.signature) return this.rules;
    this.signature = signature;
    const { rules, errors } = await loadPolicy(this.env);
    if (errors.length === 0) this.rules = rules;
    else for (const error of errors) this.onError(error);
    return this.rules;
  }
}
