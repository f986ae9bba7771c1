import { readFile } from 'node:fs/promises';
import { VmsError } from '../../engine/errors.js';
import { FirewallSyntaxError, formatRule, MAX_RULES, parsePolicy, parseRuleWords, type FirewallRule } from '../../engine/network/firewall.js';
import type { Command } from '../command.js';
import { didYouMean } from '../suggest.js';

/**
 * `vms firewall NAME list|add|del|set|clear`: a VM's outbound rules, like qvm-firewall. The rules are
 * checked before anything is written; a running VM gets the new rules at once.
 */

const RULE_SYNTAX = 'allow|deny [dst=CIDR|ADDRESS|HOST] [proto=tcp|udp|icmp] [port=N|N-M]';

function syntax<T>(parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof FirewallSyntaxError) throw new VmsError(`Bad firewall rule: ${error.message} (a rule is: ${RULE_SYNTAX}).`);
    throw error;
  }
}

function ruleJson(rule: FirewallRule, index: number) {
  return { number: index + 1, rule: formatRule(rule), ...rule };
}

export function formatFirewall(name: string, rules: readonly FirewallRule[]): string {
  return [
    `Outbound rules of "${name}" (the first that matches decides):`,
    ...rules.map((rule, i) => `${String(i + 1).padStart(4)}  ${formatRule(rule)}`),
    `      ${rules.length === 0 ? '(no rules) ' : ''}anything else: allow`,
  ].join('\n');
}

/** A rule may come as words (`add deny proto=tcp`) or as one quoted argument (`add "deny proto=tcp"`). */
export function ruleWords(args: readonly string[]): string[] {
  return args.flatMap((arg) => arg.trim().split(/\s+/)).filter((word) => word !== '');
}

/** Where `del` points: a rule number, or the rule's own words. */
export function ruleIndex(name: string, rules: readonly FirewallRule[], words: readonly string[]): number {
  if (words.length === 1 && /^\d+$/.test(words[0])) {
    const n = Number(words[0]);
    if (n < 1 || n > rules.length) throw new VmsError(`There is no rule ${n}: the VM has ${rules.length === 0 ? 'no rules' : `rules 1 to ${rules.length}`} (see \`vms firewall ${name} list\`).`);
    return n - 1;
  }
  const wanted = formatRule(syntax(() => parseRuleWords(words)));
  const index = rules.findIndex((r) => formatRule(r) === wanted);
  if (index < 0) throw new VmsError(`"${name}" has no rule "${wanted}" (see \`vms firewall ${name} list\`).`);
  return index;
}

export const firewall: Command = {
  name: 'firewall',
  summary: 'Show or change a VM’s outbound firewall (rules apply to a running VM at once)',
  usage: `NAME list | add [--at N] RULE | del N|RULE | set FILE|- | clear    where RULE is: ${RULE_SYNTAX}`,
  positionals: { min: 2, max: 8, names: ['NAME', 'list|add|del|set|clear', 'RULE'] },
  json: true,
  options: {
    at: { type: 'string', valueName: 'N', description: 'add: insert as rule N (default: last)' },
  },
  async run({ engine, json, io }, { positionals: [name, action, ...args], values }) {
    const words = ruleWords(args);
    const show = async () => {
      const rules = await engine.firewall(name);
      io.out(json ? JSON.stringify({ name, rules: rules.map(ruleJson), default: 'allow' }, null, 2) : formatFirewall(name, rules));
    };
    if (values.at !== undefined && action !== 'add') throw new VmsError('--at goes with add only.');
    switch (action) {
      case 'list':
        if (words.length > 0) throw new VmsError(`\`vms firewall ${name} list\` takes nothing more; got "${words.join(' ')}".`);
        return show();
      case 'add': {
        const rule = syntax(() => parseRuleWords(words));
        const rules = await engine.firewall(name);
        if (rules.length >= MAX_RULES) throw new VmsError(`"${name}" has ${MAX_RULES} rules already: remove some first.`);
        let at = rules.length;
        if (values.at !== undefined) {
          if (typeof values.at !== 'string' || !/^\d+$/.test(values.at) || Number(values.at) < 1 || Number(values.at) > rules.length + 1) {
            throw new VmsError(`--at takes a rule number from 1 to ${rules.length + 1}.`);
          }
          at = Number(values.at) - 1;
        }
        await engine.setFirewall(name, [...rules.slice(0, at), rule, ...rules.slice(at)]);
        return show();
      }
      case 'del': {
        if (words.length === 0) throw new VmsError(`Say which rule to delete: its number or its words (see \`vms firewall ${name} list\`).`);
        const rules = await engine.firewall(name);
        const index = ruleIndex(name, rules, words);
        await engine.setFirewall(name, rules.filter((_, i) => i !== index));
        return show();
      }
      case 'set': {
        if (args.length !== 1) throw new VmsError(`Say which policy file to load: vms firewall ${name} set FILE (or - for standard input).`);
        let text: string;
        try {
          text = args[0] === '-' ? await readStdin() : await readFile(args[0], 'utf8');
        } catch (error) {
          throw new VmsError(`Cannot read the policy file "${args[0]}": ${(error as NodeJS.ErrnoException).code ?? String(error)}.`);
        }
        const rules = syntax(() => parsePolicy(text));
        await engine.setFirewall(name, rules);
        return show();
      }
      case 'clear':
        if (words.length > 0) throw new VmsError(`\`vms firewall ${name} clear\` takes nothing more; got "${words.join(' ')}".`);
        await engine.setFirewall(name, []);
        return show();
      default:
        throw new VmsError(`"${action}" is not a firewall action: use list, add, del, set or clear (see \`vms firewall --help\`).${didYouMean(action, ['list', 'add', 'del', 'set', 'clear'])}`);
    }
  },
};

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
