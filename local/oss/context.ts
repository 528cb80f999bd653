/** What every request handler of the local OSS server gets, and the ways it answers. */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { RamAccess } from '../../shared/ram/policy';
import type { OssRequest } from '../../shared/signing';
import { Errors, OssError } from './errors';
import type { OssEvents } from './events';
import type { Store } from './store';

export interface ServerSettings {
  region: string;
  /** CopyObject refuses sources above this when the copy changes the object (OSS: 1 GiB). */
  copyObjectLimitBytes: number;
  /**
   * What a CopyObject onto the same key does with metadata and content headers (UNCONFIRMED on
   * real OSS, docs/oss-behaviour.md "Metadata on a self-copy"): `copy` — the directive decides
   * (COPY keeps the source's); `replace` — the older CopyObject page's reading: a self-copy takes
   * what the request carries, whatever the directive. `oss-sse local --self-copy-metadata`.
   */
  selfCopyMetadata: 'copy' | 'replace';
  /** How long a RestoreObject takes before the object is readable. */
  restoreDelayMs: number;
  /** Default KMS key id given to SSE-KMS objects and buckets that name none. */
  defaultKmsKeyId: string;
  /**
   * The KMS the server checks SSE-KMS key ids against (the local KMS server's KeyRing).
   * Without it any key id is accepted, as before.
   */
  kms?: KmsKeyLookup;
}

/**
 * The OSS↔KMS hook: resolve a key id, alias or ARN to the key KMS knows. Called once per
 * SSE-KMS write, so it must be a cheap in-memory lookup.
 */
export interface KmsKeyLookup {
  lookup(keyId: string): { keyId: string; arn?: string; enabled: boolean; state?: string } | undefined;
  /** The real id of the key OSS uses for SSE-KMS without a key id (OSS's default CMK). */
  readonly defaultKeyId?: string;
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  oss: OssRequest & { bucket: string };
  requestId: string;
  accessKeyId: string;
  store: Store;
  events: OssEvents;
  settings: ServerSettings;
  /**
   * Set when the server enforces RAM policies (local/oss/ram.ts): throws 403 AccessDenied unless
   * the caller may have every access. Handlers call it for what only they know (the KMS key).
   */
  authorize?: (accesses: readonly RamAccess[]) => void;
}

/** A request that names a bucket and an object key. */
export type ObjectContext = RequestContext & { oss: RequestContext['oss'] & { key: string } };

export function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.oss.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function send(ctx: RequestContext, status: number, headers: OutgoingHttpHeaders, body?: string | Buffer): void {
  const h: OutgoingHttpHeaders = { ...headers };
  if (body !== undefined) {
    h['content-length'] = Buffer.byteLength(body);
    if (h['content-type'] === undefined) h['content-type'] = 'application/xml';
  } else if (h['content-length'] === undefined) {
    h['content-length'] = 0;
  }
  ctx.res.writeHead(status, h);
  ctx.res.end(body);
}

export function sendXml(ctx: RequestContext, xml: string, headers: OutgoingHttpHeaders = {}, status = 200): void {
  send(ctx, status, { ...headers, 'content-type': 'application/xml' }, xml);
}

/** Reads a small request body (XML documents); larger ones are refused, not buffered. */
export async function readSmallBody(ctx: RequestContext, limit = 5 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of ctx.req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > limit) throw new OssError(400, 'EntityTooLarge', 'The request body is too large.');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/** Integer query parameter within [min, max], or the default; anything else is 400 InvalidArgument. */
export function intParam(ctx: RequestContext, name: string, min: number, max: number, dflt: number): number {
  const raw = ctx.oss.query[name];
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d{1,10}$/.test(raw)) throw Errors.invalidArgument(`${name} must be an integer`, name, raw);
  const n = Number(raw);
  if (n < min || n > max) throw Errors.invalidArgument(`${name} must be between ${min} and ${max}`, name, raw);
  return n;
}

/** `encoding-type=url` asks for keys URL-encoded in list responses; it is the only value OSS takes. */
export function encoder(ctx: RequestContext): (s: string) => string {
  const enc = ctx.oss.query['encoding-type'];
  if (enc === undefined || enc === '') return (s) => s;
  if (enc !== 'url') throw Errors.invalidArgument('encoding-type must be url', 'encoding-type', enc);
  return (s) => encodeURIComponent(s);
}

export function ownerXml(id: string): { ID: string; DisplayName: string } {
  return { ID: id, DisplayName: id };
}
