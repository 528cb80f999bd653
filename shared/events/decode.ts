import { EventValidationError, truncate } from './errors';

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
