import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertVmName, labelProblem, vmNameProblem } from '../../main/engine/names.js';

test('ordinary VM names are accepted', () => {
  for (const name of ['work', 'client-acme', 'bank_2', 'A', 'x'.repeat(40)]) assert.equal(vmNameProblem(name), undefined, name);
});

test('unsafe VM names are refused with a sentence that says what is allowed', () => {
  const bad = ['', '../etc', 'a/b', 'a b', 'a;rm -rf', '<x>', "it's", 'a&b', '$HOME', '-rf', '1abc', 'a.b', 'x'.repeat(41), 'dé', 'a\nb', 'default'];
  for (const name of bad) {
    const problem = vmNameProblem(name);
    assert.ok(problem, `expected "${name}" to be refused`);
    assert.ok(!problem.includes('\n'), 'one line');
  }
  assert.match(vmNameProblem('a/b')!, /use a letter, then up to 39/);
  assert.match(vmNameProblem('x'.repeat(41))!, /too long/);
  assert.equal(vmNameProblem(42), 'A VM name is needed');
  assert.throws(() => assertVmName('../x'), { name: 'VmsError' });
});

test('domain labels fit a bridge name', () => {
  assert.equal(labelProblem('work'), undefined);
  assert.equal(labelProblem('client-acme'), undefined);
  assert.ok(labelProblem('client-acme1'), 'vms-<label> must fit in 15 characters');
  assert.ok(labelProblem('Work'));
  assert.ok(labelProblem(''));
  assert.ok(labelProblem(undefined));
});
