/**
 * The event or payload a function is invoked with: decoded from bytes, text or a value, and
 * the one error thrown when it is not what the function takes.
 */
import { MAX_ISSUES, MAX_MESSAGE_CHARS, truncate } from './issues';

// Enough for the bucket-name search to name all six places it looked.
const MAX_ISSUES_IN_MESSAGE = 8;

/**
 * The one error every event parser throws. `issues` holds one `path: problem` line per
 * problem (e.g. `events[0].oss.object.key: expected string, got number 5`) so a handler
 * can log them as a list; `message` repeats the first few so a bare `String(err)` in an
 * FC log is enough to fix the event.
 */
export class EventValidationError extends Error {
  override readonly name = 'EventValidationError';
  readonly issues: readonly string[];

  constructor(summary: string, issues: readonly string[] = []) {
    // Issues built by hand (not via formatZodIssues) get the same line cap.
    const kept = issues.slice(0, MAX_ISSUES).map((line) => truncate(line, MAX_MESSAGE_CHARS));
    const shown = kept.slice(0, MAX_ISSUES_IN_MESSAGE);
    const more = issues.length - shown.length;
    const detail = shown.length === 0 ? '' : `: ${shown.join('; ')}${more > 0 ? `; …and ${more} more` : ''}`;
    super(`${summary}${detail}`);
    this.issues = kept.length === 0 ? [summary] : kept;
  }
}

/**
 * Function Compute hands a handler its event as a Buffer; the local runtime and tests may
 * pass a string or an already parsed object. Returns the JSON value, untouched when it is
 * not bytes or text.
 */
export function decodeEvent(event: unknown): unknown {
  if (typeof event === 'string') return parseJson(event);
  if (event instanceof Uint8Array) return parseJson(Buffer.from(event.buffer, event.byteOffset, event.byteLength).toString('utf8'));
  if (event instanceof ArrayBuffer) return parseJson(Buffer.from(event).toString('utf8'));
  return event;
}

function parseJson(text: string): unknown {
  // A BOM is not JSON but editors add it to saved event files (`s invoke --event-file`).
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') throw new EventValidationError('event is not valid JSON: the event is empty');
  try {
    return JSON.parse(body) as unknown;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new EventValidationError(`event is not valid JSON: ${truncate(why, 200)}`);
  }
}
