/** The XML documents OSS sends and takes: parsing with repeated elements as arrays, and building. */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false, // "0001", "true", ETags: keep the text as written
  trimValues: false, // keys and tag values may start or end with spaces
  processEntities: true,
  htmlEntities: true, // numeric references (&#38;) as well as the five named ones
  ignoreDeclaration: true,
  // Elements that may repeat are always arrays, so one element is handled like many.
  isArray: (name) => ['Contents', 'CommonPrefixes', 'Bucket', 'Tag', 'Part', 'InventoryConfiguration', 'Field'].includes(name),
});

const builder = new XMLBuilder({ ignoreAttributes: true, format: false, suppressEmptyNode: false, processEntities: true });

export type XmlNode = Record<string, unknown>;

export function toXml(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body }) as string}`;
}

export function parseXml(text: string | Buffer): XmlNode {
  const doc: unknown = parser.parse(typeof text === 'string' ? text : text.toString('utf8'));
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

const TAG_RE = /<(\/?)([^\s/>]+)([^>]*)>/g;
/** An ampersand that does not start one of XML's five named entities. */
const OTHER_REFERENCE_RE = /&(?!(?:quot|amp|apos|lt|gt);)/;
const NAMED_ENTITY_RE = /&(quot|amp|apos|lt|gt);/g;
const NAMED_ENTITIES: Record<string, string> = { quot: '"', amp: '&', apos: "'", lt: '<', gt: '>' };

/**
 * The text of the leaf element at `path` (root first) in a plain document — no references but
 * the five named entities (`&quot;` around an ETag, say), no CDATA, comments, doctype,
 * processing instructions past the declaration, or attributes — read without building the tree (a small answer such as CopyObjectResult costs
 * far less this way than through the parser). Undefined when the document is not that plain, or
 * the element is missing, repeated or not a leaf: the caller then parses it with parseXml, whose
 * reading of a plain document this matches (the text as written, '' for an empty element).
 */
export function plainLeafText(xml: string, path: readonly string[]): string | undefined {
  if (OTHER_REFERENCE_RE.test(xml) || xml.includes('<!')) return undefined;
  let from = 0;
  if (xml.startsWith('<?xml')) {
    from = xml.indexOf('?>') + 2;
    if (from < 2) return undefined;
  }
  if (xml.includes('<?', from)) return undefined;
  const open: string[] = [];
  let found: string | undefined;
  let textStart = -1;
  TAG_RE.lastIndex = from;
  for (let m = TAG_RE.exec(xml); m !== null; m = TAG_RE.exec(xml)) {
    const [tag, closing, name, rest] = m as unknown as [string, string, string, string];
    const selfClosing = rest === '/';
    if (rest !== '' && !selfClosing && rest.trim() !== '') return undefined; // attributes
    if (closing) {
      if (open.pop() !== name) return undefined; // not well-formed: let the parser say so
      if (textStart >= 0 && open.length === path.length - 1) {
        const inner = xml.slice(textStart, m.index);
        if (inner.includes('<')) return undefined; // not a leaf
        if (found !== undefined) return undefined; // repeated
        found = inner;
        textStart = -1;
      }
      continue;
    }
    const atPath = open.length === path.length - 1 && name === path[open.length] && open.every((o, i) => o === path[i]);
    if (selfClosing) {
      if (atPath) {
        if (found !== undefined) return undefined;
        found = '';
      }
      continue;
    }
    open.push(name);
    if (atPath) textStart = m.index + tag.length;
  }
  if (open.length !== 0 || found === undefined) return undefined;
  return found.includes('&') ? found.replace(NAMED_ENTITY_RE, (_, name: string) => NAMED_ENTITIES[name] as string) : found;
}
