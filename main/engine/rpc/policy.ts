import { VmsError } from '../errors.js';
import type { VmKind } from '../types.js';
import { CLIPBOARD_PASTE_SERVICE, isVmName, printable, serviceNameProblem, SHELL_SERVICES } from './rpc-names.js';

/**
 * The rpc policy (docs/rpc.md), Qubes-style: ordered lines `SERVICE SOURCE TARGET ACTION [OPTIONS]`,
 * the first line that matches a call decides it, and a call no line matches is denied. Pure: parsing and
 * deciding; policy-files.ts reads the files.
 */

export type PolicyAction = 'allow' | 'deny' | 'ask';

export interface PolicyRule {
  service: string;
  source: string;
  target: string;
  action: PolicyAction;
  /** `target=NAME`: the call goes to NAME (a VM, @dispvm or @dispvm:TEMPLATE) whatever the caller asked for. */
  redirect?: string;
  /** `start=no`: a target that is off is not started for this call. */
  start: boolean;
  file: string;
  line: number;
}

/** A bad policy line; its message is `FILE:LINE: what is wrong`. */
export class PolicyError extends VmsError {
  constructor(readonly file: string, readonly line: number, problem: string) {
    super(`${file}:${line}: ${problem}; fix that line (see docs/rpc.md).`);
  }
}

/** What the policy knows about a VM. */
export interface VmFacts {
  name: string;
  label: string;
  kind: VmKind;
  template?: string;
}

export interface PolicyRequest {
  service: string;
  source: VmFacts;
  /** As the caller wrote it: a VM name, @default, @dispvm or @dispvm:TEMPLATE. */
  target: string;
  /** The target VM when `target` names one that exists. */
  targetVm?: VmFacts;
}

export interface PolicyDecision {
  action: PolicyAction;
  /** The line that decided, or undefined for the default deny. */
  rule?: PolicyRule;
  /** Where an allowed call goes: a VM name, or @dispvm:TEMPLATE / @dispvm for a new disposable. */
  target: string;
  start: boolean;
}

const ACTIONS = new Set<string>(['allow', 'deny', 'ask']);

/**
 * vms's own rules, after every policy file's (loadPolicy appends them): what holds where no line of the
 * user's says otherwise. A paste through the host's clipboard (docs/clipboard.md) is allowed, as in Qubes:
 * both halves are the user's own keystrokes; a `vms.ClipboardPaste … deny|ask` line comes first.
 */
export const BUILT_IN_RULES: readonly PolicyRule[] = [
  { service: CLIPBOARD_PASTE_SERVICE, source: '@anyvm', target: '@anyvm', action: 'allow', start: false, file: '(built in)', line: 0 },
];

function vmPatternProblem(word: string, column: 'source' | 'target'): string | undefined {
  if (isVmName(word) || word === '@anyvm' || word === '@dispvm') return undefined;
  if (column === 'target' && word === '@default') return undefined;
  const [kind, value] = [word.slice(0, word.indexOf(':') + 1), word.slice(word.indexOf(':') + 1)];
  if (kind === '@label:' && /^[a-z0-9-]{1,11}$/.test(value)) return undefined;
  if (kind === '@dispvm:' && isVmName(value)) return undefined;
  return `"${printable(word)}" is not a ${column} (a VM name, @anyvm, @label:LABEL, @dispvm, @dispvm:TEMPLATE${column === 'target' ? ', @default' : ''})`;
}

/** Parses one policy file's text; bad lines are collected, never half-applied. */
export function parsePolicy(text: string, file: string): { rules: PolicyRule[]; errors: PolicyError[] } {
  const rules: PolicyRule[] = [];
  const errors: PolicyError[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = index + 1;
    const words = raw.replace(/#.*/, '').trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) return;
    const fail = (problem: string) => { errors.push(new PolicyError(file, line, problem)); };
    if (words.length < 4) return fail('a rule is SERVICE SOURCE TARGET allow|deny|ask [target=NAME] [start=no]');
    const [service, source, target, action, ...options] = words;
    if (service !== '*' && serviceNameProblem(service)) return fail(serviceNameProblem(service)!);
    const columnProblem = vmPatternProblem(source, 'source') ?? vmPatternProblem(target, 'target');
    if (columnProblem) return fail(columnProblem);
    if (!ACTIONS.has(action)) return fail(`"${printable(action)}" is not an action (allow, deny or ask)`);
    const rule: PolicyRule = { service, source, target, action: action as PolicyAction, start: true, file, line };
    for (const option of options) {
      const [key, value] = option.split('=', 2);
      if (key === 'target' && value && (isVmName(value) || value === '@dispvm' || (value.startsWith('@dispvm:') && isVmName(value.slice(8))))) rule.redirect = value;
      else if (key === 'start' && (value === 'no' || value === 'yes')) rule.start = value === 'yes';
      else return fail(`"${printable(option)}" is not an option (target=NAME, start=no)`);
    }
    if (rule.redirect && action === 'deny') return fail('target= makes no sense on a deny line');
    if (target === '@default' && action === 'allow' && !rule.redirect) return fail('allowing @default needs target=NAME (where such calls go)');
    rules.push(rule);
  });
  return { rules, errors };
}

function sourceMatches(pattern: string, vm: VmFacts): boolean {
  if (pattern === '@anyvm') return true;
  if (pattern === '@dispvm') return vm.kind === 'disposable';
  if (pattern.startsWith('@dispvm:')) return vm.kind === 'disposable' && vm.template === pattern.slice(8);
  if (pattern.startsWith('@label:')) return vm.label === pattern.slice(7);
  return pattern === vm.name;
}

function targetMatches(pattern: string, request: PolicyRequest): boolean {
  const asked = request.target;
  if (asked === '@default') return pattern === '@default';
  if (asked === '@dispvm' || asked.startsWith('@dispvm:')) return pattern === '@dispvm' || pattern === asked;
  if (pattern === '@default') return false;
  const vm = request.targetVm;
  if (!vm) return pattern === asked || pattern === '@anyvm';
  return sourceMatches(pattern, vm);
}

/** The first rule that matches decides; no match is a deny. A `*` line never matches a shell service (vms.Run). Pure. */
export function decide(rules: readonly PolicyRule[], request: PolicyRequest): PolicyDecision {
  for (const rule of rules) {
    if (rule.service === '*' ? SHELL_SERVICES.has(request.service) : rule.service !== request.service) continue;
    if (!sourceMatches(rule.source, request.source) || !targetMatches(rule.target, request)) continue;
    return { action: rule.action, rule, target: rule.redirect ?? request.target, start: rule.start };
  }
  return { action: 'deny', target: request.target, start: false };
}

/** One line that says which rule decided, for `vms policy check` and the log. Pure. */
export function explainDecision(decision: PolicyDecision, request: PolicyRequest): string {
  const what = `${request.service} from ${request.source.name} to ${request.target}`;
  if (!decision.rule) return `${what}: deny (no policy line matches; the default is deny)`;
  const r = decision.rule;
  const to = decision.target !== request.target ? `, redirected to ${decision.target}` : '';
  const where = r.line === 0 ? 'vms\'s built-in rule' : `${r.file}:${r.line}`;
  return `${what}: ${decision.action}${to} by ${where}: ${r.service} ${r.source} ${r.target} ${r.action}`;
}
