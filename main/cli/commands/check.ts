import type { CheckReport, Finding } from '../../engine/index.js';
import type { Command } from '../command.js';

/** One line per finding: what is wrong, then what --fix does or which decision it needs. Pure. */
export function formatFinding(finding: Finding): string {
  return `${finding.informational ? 'note' : 'problem'}: ${finding.problem} — ${finding.remedy}`;
}

/** What `vms check` prints. Pure. */
export function formatCheckReport(report: CheckReport, fix: boolean): string {
  const lines = [
    ...report.fixed.map((f) => `fixed: ${f.problem}`),
    ...report.remaining.map(formatFinding),
  ];
  if (report.clean) lines.push(report.remaining.length === 0 && report.fixed.length === 0 ? 'Everything is consistent.' : 'No problems remain.');
  else if (!fix && report.remaining.some((f) => f.fixable)) lines.push('`vms check --fix` repairs what it can; the rest needs a decision.');
  return lines.join('\n');
}

export const check: Command = {
  name: 'check',
  summary: 'Audit every VM, disk, cache, filter and network against libvirt; --fix repairs what is safe',
  usage: '[--fix]',
  positionals: { min: 0, max: 0, names: [] },
  json: true,
  skipRepair: true,
  options: { fix: { type: 'boolean', description: 'Remove leftovers and finish interrupted work; say what needs a decision' } },
  async run({ engine, json, io }, { values }) {
    const fix = values.fix === true;
    const report = await engine.check({ fix });
    io.out(json ? JSON.stringify(report, null, 2) : formatCheckReport(report, fix));
    return report.clean ? 0 : 1;
  },
};
