import type { AskParty, AskView } from '../../main/ipc/channels.js';
import { accent, errorText, h, setStatus } from '../dom.js';
import { statusLine } from './shared.js';

/** One side of the call, in its domain's color. */
function party(side: AskParty, id: string): HTMLElement {
  return accent(h('span', { class: 'party', id }, h('span', { class: 'dot' }), h('strong', {}, side.name), side.label ? h('small', {}, side.label) : null), side.color);
}

/**
 * The ask dialog (`?view=ask&id=…`): a call that an `ask` policy line holds, with both VMs in their
 * domains' colors; Allow once or Deny. Closing it, or letting its time run out, denies the call.
 */
export async function askView(root: HTMLElement, params: URLSearchParams): Promise<void> {
  const id = params.get('id') ?? '';
  const question: AskView | null = await window.vms.getQuestion(id);
  if (!question) {
    root.append(h('p', { class: 'status info', role: 'status' }, 'This question was answered already, or its time ran out and the call was denied.'));
    return;
  }
  const status = statusLine();
  const countdown = h('span', { id: 'countdown' });
  const deny = h('button', { type: 'button', id: 'deny' }, 'Deny');
  const allow = h('button', { type: 'button', class: 'primary', id: 'allow' }, 'Allow once');
  const dialog = h('section', { class: 'dialog ask', role: 'alertdialog', 'aria-labelledby': 'ask-title', 'aria-describedby': 'ask-what' },
    h('header', {}, h('h1', { id: 'ask-title' }, 'Allow this call between VMs?')),
    h('p', { class: 'ask-what', id: 'ask-what' },
      party(question.source, 'ask-source'), h('span', { class: 'ask-verb' }, 'calls'), h('code', { id: 'ask-service' }, question.service),
      h('span', { class: 'ask-verb' }, 'in'), party(question.target, 'ask-target')),
    h('p', { class: 'hint' }, `The policy line ${question.rule} asks you. Denied by itself in `, countdown, '.'),
    status,
    h('footer', {}, deny, allow));
  // The dialog's top edge is the caller's color: who asks is what matters most.
  accent(dialog, question.source.color);

  const tick = () => {
    const seconds = Math.max(0, Math.ceil((question.deadline - Date.now()) / 1000));
    countdown.textContent = `${seconds} s`;
    if (seconds === 0) {
      setStatus(status, 'info', 'Time ran out: the call was denied.');
      deny.disabled = allow.disabled = true;
    }
  };
  const timer = setInterval(tick, 1000);
  tick();

  const answer = async (yes: boolean) => {
    deny.disabled = allow.disabled = true;
    try {
      await window.vms.answerQuestion({ id, allow: yes });
      clearInterval(timer);
      setStatus(status, yes ? 'ok' : 'info', yes ? 'Allowed once.' : 'Denied.');
    } catch (error) {
      setStatus(status, 'error', errorText(error));
    }
  };
  deny.addEventListener('click', () => void answer(false));
  allow.addEventListener('click', () => void answer(true));
  root.append(dialog);
  // The safe answer has the focus: Enter denies.
  deny.focus();
}
