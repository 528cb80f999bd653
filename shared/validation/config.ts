import * as z from 'zod';
import { SSE_ALGORITHMS } from '../oss/port';
import { BucketNameSchema } from './names';

/**
 * Function configuration from environment variables, validated once at cold start.
 *
 * To add a variable: add one line to VARIABLES (wrap its schema in `secret()` if its
 * value must never be echoed in an error) and, if it depends on another variable, one
 * line to RULES. Keys of the parsed Config are the variable names themselves, so an
 * error always names exactly what the operator has to fix.
 */

export const KMS_DATA_ENCRYPTIONS = ['SM4'] as const;
export const COMPLIANCE_MODES = ['any', 'exact'] as const;
/** CopyObject cannot change encryption above 1 GiB, so this is also the maximum. */
export const MAX_MULTIPART_THRESHOLD_BYTES = 1024 * 1024 * 1024;
/** Every part but the last must be at least 100 KB; a smaller threshold could not be split. */
export const MIN_MULTIPART_THRESHOLD_BYTES = 100 * 1024;

// --- building blocks --------------------------------------------------------------------

/** Schemas whose values are never echoed in error messages. */
const secretSchemas = z.registry<{ secret: true }, z.core.$ZodType>();

/** Marks a variable's schema as secret: errors name it but never show its value. */
export function secret<S extends z.core.$ZodType>(schema: S): S {
  secretSchemas.add(schema, { secret: true });
  return schema;
}

function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(', ')}` });
}

function integerBetween(min: number, max: number) {
  const message = `must be an integer from ${min} to ${max}`;
  return z.string().transform((s, ctx) => {
    const n = /^[0-9]{1,16}$/.test(s) ? Number(s) : NaN;
    if (!(n >= min && n <= max)) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return n;
  });
}

const DNS_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOST_PORT_RE = new RegExp(`^(?:${DNS_LABEL}(?:\\.${DNS_LABEL})*|\\[[0-9A-Fa-f:.]+\\])(?::([0-9]{1,5}))?$`);

/** An http(s) origin (no path, query or credentials) or a bare host[:port]. */
export function isEndpoint(s: string): boolean {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(s)) {
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      return false;
    }
    return (
      (url.protocol === 'http:' || url.protocol === 'https:') &&
      url.username === '' &&
      url.password === '' &&
      url.pathname === '/' &&
      url.search === '' &&
      url.hash === '' &&
      !s.includes('?') &&
      !s.includes('#')
    );
  }
  const m = HOST_PORT_RE.exec(s);
  if (!m) return false;
  const port = m[1];
  return port === undefined || (Number(port) >= 1 && Number(port) <= 65535);
}

const endpoint = () => z.string().refine(isEndpoint, { error: 'must be an http(s) URL without a path, or host[:port]' });

const KEY_ID = '[A-Za-z0-9][A-Za-z0-9-]{0,127}';
// KMS aliases: "alias/" then letters, digits, '_', '-', '/' (CreateAlias rules).
const ALIAS = 'alias/[A-Za-z0-9_/-]{1,255}';
const KMS_KEY_ID_RE = new RegExp(`^(?:${KEY_ID}|${ALIAS}|acs:kms:[a-z0-9-]+:[0-9]+:(?:key/${KEY_ID}|${ALIAS}))$`);

export const KmsKeyIdSchema = z.string().regex(KMS_KEY_ID_RE, {
  error: 'must be a key id, alias/<name>, acs:kms:<region>:<account>:key/<id> or acs:kms:<region>:<account>:alias/<name>',
});

// --- the variables ----------------------------------------------------------------------

/** Object events the object function acts on by default (never CopyObject: that is its own write). */
export const DEFAULT_OBJECT_EVENTS = ['PutObject', 'PostObject', 'CompleteMultipartUpload', 'AppendObject'] as const;
export const OBJECT_EVENT_NAMES = [...DEFAULT_OBJECT_EVENTS, 'PutSymlink', 'UpdateObjectMeta'] as const;
const MAX_PART_BYTES = 5 * 1024 * 1024 * 1024;

/** "true" | "false", nothing else: a typo must not silently mean false. */
function flag(dflt: boolean) {
  return z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default(dflt ? 'true' : 'false')
    .transform((v) => v === 'true');
}

/** Comma-separated list; blanks around items and empty items are ignored. */
function list<T extends z.ZodType<string, string>>(item: T) {
  return z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== ''),
    )
    .pipe(z.array(item));
}

/** Bucket-name globs: bucket-name characters plus * and ?. */
const BucketGlobSchema = z.string().regex(/^[a-z0-9*?-]{1,63}$/, { error: 'must be bucket-name globs (a-z, 0-9, -, * and ?)' });
const KeyPrefixSchema = z.string().max(1023);

const VARIABLES = {
  SSE_ALGORITHM: oneOf(SSE_ALGORITHMS).default('AES256'),
  KMS_KEY_ID: KmsKeyIdSchema.optional(),
  KMS_DATA_ENCRYPTION: oneOf(KMS_DATA_ENCRYPTIONS).optional(),
  /** any: any SSE is compliant; exact: algorithm and key must be the policy's. */
  COMPLIANCE: oneOf(COMPLIANCE_MODES).default('any'),
  BUCKET_INCLUDE: list(BucketGlobSchema).default([]),
  BUCKET_EXCLUDE: list(BucketGlobSchema).default([]),
  KEY_EXCLUDE_PREFIXES: list(KeyPrefixSchema).default([]),
  OVERRIDE_BUCKET_RULE: flag(false),
  OSS_ENDPOINT: endpoint().optional(),
  KMS_ENDPOINT: endpoint().optional(),
  FC_ENDPOINT: endpoint().optional(),
  MULTIPART_THRESHOLD_BYTES: integerBetween(MIN_MULTIPART_THRESHOLD_BYTES, MAX_MULTIPART_THRESHOLD_BYTES).default(
    MAX_MULTIPART_THRESHOLD_BYTES,
  ),
  PART_SIZE_BYTES: integerBetween(MIN_MULTIPART_THRESHOLD_BYTES, MAX_PART_BYTES).default(64 * 1024 * 1024),
  PART_CONCURRENCY: integerBetween(1, 64).default(8),
  PRESERVE_ACL: flag(true),
  DELETE_PLAINTEXT_VERSIONS: flag(false),
  OBJECT_EVENTS: list(oneOf(OBJECT_EVENT_NAMES)).default([...DEFAULT_OBJECT_EVENTS]),
  /** After setting a bucket's rule, at most this many existing objects are checked (the backfill does the rest). */
  BUCKET_REENCRYPT_LIMIT: integerBetween(0, 100_000).default(1000),
  /** Backfill: where job state, checkpoints and reports are kept (required by the backfill function). */
  STATE_BUCKET: BucketNameSchema.optional(),
  STATE_PREFIX: z
    .string()
    .max(512)
    .regex(/^([^/\\].*\/)?$/, { error: 'must be empty or end with "/" (and not start with "/")' })
    .default('oss-sse/jobs/'),
  /**
   * Backfill: objects in flight per invocation unless the payload says otherwise; unset, as
   * many as fill the job's QPS cap (shared/backfill/rate-limit.ts: concurrencyUnderCap).
   */
  BACKFILL_CONCURRENCY: integerBetween(1, 1024).optional(),
};

const RULES: readonly EnvRule<keyof typeof VARIABLES>[] = [
  onlyWhen('KMS_KEY_ID', 'SSE_ALGORITHM', 'KMS'),
  onlyWhen('KMS_DATA_ENCRYPTION', 'SSE_ALGORITHM', 'KMS'),
];

// --- rules between variables ------------------------------------------------------------

/** A rule between variables: returns [variable to blame, message] when violated. */
export type EnvRule<N extends string> = (env: Readonly<Record<string, unknown>>) => readonly [N, string] | undefined;

/** `variable` may be set only when `other` equals `value`. */
export function onlyWhen<N extends string>(variable: N, other: N, value: string): EnvRule<N> {
  return (env) => (env[variable] !== undefined && env[other] !== value ? [variable, `is only allowed when ${other}=${value}`] : undefined);
}

// --- schema, loader, error --------------------------------------------------------------

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** One entry per problem, e.g. `SSE_ALGORITHM="aes" must be one of AES256, KMS, SM4`. */
    readonly problems: readonly string[],
    /** The offending variable names, in declaration order. */
    readonly variables: readonly string[],
  ) {
    super(`Invalid configuration: ${problems.join('; ')}`);
  }
}

/** Unset and empty are the same thing for an environment variable. */
function dropEmpty(env: unknown): unknown {
  if (typeof env !== 'object' || env === null) return env;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') out[k] = v;
  return out;
}

/**
 * Builds the schema and loader for a set of environment variables (one schema per
 * variable, keyed by its name) and the rules between them. Exported so other entry
 * points (the CLI) can validate their own variables the same way.
 */
export function defineEnvConfig<V extends Record<string, z.ZodType>>(variables: V, rules: readonly EnvRule<keyof V & string>[]) {
  const schema = z.preprocess(
    dropEmpty,
    z.object(variables).superRefine(
      (cfg, ctx) => {
        for (const rule of rules) {
          const broken = rule(cfg);
          // `params.rule` tells the formatter the combination is wrong, not the value itself.
          if (broken) ctx.addIssue({ code: 'custom', path: [broken[0]], message: broken[1], params: { rule: true } });
        }
      },
      // Run even when single variables failed, so one error lists every problem.
      { when: (payload) => typeof payload.value === 'object' && payload.value !== null },
    ),
  );
  const names: readonly string[] = Object.keys(variables);

  function load(env: Record<string, string | undefined>): z.output<typeof schema> {
    const result = schema.safeParse(env);
    if (result.success) return result.data;
    const raw = dropEmpty(env) as Record<string, unknown>;
    const found = result.error.issues.map((issue) => {
      const head = issue.path[0];
      const name = typeof head === 'string' ? head : undefined;
      const isRule = issue.code === 'custom' && issue.params?.['rule'] === true;
      let text: string;
      if (name === undefined) text = issue.message;
      else if (isRule || raw[name] === undefined) text = `${name} ${issue.message}`;
      else text = `${describeValue(name, variables[name], raw[name])} ${issue.message}`;
      return { name, rank: name === undefined ? -1 : names.indexOf(name), text };
    });
    // Declaration order; stable, so a variable's own problem precedes rules blaming it.
    found.sort((a, b) => a.rank - b.rank);
    const bad = [...new Set(found.flatMap((f) => (f.name === undefined ? [] : [f.name])))];
    throw new ConfigError(
      found.map((f) => f.text),
      bad,
    );
  }

  return { schema, load };
}

const MAX_ECHO_CHARS = 200;

/** Secret whether `secret()` wraps the whole variable schema or an inner one (`secret(x).optional()`). */
function isSecret(schema: z.core.$ZodType | undefined): boolean {
  for (let s = schema, depth = 0; s !== undefined && depth < 16; depth++) {
    if (secretSchemas.has(s)) return true;
    const def = s._zod.def as { innerType?: z.core.$ZodType; in?: z.core.$ZodType };
    s = def.innerType ?? def.in;
  }
  return false;
}

function describeValue(name: string, schema: z.ZodType | undefined, value: unknown): string {
  if (isSecret(schema)) return `${name} (value hidden)`;
  let shown = JSON.stringify(value) ?? String(value);
  if (shown.length > MAX_ECHO_CHARS) shown = `${shown.slice(0, MAX_ECHO_CHARS)}…`;
  return `${name}=${shown}`;
}

const functionConfig = defineEnvConfig(VARIABLES, RULES);

/** The functions' configuration schema: input is process.env, output keyed by variable name. */
export const ConfigSchema = functionConfig.schema;
export type Config = z.infer<typeof ConfigSchema>;

/** Parses and validates the configuration; throws ConfigError naming every bad variable. */
export const loadConfig: (env: Record<string, string | undefined>) => Config = functionConfig.load;
