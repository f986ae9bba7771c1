import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { child, el, find, parseXml, serializeXml, textOf } from '../../main/engine/xml/tree.js';

const LIBVIRT_XML = readFileSync(new URL('../../../test/fixtures/xml/appvm-from-libvirt.xml', import.meta.url), 'utf8');

/** Element names, attributes and texts in document order: what must survive a round trip. */
function shape(xml: string): string[] {
  const out: string[] = [];
  const walk = (node: ReturnType<typeof parseXml>, depth: number) => {
    out.push(`${depth}:${node.name}:${JSON.stringify(node.attrs)}:${textOf(node) ?? ''}`);
    for (const c of node.children) if (typeof c === 'object') walk(c, depth + 1);
  };
  walk(parseXml(xml), 0);
  return out;
}

test('a domain XML written by libvirt survives parse and serialize unchanged', () => {
  const once = serializeXml(parseXml(LIBVIRT_XML));
  assert.deepEqual(shape(once), shape(LIBVIRT_XML));
  assert.equal(serializeXml(parseXml(once)), once, 'serializing is stable');
  // Sibling order of different element kinds is kept (a plain object form would group them):
  // libvirt puts a channel between two other device kinds here.
  const devices = find(parseXml(once), 'devices')!;
  const order = devices.children.filter((c) => typeof c === 'object').map((c) => (c as { name: string }).name);
  const firstChannel = order.indexOf('channel');
  assert.ok(firstChannel > order.indexOf('console') && firstChannel < order.indexOf('graphics'), order.join(','));
});

test('text and attributes with XML metacharacters are escaped and read back', () => {
  const tricky = `a&b <c> "d" 'e'`;
  const xml = serializeXml(el('domain', { note: tricky }, el('description', {}, tricky)));
  assert.ok(!xml.includes('<c>'));
  const back = parseXml(xml);
  assert.equal(back.attrs.note, tricky);
  assert.equal(textOf(child(back, 'description')), tricky);
});

test('values are kept as text, never turned into numbers or booleans', () => {
  const back = parseXml(`<domain><vcpu>02</vcpu><x a="007" b="true"/></domain>`);
  assert.equal(textOf(child(back, 'vcpu')), '02');
  assert.deepEqual(child(back, 'x')!.attrs, { a: '007', b: 'true' });
});
