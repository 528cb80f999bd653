/**
 * Structured logging: one JSON object per line. Every line passes through a scrubber that
 * removes the values of the credentials in use (access key secret, STS token, and the
 * access key id), so no credential reaches a log even through an error message.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Field names whose values are never logged, whatever they hold. */
const SECRET_FIELDS = /^(accesskeysecret|securitytoken|ststoken|secret|password|authorization|signature|x-oss-security-token)$/i;

export function createScrubber(secrets: () => Array<string | undefined>): (text: string) => string {
  return (text) => {
    let out = text;
    for (const s of secrets()) {
      // Very short values would redact innocent text; real credentials are long.
      if (s && s.length >= 8 && out.includes(s)) out = out.split(s).join('[redacted]');
    }
    return out;
  };
}

/** What a log line's JSON holds for each field: secrets by name redacted, errors as name and message, bigints as text. */
export function redactingReplacer(key: string, v: unknown): unknown {
  return SECRET_FIELDS.test(key)
    ? '[redacted]'
    : v instanceof Error
      ? { name: v.name, message: v.message }
      : typeof v === 'bigint'
        ? v.toString()
        : v;
}

/** Field names already tested against SECRET_FIELDS: log lines repeat a few dozen names. */
const testedNames = new Map<string, boolean>();

function secretName(name: string): boolean {
  let secret = testedNames.get(name);
  if (secret === undefined) {
    secret = SECRET_FIELDS.test(name);
    if (testedNames.size < 1000) testedNames.set(name, secret);
  }
  return secret;
}

/**
 * True when redactingReplacer would leave every value of `v` as it is: no field named like a
 * secret, no Error or bigint, nothing with a toJSON of its own but a Date's, at any depth (up
 * to a few levels: deeper is left to the replacer). JSON.stringify is several times cheaper
 * without a replacer, and a decision line has a dozen plain fields.
 */
function replacerNeedless(v: unknown, depth: number): boolean {
  if (typeof v === 'bigint') return false;
  if (typeof v !== 'object' || v === null) return true;
  if (depth > 8 || v instanceof Error) return false;
  const toJSON = (v as { toJSON?: unknown }).toJSON;
  if (toJSON !== undefined) return toJSON === Date.prototype.toJSON;
  if (Array.isArray(v)) {
    for (const item of v) if (!replacerNeedless(item, depth + 1)) return false;
    return true;
  }
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (secretName(k) || !replacerNeedless(o[k], depth + 1)) return false;
  return true;
}

/** JSON.stringify(record, redactingReplacer), without the replacer when it would change nothing. */
export function jsonLine(record: Record<string, unknown>): string {
  return replacerNeedless(record, 0) ? JSON.stringify(record) : JSON.stringify(record, redactingReplacer);
}

export function createLogger(opts: {
  write?: (line: string) => void;
  secrets?: () => Array<string | undefined>;
  base?: Record<string, unknown>;
}): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const scrub = createScrubber(opts.secrets ?? (() => []));
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
    write(scrub(jsonLine({ time: new Date().toISOString(), level, msg, ...opts.base, ...fields })));
  };
  return {
    log,
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

/** A logger that keeps lines in memory (tests and reports). */
export function memoryLogger(secrets?: () => Array<string | undefined>): Logger & { lines: string[] } {
  const lines: string[] = [];
  return { ...createLogger({ write: (l) => lines.push(l), secrets }), lines };
}
