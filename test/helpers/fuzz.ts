/** fast-check arbitraries and helpers shared by the fuzz tests of events and payloads. */
import fc from 'fast-check';

/** Every JSON path in a value, so a mutation can target any field of a fixture. */
export function pathsOf(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out = [prefix];
  if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, Array.isArray(value) ? Number(k) : k]));
  }
  return out;
}

export function mutate(value: unknown, path: (string | number)[], replacement: unknown, remove: boolean): unknown {
  const copy = structuredClone(value);
  if (path.length === 0) return replacement;
  let cur = copy as Record<string | number, unknown>;
  for (const seg of path.slice(0, -1)) cur = cur[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove) delete cur[last];
  else cur[last] = replacement;
  return copy;
}

// Broad on purpose: the parsers take `unknown` and must hold for any value FC or a person could hand them.
export const anyValue = fc.anything({
  maxDepth: 6,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});
export const hugeNumbers = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53, 2 ** 64, 1e308, Number.MIN_VALUE, -0),
  fc.bigInt(),
);
export const longStrings = fc.oneof(
  fc.string({ minLength: 1000, maxLength: 20_000 }),
  fc.constantFrom('%'.repeat(5000), '😀'.repeat(600), 'a/'.repeat(600)),
);
export const replacement = fc.oneof(anyValue, fc.jsonValue({ maxDepth: 4 }), hugeNumbers, longStrings);

/** Nesting far deeper than fast-check's depth limits, as arrays and as objects. */
export function deeplyNested(depth: number, asObject: boolean, leaf: unknown): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = asObject ? { events: v, oss: v } : [v];
  return v;
}
export const deep = fc.tuple(fc.integer({ min: 100, max: 5000 }), fc.boolean(), anyValue).map(([d, o, leaf]) => deeplyNested(d, o, leaf));

/**
 * Object keys at and past OSS's limits: exactly 1023 and 1024 UTF-8 bytes (in 1-, 2- and
 * 4-byte characters), control characters, lone surrogates, a leading '/' or '\', bytes that
 * are not UTF-8 (as a decoder leaves them), and arbitrary unicode.
 */
export const edgeKeys = fc.oneof(
  fc.constantFrom(
    'a'.repeat(1023),
    'a'.repeat(1024),
    'é'.repeat(511) + 'a',
    'é'.repeat(512),
    '😀'.repeat(255) + 'abc',
    '😀'.repeat(256),
    '\u0000',
    'a\u0001b\u007f\n\r\t',
    '\ud800',
    'x\udc00y',
    '/leading-slash',
    '\\leading-backslash',
    '',
    ' ',
    'a+b%20c?d#e&f=g',
  ),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }),
  fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
);
