/** The XML documents OSS sends and takes: parsing with repeated elements as arrays, and building. */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/** Elements that may repeat are always arrays, so one element is handled like many. */
const ALWAYS_ARRAYS: ReadonlySet<string> = new Set([
  'Contents',
  'CommonPrefixes',
  'Bucket',
  'Tag',
  'Part',
  'InventoryConfiguration',
  'Field',
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false, // "0001", "true", ETags: keep the text as written
  trimValues: false, // keys and tag values may start or end with spaces
  processEntities: true,
  htmlEntities: true, // numeric references (&#38;) as well as the five named ones
  ignoreDeclaration: true,
  isArray: (name) => ALWAYS_ARRAYS.has(name),
});

const builder = new XMLBuilder({ ignoreAttributes: true, format: false, suppressEmptyNode: false, processEntities: true });

export type XmlNode = Record<string, unknown>;

export function toXml(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body }) as string}`;
}

/** A document as a tree: read directly when it is plain (parsePlainXml), else by fast-xml-parser. */
export function parseXml(text: string | Buffer): XmlNode {
  const xml = typeof text === 'string' ? text : text.toString('utf8');
  return parsePlainXml(xml) ?? parseXmlByParser(xml);
}

/** fast-xml-parser's reading of any document, the reference parsePlainXml matches. */
export function parseXmlByParser(xml: string): XmlNode {
  const doc: unknown = parser.parse(xml);
  return typeof doc === 'object' && doc !== null ? (doc as XmlNode) : {};
}

/** A child element as a node ('' for an empty element, e.g. `<TagSet/>`, gives {}). */
export function child(node: unknown, name: string): XmlNode {
  if (typeof node !== 'object' || node === null) return {};
  const v = (node as XmlNode)[name];
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as XmlNode) : {};
}

export function children(node: unknown, name: string): XmlNode[] {
  if (typeof node !== 'object' || node === null) return [];
  const v = (node as XmlNode)[name];
  if (!Array.isArray(v)) return [];
  return v.map((item) => (typeof item === 'object' && item !== null ? (item as XmlNode) : {}));
}

export function text(node: unknown, name: string): string | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  const v = (node as XmlNode)[name];
  return typeof v === 'string' ? v : undefined;
}

export function requireText(node: unknown, name: string, what: string): string {
  const v = text(node, name);
  if (v === undefined) throw new Error(`OSS ${what}: the response has no <${name}>`);
  return v;
}

/** An ampersand that does not start a reference the plain readers decode (the five named entities, character references). */
const OTHER_REFERENCE_RE = /&(?!(?:quot|amp|apos|lt|gt|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)/;
const CHARACTER_REFERENCE_RE = /&#(x?)([0-9a-fA-F]+);/g;
const REFERENCE_RE = /&(?:(quot|amp|apos|lt|gt)|#([0-9]+)|#x([0-9a-fA-F]+));/g;
const NAMED_ENTITIES: Record<string, string> = { quot: '"', amp: '&', apos: "'", lt: '<', gt: '>' };

/** A character XML 1.0 allows and the parser decodes as is (it removes or refuses some of the others). */
const ordinaryCodePoint = (c: number): boolean =>
  c === 0x9 || c === 0xa || (c >= 0x20 && c <= 0xd7ff) || (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff);

/**
 * True when every reference in `xml` is one the plain readers decode as the parser does: the
 * five named entities, and character references (`&#34;`, as the local server writes an
 * ETag's quotes) to ordinary characters.
 */
function plainReferences(xml: string): boolean {
  if (OTHER_REFERENCE_RE.test(xml)) return false;
  if (!xml.includes('&#')) return true;
  CHARACTER_REFERENCE_RE.lastIndex = 0;
  for (let m = CHARACTER_REFERENCE_RE.exec(xml); m !== null; m = CHARACTER_REFERENCE_RE.exec(xml)) {
    if (!ordinaryCodePoint(parseInt(m[2] as string, m[1] === 'x' ? 16 : 10))) return false;
  }
  return true;
}

const decodeReferences = (s: string): string =>
  s.includes('&')
    ? s.replace(REFERENCE_RE, (_, name: string | undefined, dec: string | undefined, hex: string | undefined) =>
        name !== undefined
          ? (NAMED_ENTITIES[name] as string)
          : String.fromCodePoint(dec !== undefined ? parseInt(dec, 10) : parseInt(hex as string, 16)),
      )
    : s;
/** Element names the plain reader takes; anything else (a namespace prefix, say) is the parser's. */
const PLAIN_NAME_RE = /^[A-Za-z_][\w.-]*$/;
/** Names the parser refuses or renames (they would reach Object.prototype): left to it. */
const RESERVED_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'toString',
  'valueOf',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** Names seen to be plain: a listing repeats a handful of them thousands of times. */
const plainNames = new Set<string>();

function plainName(name: string): boolean {
  if (plainNames.has(name)) return true;
  if (!PLAIN_NAME_RE.test(name) || RESERVED_NAMES.has(name)) return false;
  if (plainNames.size < 1000) plainNames.add(name);
  return true;
}

/** An element being read: its children so far (undefined while it has none) and its text. */
interface OpenElement {
  name: string;
  node: XmlNode | undefined;
  text: string;
}

/**
 * parseXml's result for a plain document — no references but the five named entities and
 * character references to ordinary characters (`&quot;` or `&#34;` around an ETag, say), no
 * CDATA, comments, doctype, processing instructions past the declaration, or attributes —
 * read in one pass without the parser: a 1,000-key listing page costs a fraction of the
 * parser's time this way. Undefined when the document is not that plain (or
 * not well-formed): the parser then reads it. Matches the parser's reading: text as written
 * with its references decoded, '' for an empty element, ALWAYS_ARRAYS and repeated
 * elements as arrays, and the text around child elements (whitespace, say) as '#text'.
 */
export function parsePlainXml(xml: string): XmlNode | undefined {
  if (!plainReferences(xml) || xml.includes('<!') || xml.includes('\r')) return undefined;
  let from = 0;
  if (xml.startsWith('<?xml')) {
    from = xml.indexOf('?>') + 2;
    if (from < 2) return undefined;
  }
  if (xml.includes('<?', from)) return undefined;
  const top: OpenElement = { name: '', node: {}, text: '' };
  const open: OpenElement[] = [top];
  let current = top;
  let at = from;
  for (let lt = xml.indexOf('<', at); lt >= 0; lt = xml.indexOf('<', at)) {
    const gt = xml.indexOf('>', lt + 1);
    if (gt < 0) return undefined;
    if (lt > at) current.text = current.text === '' ? xml.slice(at, lt) : current.text + xml.slice(at, lt);
    at = gt + 1;
    const closing = xml.charCodeAt(lt + 1) === 0x2f; // </name>
    const selfClosing = !closing && xml.charCodeAt(gt - 1) === 0x2f; // <name/>
    const inner = xml.slice(closing ? lt + 2 : lt + 1, selfClosing ? gt - 1 : gt);
    // `<name >` is plain; an attribute or anything else after the name fails plainName.
    const name = inner.charCodeAt(inner.length - 1) <= 0x20 ? inner.trimEnd() : inner;
    if (!plainName(name)) return undefined;
    if (closing) {
      if (current === top || current.name !== name) return undefined; // not well-formed: the parser says so
      open.pop();
      const parent = open[open.length - 1] as OpenElement;
      addChild(parent, name, valueOf(current));
      current = parent;
    } else if (selfClosing) {
      addChild(current, name, '');
    } else {
      current = { name, node: undefined, text: '' };
      open.push(current);
    }
  }
  if (current !== top) return undefined;
  // Text outside the root: whitespace is dropped (as the parser does); anything else is the parser's.
  if ((top.text + xml.slice(at)).trim() !== '') return undefined;
  return top.node;
}

function valueOf(e: OpenElement): XmlNode | string {
  const text = decodeReferences(e.text);
  if (e.node === undefined) return text;
  if (text !== '') e.node['#text'] = text;
  return e.node;
}

function addChild(parent: OpenElement, name: string, value: XmlNode | string): void {
  const node = (parent.node ??= {});
  const existing = node[name];
  if (ALWAYS_ARRAYS.has(name)) {
    if (Array.isArray(existing)) existing.push(value);
    else node[name] = [value];
  } else if (existing === undefined) node[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else node[name] = [existing, value];
}

/**
 * The text of the leaf element at `path` (root first) in a plain document (as parsePlainXml
 * reads it): a CopyObjectResult's ETag, an object ACL's Grant. Undefined when the document is
 * not that plain, or the element is missing, repeated or not a leaf: the caller then parses it
 * with parseXml, whose reading of a plain document this matches.
 */
export function plainLeafText(xml: string, path: readonly string[]): string | undefined {
  let node: XmlNode | string | undefined = parsePlainXml(xml);
  for (const name of path) {
    if (node === undefined || typeof node === 'string') return undefined;
    const next: unknown = node[name];
    if (next === undefined || Array.isArray(next)) return undefined;
    node = next as XmlNode | string;
  }
  return typeof node === 'string' ? node : undefined;
}
