import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/**
 * A small, order-preserving XML tree. libvirt XML is read, changed by pure functions and written back,
 * so sibling order and every attribute must survive a round trip; fast-xml-parser's `preserveOrder` form
 * does that, and this module gives it names that read well.
 */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}
export type XmlNode = XmlElement | string;

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const ATTR = '@_';
const options = {
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
} as const;

const parser = new XMLParser(options);
const builder = new XMLBuilder({ ...options, format: true, indentBy: '  ', suppressEmptyNode: true });

function fromOrdered(node: OrderedNode): XmlNode | undefined {
  if ('#text' in node) return String(node['#text']);
  const name = Object.keys(node).find((key) => key !== ':@');
  if (!name) return undefined;
  const attrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(node[':@'] ?? {})) attrs[key.slice(ATTR.length)] = String(value);
  const children = (node[name] as OrderedNode[]).map(fromOrdered).filter((c): c is XmlNode => c !== undefined);
  return { name, attrs, children };
}

function toOrdered(node: XmlNode): OrderedNode {
  if (typeof node === 'string') return { '#text': node };
  const ordered: OrderedNode = { [node.name]: node.children.map(toOrdered) };
  if (Object.keys(node.attrs).length > 0) {
    ordered[':@'] = Object.fromEntries(Object.entries(node.attrs).map(([k, v]) => [ATTR + k, v]));
  }
  return ordered;
}

/** Parses a document and returns its root element. */
export function parseXml(xml: string): XmlElement {
  const nodes = parser.parse(xml) as OrderedNode[];
  const root = nodes.map(fromOrdered).find((n): n is XmlElement => typeof n === 'object');
  if (!root) throw new Error('The XML document has no root element.');
  return root;
}

export function serializeXml(root: XmlElement): string {
  return (builder.build([toOrdered(root)]) as string).trim() + '\n';
}

/** Builds an element: `el('disk', {type: 'file'}, el('source', {file}))`; strings become text. */
export function el(name: string, attrs: Record<string, string | number | undefined> = {}, ...children: (XmlNode | undefined | false)[]): XmlElement {
  const cleanAttrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined) cleanAttrs[key] = String(value);
  return { name, attrs: cleanAttrs, children: children.filter((c): c is XmlNode => c !== undefined && c !== false) };
}

export function childElements(parent: XmlElement, name?: string): XmlElement[] {
  return parent.children.filter((c): c is XmlElement => typeof c === 'object' && (name === undefined || c.name === name));
}

export function child(parent: XmlElement | undefined, name: string): XmlElement | undefined {
  return parent ? childElements(parent, name)[0] : undefined;
}

/** Follows a path of element names: `find(domain, 'devices', 'graphics')`. */
export function find(root: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let node = root;
  for (const name of path) node = child(node, name);
  return node;
}

export function textOf(element: XmlElement | undefined): string | undefined {
  if (!element) return undefined;
  const text = element.children.filter((c): c is string => typeof c === 'string').join('');
  return text === '' ? undefined : text;
}

/** Returns the child named `name`, creating it (appended) when missing. */
export function ensureChild(parent: XmlElement, name: string): XmlElement {
  let found = child(parent, name);
  if (!found) {
    found = el(name);
    parent.children.push(found);
  }
  return found;
}

export function removeChildren(parent: XmlElement, predicate: (e: XmlElement) => boolean): void {
  parent.children = parent.children.filter((c) => typeof c === 'string' || !predicate(c));
}

export function setText(element: XmlElement, text: string): void {
  element.children = [text];
}

/** A deep copy, so pure mutators never change their input. */
export function cloneTree(root: XmlElement): XmlElement {
  return {
    name: root.name,
    attrs: { ...root.attrs },
    children: root.children.map((c) => (typeof c === 'string' ? c : cloneTree(c))),
  };
}
