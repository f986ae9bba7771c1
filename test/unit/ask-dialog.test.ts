import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AskQuestion } from '../../main/engine/rpc/index.js';
import { AskDialogs } from '../../main/ipc/ask-dialogs.js';
import { createHandlers, type SenderInfo } from '../../main/ipc/handlers.js';
import { VmsService, type EngineLike } from '../../main/ipc/service.js';

/** The questions of `ask` policy lines, from rpcd's `ask` callback to the dialog's answer (no Electron). */

const PAGE = 'file:///usr/lib/vms/dist/renderer/index.html';
const COLORS = { work: '#2563eb', personal: '#16a34a', disposable: '#9333ea' };
const QUESTION: AskQuestion = { service: 'vms.FileCopy', source: 'mail', sourceLabel: 'work', target: 'vault', targetLabel: 'personal', rule: '/home/u/.config/vms/policy:3' };

function dialogs(timeoutMs = 60_000) {
  const shown: string[] = [];
  let hidden = 0;
  const asks = new AskDialogs({ labelColors: () => COLORS, show: (id) => shown.push(id), hide: () => { hidden++; }, timeoutMs });
  return { asks, shown, hidden: () => hidden };
}

const askPage = (id: string): SenderInfo => ({ url: `${PAGE}?view=ask&id=${id}`, webContentsId: 3, isMainFrame: true });

describe('ask dialogs', () => {
  it('shows a question with both sides in their domains\' colors, and Allow once allows', async () => {
    const { asks, shown, hidden } = dialogs();
    const answer = asks.ask(QUESTION);
    assert.equal(shown.length, 1);
    const view = asks.view(shown[0])!;
    assert.match(view.id, /^[0-9a-f]{16}$/);
    assert.deepEqual([view.service, view.source, view.target, view.rule], ['vms.FileCopy',
      { name: 'mail', label: 'work', color: '#2563eb' }, { name: 'vault', label: 'personal', color: '#16a34a', disposable: false }, QUESTION.rule]);
    assert.ok(view.deadline > Date.now());
    assert.equal(asks.answer(view.id, true), true);
    assert.equal(await answer, true);
    assert.equal(asks.view(view.id), undefined, 'answered questions are gone');
    assert.equal(asks.answer(view.id, true), false, 'a question is answered once');
    assert.equal(hidden(), 1);
  });

  it('a new disposable is named as such; an unknown domain gets the neutral color', () => {
    const { asks, shown } = dialogs();
    void asks.ask({ ...QUESTION, sourceLabel: 'lab', target: '@dispvm:web', targetLabel: undefined });
    const view = asks.view(shown[0])!;
    assert.deepEqual(view.target, { name: 'a new disposable of web', label: 'disposable', color: '#9333ea', disposable: true });
    assert.equal(view.source.color, '#6b7280');
    asks.answer(view.id, false);
  });

  it('one dialog at a time: the next question shows when the first is answered', async () => {
    const { asks, shown, hidden } = dialogs();
    const first = asks.ask(QUESTION);
    const second = asks.ask({ ...QUESTION, source: 'shop' });
    assert.equal(shown.length, 1);
    asks.answer(shown[0], false);
    assert.equal(await first, false);
    assert.equal(shown.length, 2, 'the second question is shown now');
    assert.equal(asks.view(shown[1])?.source.name, 'shop');
    assert.equal(hidden(), 0, 'the dialog stays for the next question');
    asks.answer(shown[1], true);
    assert.equal(await second, true);
    assert.equal(hidden(), 1);
  });

  it('no answer in time, or a closed dialog, is a deny', async () => {
    const { asks, shown } = dialogs(50);
    const started = Date.now();
    assert.equal(await asks.ask(QUESTION), false);
    assert.ok(Date.now() - started >= 45);
    assert.equal(asks.view(shown[0]), undefined);

    const long = dialogs();
    const closed = long.asks.ask(QUESTION);
    long.asks.dialogClosed(long.shown[0]);
    assert.equal(await closed, false);
    assert.equal(long.hidden(), 0, 'a closed dialog is not closed again');
  });
});

describe('ask dialog IPC handlers', () => {
  function setup() {
    const engine = { config: { labelColors: COLORS } } as unknown as EngineLike;
    const shown: string[] = [];
    const service = new VmsService({ engine: () => engine, settings: { get: () => ({}), set: () => undefined }, showAsk: (id) => shown.push(id) });
    const handlers = createHandlers(service, { pageUrl: PAGE, webContentsIds: () => [3] });
    return { service, handlers, shown };
  }

  it('the question\'s own dialog reads it and answers it, once', async () => {
    const { service, handlers, shown } = setup();
    const answer = service.asks.ask(QUESTION);
    const id = shown[0];
    const read = await handlers.getQuestion(askPage(id), id);
    assert.equal(read.ok && read.value?.source.name, 'mail');
    assert.deepEqual(await handlers.answerQuestion(askPage(id), { id, allow: true }), { ok: true, value: undefined });
    assert.equal(await answer, true);
    assert.deepEqual(await handlers.answerQuestion(askPage(id), { id, allow: false }), { ok: false, error: 'This question was answered already, or it timed out and was denied.' });
    assert.deepEqual(await handlers.getQuestion(askPage(id), id), { ok: true, value: null });
  });

  it('other pages, other windows, bad ids and bad answers are refused before anything is decided', async () => {
    const { service, handlers, shown } = setup();
    const answer = service.asks.ask(QUESTION);
    const id = shown[0];
    const refusedWith = async (result: Promise<{ ok: boolean; error?: string }>, pattern: RegExp) => {
      const r = await result;
      assert.equal(r.ok, false);
      assert.match(r.error ?? '', pattern);
    };
    await refusedWith(handlers.answerQuestion({ ...askPage(id), url: `${PAGE}?view=main` }, { id, allow: true }), /Only the dialog that shows this question/);
    await refusedWith(handlers.answerQuestion(askPage('0123456789abcdef'), { id, allow: true }), /Only the dialog that shows this question/);
    await refusedWith(handlers.answerQuestion({ ...askPage(id), webContentsId: 99 }, { id, allow: true }), /did not come from a vms window/);
    await refusedWith(handlers.answerQuestion({ ...askPage(id), isMainFrame: false }, { id, allow: true }), /did not come from a vms window/);
    await refusedWith(handlers.answerQuestion(askPage(id), { id, allow: 'yes' }), /allow must be true or false/);
    await refusedWith(handlers.answerQuestion(askPage(id), { id, allow: true, also: 1 }), /unknown field "also"/);
    await refusedWith(handlers.getQuestion(askPage('../x'), '../x'), /not a question of the ask dialog/);
    assert.ok(service.asks.view(id), 'still open after every refusal');
    service.asks.answer(id, false);
    assert.equal(await answer, false);
  });
});
