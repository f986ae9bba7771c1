import { labelProblem } from '../../main/engine/names.js';
import type { SettingsView } from '../../main/ipc/channels.js';
import { FIRST_DOMAINS } from '../../main/tray/menu-model.js';
import { accent, debounce, errorText, h } from '../dom.js';

export function statusLine(id = 'status'): HTMLElement {
  return h('p', { class: 'status none', id, role: 'status', hidden: true });
}

export interface NameChecker {
  /** True once the current value was checked by the engine and found fine. */
  ok(): boolean;
  recheck(): void;
  reset(): void;
}

/**
 * Checks a new VM's name as it is typed, with the engine's own rules (and whether it is taken), through
 * `window.vms.validateName`. Answers to older values are dropped.
 */
export function nameChecker(input: HTMLInputElement, hint: HTMLElement, onChange: () => void): NameChecker {
  const initialHint = hint.textContent ?? '';
  let checkedValue: string | undefined;
  let valid = false;
  let sequence = 0;

  const show = (kind: 'neutral' | 'ok' | 'error', text: string) => {
    hint.className = `hint ${kind}`;
    hint.textContent = text;
    input.setAttribute('aria-invalid', String(kind === 'error'));
  };

  const check = async () => {
    const value = input.value;
    const mine = ++sequence;
    if (value === '') {
      checkedValue = undefined;
      valid = false;
      show('neutral', initialHint);
      onChange();
      return;
    }
    try {
      const problem = await window.vms.validateName(value);
      if (mine !== sequence) return;
      checkedValue = value;
      valid = problem === null;
      show(valid ? 'ok' : 'error', problem ?? `“${value}” is free.`);
    } catch (error) {
      if (mine !== sequence) return;
      valid = false;
      show('error', errorText(error));
    }
    onChange();
  };
  const later = debounce(() => void check(), 120);
  input.addEventListener('input', () => {
    valid = false;
    onChange();
    later();
  });

  return {
    ok: () => valid && checkedValue === input.value,
    recheck: () => void check(),
    reset: () => {
      sequence++;
      valid = false;
      checkedValue = undefined;
      show('neutral', initialHint);
      onChange();
    },
  };
}

/** The domains offered in a form: the usual ones first, then the others with a color, then "Other". */
export function knownDomains(settings: SettingsView): string[] {
  const labels = Object.keys(settings.effective.labelColors).filter((l) => l !== 'disposable');
  const first = (FIRST_DOMAINS as readonly string[]).filter((l) => labels.includes(l));
  return [...first, ...labels.filter((l) => !first.includes(l)).sort()];
}

export interface DomainChoices {
  element: HTMLElement;
  hint: HTMLElement;
  value(): string;
  onChange(listener: (label: string) => void): void;
}

/** Domain chips (each in its color) plus "Other…" with a text field checked by the engine's label rule. */
export function domainChoices(settings: SettingsView, initial: string, onChange: () => void): DomainChoices {
  const colors = settings.effective.labelColors;
  const domains = knownDomains(settings);
  const listeners: Array<(label: string) => void> = [];
  const group = h('div', { class: 'chips', role: 'radiogroup', 'aria-label': 'Domain', id: 'domain' });
  const other = h('input', { class: 'other-domain', id: 'domain-other', placeholder: 'new domain', maxlength: 11, spellcheck: 'false', autocomplete: 'off', hidden: true });
  const hint = h('p', { class: 'hint', id: 'domain-hint', hidden: true });
  let selected = domains.includes(initial) ? initial : initial ? 'other' : domains[0] ?? 'other';
  if (selected === 'other') other.value = initial;

  const current = () => (selected === 'other' ? other.value : selected);
  const changed = () => {
    const problem = selected === 'other' ? labelProblem(other.value) : undefined;
    hint.hidden = !problem || other.value === '';
    hint.className = 'hint error';
    hint.textContent = problem ? `${problem}.` : '';
    listeners.forEach((l) => l(current()));
    onChange();
  };

  const chips = [...domains, 'other'].map((label) => {
    const input = h('input', { type: 'radio', name: 'domain', value: label, id: `domain-${label}` });
    input.checked = label === selected;
    input.addEventListener('change', () => {
      selected = label;
      other.hidden = label !== 'other';
      if (label === 'other') other.focus();
      changed();
    });
    return accent(h('label', { class: 'chip', for: `domain-${label}` }, input, label === 'other' ? null : h('span', { class: 'dot' }), label === 'other' ? 'Other…' : label), colors[label] ?? '#6b7280');
  });
  other.hidden = selected !== 'other';
  other.addEventListener('input', changed);
  group.append(...chips, other);
  return { element: group, hint, value: current, onChange: (listener) => listeners.push(listener) };
}
