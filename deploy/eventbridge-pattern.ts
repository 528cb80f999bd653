/**
 * The subset of EventBridge event-pattern matching oss-sse's trigger rules use, so tests can
 * run s.yaml's patterns against events: a pattern is a JSON object shaped like the event; a
 * leaf is a list of alternatives, each an exact string or `{ "prefix": … }` / `{ "suffix": … }`;
 * every key of the pattern must match (EventBridge "Event patterns"). Any other operator throws:
 * a pattern using one is not covered by these tests.
 */

export type EventPattern = { [key: string]: EventPattern | PatternLeaf[] };
export type PatternLeaf = string | { prefix: string } | { suffix: string };

function leafMatches(leaf: unknown, value: unknown): boolean {
  if (typeof leaf === 'string') return value === leaf;
  if (typeof leaf === 'object' && leaf !== null && !Array.isArray(leaf)) {
    const keys = Object.keys(leaf);
    const op = keys[0];
    const arg = (leaf as Record<string, unknown>)[op ?? ''];
    if (keys.length === 1 && typeof arg === 'string') {
      if (op === 'prefix') return typeof value === 'string' && value.startsWith(arg);
      if (op === 'suffix') return typeof value === 'string' && value.endsWith(arg);
    }
  }
  throw new Error(`unsupported event-pattern leaf ${JSON.stringify(leaf)}`);
}

/** Whether `event` matches `pattern`. */
export function patternMatches(pattern: unknown, event: unknown): boolean {
  if (typeof pattern !== 'object' || pattern === null || Array.isArray(pattern)) throw new Error('an event pattern is a JSON object');
  for (const [key, expected] of Object.entries(pattern)) {
    const value = typeof event === 'object' && event !== null ? (event as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(expected)) {
      if (!expected.some((leaf) => leafMatches(leaf, value))) return false;
    } else if (!patternMatches(expected, value)) {
      return false;
    }
  }
  return true;
}

/** The exact strings a pattern lists at `path` (e.g. ['type']), ignoring prefix/suffix leaves. */
export function exactValues(pattern: unknown, path: readonly string[]): string[] {
  let node: unknown = pattern;
  for (const key of path) node = typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[key] : undefined;
  return Array.isArray(node) ? node.filter((x): x is string => typeof x === 'string') : [];
}
