import { randomBytes } from 'node:crypto';
import type { AskQuestion } from '../engine/rpc/index.js';
import type { AskView } from './channels.js';

/**
 * The questions of `ask` policy lines (docs/rpc.md), answered in the tray app's ask dialog. One dialog at a
 * time: the others wait their turn, each with its own deadline from when it was asked; a question nobody
 * answers in time, or whose dialog is closed, is denied. No Electron here: the app passes `show`/`hide`.
 */

export interface AskDeps {
  /** The domains' colors (settings). */
  labelColors: () => Record<string, string>;
  /** Shows the dialog for question `id` (the app's ask window, loaded with `?view=ask&id=…`). */
  show: (id: string) => void;
  /** No question is left: the dialog goes. */
  hide: () => void;
  /** A question nobody answered within this is denied; default 60 s. */
  timeoutMs?: number;
}

const FALLBACK_COLOR = '#6b7280';

interface Pending {
  view: AskView;
  settle: (allow: boolean) => void;
}

/** A question's id: what the dialog's page and the handlers pass around. */
export const ASK_ID = /^[0-9a-f]{16}$/;

export class AskDialogs {
  private readonly pending = new Map<string, Pending>();
  private shown: string | undefined;

  constructor(private readonly deps: AskDeps) {}

  /** Asks the user; resolves true only for "Allow once". */
  ask(question: AskQuestion): Promise<boolean> {
    const colors = this.deps.labelColors();
    const color = (label: string | undefined) => (label ? colors[label] ?? FALLBACK_COLOR : FALLBACK_COLOR);
    const timeoutMs = this.deps.timeoutMs ?? 60_000;
    const id = randomBytes(8).toString('hex');
    const disposable = question.target === '@dispvm' || question.target.startsWith('@dispvm:');
    const template = question.target.startsWith('@dispvm:') ? question.target.slice('@dispvm:'.length) : undefined;
    const view: AskView = {
      id,
      service: question.service,
      source: { name: question.source, label: question.sourceLabel, color: color(question.sourceLabel) },
      target: disposable
        ? { name: template ? `a new disposable of ${template}` : 'a new disposable', label: 'disposable', color: color('disposable'), disposable: true }
        : { name: question.target, label: question.targetLabel, color: color(question.targetLabel), disposable: false },
      rule: question.rule,
      deadline: Date.now() + timeoutMs,
    };
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, false), timeoutMs);
      this.pending.set(id, { view, settle: (allow) => { clearTimeout(timer); resolve(allow); } });
      if (this.shown === undefined) this.showNext();
    });
  }

  /** What the dialog shows for `id`; undefined once it was answered or timed out. */
  view(id: string): AskView | undefined {
    return this.pending.get(id)?.view;
  }

  /** The user's answer; false when the question is no longer open. */
  answer(id: string, allow: boolean): boolean {
    return this.settle(id, allow);
  }

  /** The dialog showing `id` was closed: that question is denied (a no-op once it was answered). */
  dialogClosed(id: string): void {
    this.settle(id, false, { closed: true });
  }

  private settle(id: string, allow: boolean, how: { closed?: boolean } = {}): boolean {
    const pending = this.pending.get(id);
    if (!pending) return false;
    this.pending.delete(id);
    pending.settle(allow);
    if (this.shown === id) {
      this.shown = undefined;
      // A closed dialog is gone already; the next question opens a new one.
      if (this.pending.size === 0 && !how.closed) this.deps.hide();
      this.showNext();
    }
    return true;
  }

  private showNext(): void {
    const next = this.pending.keys().next();
    if (next.done) return;
    this.shown = next.value;
    this.deps.show(next.value);
  }
}
