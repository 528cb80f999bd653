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
