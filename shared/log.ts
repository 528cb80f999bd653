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
      if (s && s.length >= 8) out = out.split(s).join('[redacted]');
    }
    return out;
  };
}

export function createLogger(opts: {
  write?: (line: string) => void;
  secrets?: () => Array<string | undefined>;
  base?: Record<string, unknown>;
}): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const scrub = createScrubber(opts.secrets ?? (() => []));
  const log = (level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void => {
    const line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...opts.base, ...fields }, (k, v: unknown) =>
      SECRET_FIELDS.test(k)
        ? '[redacted]'
        : v instanceof Error
          ? { name: v.name, message: v.message }
          : typeof v === 'bigint'
            ? v.toString()
            : v,
    );
    write(scrub(line));
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
