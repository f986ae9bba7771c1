import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatBytes, formatMemoryMiB, parseMemoryMiB, parseSize, resourceProblem, SIZE_PATTERN, SizeError, sizeProblem } from '../../main/engine/units.js';

const GiB = 2 ** 30;

test('one size grammar: binary units, any case, optional B or iB', { timeout: 5_000 }, () => {
  for (const text of ['2G', '2g', '2GB', '2gb', '2GiB', '2gib', '2 G', '2048M', '2097152K']) assert.equal(parseSize(text, '--disk-size'), 2 * GiB, text);
  assert.equal(parseSize('1.5G', 'x'), 1.5 * GiB);
  assert.equal(parseSize('1T', 'x'), 1024 * GiB);
});

test('a bare number is refused with the form to type; other garbage says what a size is', { timeout: 5_000 }, () => {
  assert.throws(() => parseSize('10', '--disk-size'), (e: Error) => e instanceof SizeError && e.message === '--disk-size: "10" has no unit: add one, such as 10G or 10M.');
  for (const bad of ['', 'G', '-1G', '1e9', '10X', '1234567G', '10 GiB x', '0x10G']) assert.throws(() => parseSize(bad, 'x'), SizeError, bad);
  assert.match(sizeProblem('0G')!, /above zero/);
  assert.equal(sizeProblem(' 20G '), undefined, 'surrounding blanks are fine');
});

test('the pattern for schemas and HTML inputs is the same grammar', { timeout: 5_000 }, () => {
  const html = new RegExp(`^(?:${SIZE_PATTERN})$`, 'v');
  for (const text of ['2G', '2gib', '512M', '1.5T']) assert.ok(html.test(text), text);
  for (const text of ['2', '2X', '']) assert.ok(!html.test(text), text);
});

test('memory is whole MiB and printed the way it is typed', { timeout: 5_000 }, () => {
  assert.equal(parseMemoryMiB('2G', '--memory'), 2048);
  assert.equal(parseMemoryMiB('512m', '--memory'), 512);
  assert.throws(() => parseMemoryMiB('1000K', '--memory'), /whole number of MiB/);
  assert.throws(() => parseMemoryMiB('2048', '--memory'), /has no unit: add one, such as 2048G or 2048M/);
  assert.equal(formatMemoryMiB(2048), '2G');
  assert.equal(formatMemoryMiB(1536), '1536M');
  assert.equal(formatBytes(1.5 * GiB), '1.5 GiB');
  assert.equal(formatBytes(2 * GiB), '2.0 GiB');
  assert.equal(formatBytes(20 * GiB), '20 GiB');
});

test('memory and CPUs are bounded by the host', { timeout: 5_000 }, () => {
  const host = { memoryMiB: 24_105, cpus: 2 };
  assert.equal(resourceProblem({ memoryMiB: 2048, vcpus: 2 }, host), undefined);
  assert.equal(resourceProblem({ memoryMiB: 1_000_000 }, host), 'Memory 1000000M is more than this computer has (24 GiB): give at most 23G');
  assert.match(resourceProblem({ memoryMiB: 64 }, host)!, /at least 128M/);
  assert.match(resourceProblem({ vcpus: 3 }, host)!, /more than this computer has \(2\)/);
  assert.match(resourceProblem({ vcpus: 0 }, host)!, /from 1 to 256/);
});
