import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { makeTestEngine, testGuestImage, type TestEngine } from '../helpers/engine-fixture.js';
import { soak, soakProblems, soakTable } from '../helpers/soak.js';

/**
 * The soak's short variant (issue 13, part 5; `npm run soak` runs 200 cycles): eight disposable cycles,
 * two of each way (killed or powered off, from a long-lived engine or from the command line), as the
 * desktop user. Nothing of them may be left after each, and the census finds no new file, network,
 * filter, virsh or watcher process, and memory within its bound.
 */
const CYCLES = 8;

describe('disposable soak, short', { timeout: 300_000 }, () => {
  let t: TestEngine;
  const template = `sk${Math.random().toString(36).slice(2, 6)}`;

  before(async () => {
    t = await makeTestEngine('soak');
    await t.engine.importTemplate(template, await testGuestImage());
  });
  after(async () => {
    await t?.cleanup();
    t?.engine.close();
  });

  test(`${CYCLES} disposable cycles leave nothing behind`, async () => {
    const result = await soak(t, template, CYCLES, { every: 4 });
    console.log(soakTable(result.rows));
    assert.deepEqual(result.rows.map((r) => r.cycle), [1, 4, 8]);
    assert.deepEqual(soakProblems(result, CYCLES), []);
  });
});
