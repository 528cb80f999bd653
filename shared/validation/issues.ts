/**
 * Validation problems as `path: problem` lines for logs and error messages: zod issues,
 * paths and values described briefly, credentials never echoed.
 */
import type * as z from 'zod';

// A hostile event could carry thousands of problems or megabyte strings: keep logs small.
export const MAX_ISSUES = 50;
const MAX_VALUE_CHARS = 60;
const MAX_KEY_CHARS = 40;
export const MAX_MESSAGE_CHARS = 300;
const MAX_PATH_SEGMENTS = 12;

/** Fields whose values must never be echoed, even when they have the wrong type. */
const CREDENTIAL_KEY_RE = /secret|token|password|passwd|accesskey|signature|credential|authorization/i;

export function isCredentialKey(key: PropertyKey): boolean {
  return typeof key === 'string' && CREDENTIAL_KEY_RE.test(key);
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}…`;
}

const IDENTIFIER_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatSegment(seg: PropertyKey, first: boolean): string {
  if (typeof seg === 'number') return `[${seg}]`;
  if (typeof seg === 'symbol') return `[${truncate(String(seg.description ?? 'symbol'), MAX_KEY_CHARS)}]`;
  if (IDENTIFIER_RE.test(seg) && seg.length <= MAX_KEY_CHARS) return first ? seg : `.${seg}`;
  return `[${JSON.stringify(truncate(seg, MAX_KEY_CHARS))}]`;
}

/** `['events', 0, 'oss', 'object', 'key']` → `events[0].oss.object.key`; `[]` → `event`. */
export function formatPath(path: readonly PropertyKey[], root = 'event'): string {
  if (path.length === 0) return root;
  // Deeply nested junk would otherwise make one line per level: keep both ends.
  const indexed = path.map((seg, i) => ({ seg, i }));
  const kept = path.length <= MAX_PATH_SEGMENTS ? indexed : [...indexed.slice(0, 6), ...indexed.slice(-4)];
  let out = '';
  let previous = -1;
  for (const { seg, i } of kept) {
    if (previous >= 0 && i !== previous + 1) out += '.…';
    out += formatSegment(seg, out === '');
    previous = i;
  }
  return out;
}

/**
 * A short description of a value for an error message: scalars shown (truncated),
 * containers only by kind and size, so a deeply nested or huge input never reaches
 * JSON.stringify.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(truncate(value, MAX_VALUE_CHARS))}`;
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'bigint':
      return `bigint ${truncate(value.toString(), MAX_VALUE_CHARS)}`;
    case 'undefined':
      return 'nothing';
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return `array of ${value.length}`;
      return 'object';
    default:
      return typeof value;
  }
}

/** `fields "a", "b", …` — what an unrecognised object holds, for "expected X; found …" messages. */
export function describeFields(obj: object): string {
  const keys = Object.keys(obj);
  if (keys.length === 0) return 'no fields';
  const shown = keys.slice(0, 8).map((k) => JSON.stringify(truncate(k, MAX_KEY_CHARS)));
  return `fields ${shown.join(', ')}${keys.length > 8 ? ', …' : ''}`;
}

function plural(n: number | bigint, word: string): string {
  return `${String(n)} ${word}${n === 1 || n === 1n ? '' : 's'}`;
}

function limitText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, bound: number | bigint, below: boolean): string {
  const atLeast = below ? 'at least' : 'at most';
  const exact = issue.exact === true;
  switch (issue.origin) {
    case 'string':
      return bound === 1 && below && !exact ? 'must not be empty' : `must be ${exact ? 'exactly' : atLeast} ${plural(bound, 'character')}`;
    case 'array':
      return bound === 1 && below && !exact
        ? 'must hold at least 1 item'
        : `must hold ${exact ? 'exactly' : atLeast} ${plural(bound, 'item')}`;
    case 'int':
      if (!below && bound === Number.MAX_SAFE_INTEGER) return 'must be a safe integer (at most 2^53-1)';
      if (below && bound === Number.MIN_SAFE_INTEGER) return 'must be a safe integer (at least -(2^53-1))';
      return `must be ${below ? '>=' : '<='} ${String(bound)}`;
    default: {
      const op = below ? (issue.inclusive === false ? '>' : '>=') : issue.inclusive === false ? '<' : '<=';
      return `must be ${op} ${String(bound)}`;
    }
  }
}

/** The problem part of one issue, without its path. Uses the issue's input when parsed with `reportInput`. */
function problemText(issue: z.core.$ZodIssue, echo: boolean): string {
  const hasInput = 'input' in issue;
  const got = hasInput && echo ? `, got ${describeValue(issue.input)}` : hasInput && issue.input !== undefined ? ' (value hidden)' : '';
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'nonoptional') return 'is missing';
      if (hasInput && issue.input === undefined) return `is missing (expected ${issue.expected})`;
      return `expected ${issue.expected}${got}`;
    case 'invalid_value': {
      const values = issue.values
        .slice(0, 5)
        .map((v) => (typeof v === 'string' ? JSON.stringify(truncate(v, MAX_VALUE_CHARS)) : String(v)));
      const expected = values.length === 1 ? values[0] : `one of ${values.join(', ')}`;
      if (hasInput && issue.input === undefined) return `is missing (expected ${expected})`;
      return `expected ${expected}${got}`;
    }
    case 'too_small':
      return `${limitText(issue, issue.minimum, true)}${got}`;
    case 'too_big':
      return `${limitText(issue, issue.maximum, false)}${got}`;
    case 'invalid_format':
      // Our own schemas give regexes a message; fall back to naming the format.
      return issue.message && !issue.message.startsWith('Invalid') ? `${issue.message}${got}` : `must be a valid ${issue.format}${got}`;
    case 'invalid_union':
      return `matches none of the accepted shapes${got}`;
    default:
      return `${issue.message}${got}`;
  }
}

/**
 * Zod issues → `path: problem` lines. `prefix` is prepended to every path (records are
 * validated one at a time, so their issues need `events[i]` put back). Never throws:
 * whatever the issue holds is only ever described, never serialised whole.
 */
export function formatZodIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = [], root = 'event'): string[] {
  const out: string[] = [];
  for (const issue of issues.slice(0, MAX_ISSUES)) {
    let line: string;
    try {
      const path = [...prefix, ...issue.path];
      const last = path[path.length - 1];
      const echo = last === undefined || !isCredentialKey(last);
      line = `${formatPath(path, root)}: ${problemText(issue, echo)}`;
    } catch {
      // Defensive only: an issue we cannot describe must not hide the others.
      line = `${formatPath(prefix, root)}: invalid value`;
    }
    out.push(truncate(line, MAX_MESSAGE_CHARS));
  }
  if (issues.length > MAX_ISSUES) out.push(`…and ${issues.length - MAX_ISSUES} more problems`);
  return out;
}
