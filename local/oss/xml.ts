/** XML in and out of the local OSS server, on fast-xml-parser. */
import { XMLBuilder, XMLParser, XMLValidator } from 'fast-xml-parser';
import { Errors } from './errors';

const builder = new XMLBuilder({ ignoreAttributes: true, format: false, suppressEmptyNode: false, processEntities: true });

/** An XML document with one root element; undefined fields are omitted, arrays repeat the element. */
export function toXml(root: string, body: Record<string, unknown>): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${builder.build({ [root]: body }) as string}`;
}

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false, // keep "0001" and "true" as written; callers convert
  // Text is kept as sent: an object key may begin or end with spaces. Whitespace between
  // elements is dropped by withoutLayout() instead. See docs/oss-behaviour.md#xml-request-bodies.
  trimValues: false,
  processEntities: true,
  ignoreDeclaration: true,
  // Elements that may repeat are always arrays, so a single <Part> is handled like many.
  isArray: (name) => ['Part', 'Tag', 'Object'].includes(name),
});

/**
 * Parses a request body whose root element must be `root`; anything malformed is 400
 * MalformedXML, never an exception that escapes as a 500.
 */
export function parseXmlBody(body: Buffer, root: string): Record<string, unknown> {
  const text = body.toString('utf8');
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw Errors.malformedXml();
  let doc: unknown;
  try {
    doc = parser.parse(text);
  } catch {
    throw Errors.malformedXml();
  }
  const value = withoutLayout((doc as Record<string, unknown>)[root]);
  if (value === undefined) throw Errors.malformedXml(`The XML you provided does not have the root element ${root}.`);
  if (value === '') return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw Errors.malformedXml();
  return value as Record<string, unknown>;
}

/**
 * Drops the whitespace that only lays out elements (a `#text` beside child elements, or an
 * element holding nothing but whitespace); other text stays exactly as sent. (A value made
 * only of whitespace therefore reads as empty, as it did when every value was trimmed.)
 */
function withoutLayout(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutLayout);
  if (typeof node === 'string') return node.trim() === '' ? '' : node;
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '#text' && typeof v === 'string' && v.trim() === '') continue;
    out[k] = withoutLayout(v);
  }
  return out;
}

/** A string child element, or undefined; anything nested where text was expected is malformed. */
export function textOf(node: Record<string, unknown>, name: string): string | undefined {
  const v = node[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw Errors.malformedXml(`<${name}> must hold text.`);
  return v;
}

export function listOf(node: Record<string, unknown>, name: string): Record<string, unknown>[] {
  const v = node[name];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw Errors.malformedXml();
  return v.map((item) => {
    if (typeof item !== 'object' || item === null) throw Errors.malformedXml(`<${name}> must hold elements.`);
    return item as Record<string, unknown>;
  });
}

export const isoDate = (ms: number): string => new Date(ms).toISOString();
export const httpDate = (ms: number): string => new Date(ms).toUTCString();
