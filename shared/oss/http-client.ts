/**
 * OssPort over plain node:http / node:https with our own signing (shared/signing).
 *
 * Why not ali-oss: its copy() re-sends every header as `x-oss-copy-source-<name>`, its
 * putBucketEncryption cannot send KMSDataEncryption, and listV2 does not decode keys
 * (OSS-FACTS §6). Here a request carries exactly the caller's headers plus what signing and
 * HTTP framing need: x-oss-date, x-oss-content-sha256 (V4), x-oss-security-token (STS),
 * authorization, host, and content-length / content-type / content-md5 when a body is sent.
 *
 * Every attempt re-reads the credentials (STS tokens rotate) and re-signs (fresh date).
 * Throttling, 5xx, network errors and timeouts are retried with full-jitter backoff inside
 * the caller's deadline (shared/retry.ts). Error messages never contain the secret, the
 * token or a signature: OSS echoes the string it signed (with the token in it) on
 * SignatureDoesNotMatch, so every message is redacted before an error is built.
 *
 * Non-ASCII header values are signed over their wire bytes, as real OSS (and the local server)
 * verifies them: see signingHeaderValue in shared/signing.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isTransientOssError, withRetry, type RetryOptions } from '../retry';
import { signingHeaderValue, signOssRequest, type Credentials, type OssRequest } from '../signing';
import { copySourceHeader, keyPath, lowerCased, queryString, toWireValue, urlDecode } from './encoding';
import { normalizeRegion, requestTarget, resolveOssEndpoint, type OssEndpoint } from './endpoint';
import {
  CONTENT_HEADER_NAMES,
  OssRequestError,
  type CompletedPart,
  type ContentHeaderName,
  type ListedObject,
  type ListPage,
  type ObjectHead,
  type ObjectStream,
  type OssPort,
  type SseAlgorithm,
  type SseSpec,
  type WriteResult,
} from './port';
import { child, children, parseXml, requireText, text, toXml, type XmlNode } from './xml';

export interface OssRequestInfo {
  method: string;
  /** The OssPort operation, e.g. `CopyObject`. */
  op: string;
  /** HTTP status; -1 network error, -2 timeout. */
  status: number;
  requestId?: string;
  /** 0 for the first try, 1 for the first retry, … */
  attempt: number;
}

export interface OssHttpClientOptions {
  /** OSS_ENDPOINT: URL or host[:port]; default the region's (internal) endpoint. */
  endpoint?: string;
  region: string;
  /** Use `oss-<region>-internal.aliyuncs.com` by default (inside Function Compute). */
  internal?: boolean;
  /** Read before every attempt: STS credentials rotate. */
  credentials: () => Credentials;
  /** Default v4. */
  signatureVersion?: 'v4' | 'v1';
  /** Per attempt, from dispatch to the last response byte. Default 60 s. */
  timeoutMs?: number;
  /** Keep-alive sockets per host. Default 128. */
  maxSockets?: number;
  retry?: {
    /** Epoch ms, read at the start of every operation (e.g. the invocation's end minus a margin). */
    deadline?: () => number | undefined;
    /** Total tries per operation. Default 8. */
    maxAttempts?: number;
    /** Backoff base and cap (ms); defaults 100 and 10 000. */
    baseMs?: number;
    capMs?: number;
  };
  /** Called after every attempt, successful or not. */
  onRequest?: (info: OssRequestInfo) => void;
}

type Method = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';

interface Call {
  op: string;
  method: Method;
  bucket?: string;
  key?: string;
  /** Decoded values; '' for valueless sub-resources (?acl, ?uploads). */
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** XML document, or raw bytes. */
  body?: string | Buffer;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  requestId?: string;
}

/** One signed attempt, ready to send. */
interface Prepared {
  options: RequestOptions;
  send: typeof httpRequest;
  /** Values that must never appear in an error message. */
  secrets: string[];
  body?: Buffer;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_SOCKETS = 128;
// Responses are small XML documents; anything larger is not OSS answering this client.
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
const SSE_ALGORITHMS: readonly SseAlgorithm[] = ['AES256', 'KMS', 'SM4'];
// An error document of a streamed GET (which may be a large object's request) is read whole only up to this.
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/** Headers shared/signing adds; copied from the signing view onto the wire headers. */
const SIGNING_HEADERS = ['authorization', 'x-oss-date', 'x-oss-content-sha256', 'x-oss-security-token'] as const;

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Removes every secret from a text that may echo what was signed (OSS does on 403). */
function redact(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

/** The signature part of an Authorization value (V1 `OSS ak:sig`, V4 `…,Signature=hex`). */
function signatureOf(authorization: string): string | undefined {
  const v4 = /Signature=([0-9a-fA-F]+)/.exec(authorization);
  if (v4) return v4[1];
  const colon = authorization.lastIndexOf(':');
  return colon >= 0 ? authorization.slice(colon + 1) : undefined;
}

/** A request without a (complete) answer: -2 ClientTimeout when `timeout` says how, else -1 NetworkError. */
function noAnswer(c: Call, e: Error & { code?: string }, timeout: string | undefined, secrets: readonly string[]): OssRequestError {
  if (timeout !== undefined) return new OssRequestError(-2, 'ClientTimeout', `OSS ${c.op} on ${where(c)}: ${timeout}`);
  return new OssRequestError(
    -1,
    'NetworkError',
    redact(`OSS ${c.op} on ${where(c)} failed: ${e.code ?? 'network error'}: ${e.message}`, secrets),
  );
}

function where(c: Call): string {
  if (c.bucket === undefined) return 'the service';
  return c.key === undefined ? `bucket ${c.bucket}` : `oss://${c.bucket}/${c.key}`;
}

// ---- the client -------------------------------------------------------------------------------

export class OssHttpClient implements OssPort {
  readonly endpoint: OssEndpoint;
  private readonly region: string;
  private readonly version: 'v1' | 'v4';
  private readonly timeoutMs: number;
  private readonly httpAgent: HttpAgent;
  private readonly httpsAgent: HttpsAgent;
  private sent = 0;

  /** `agents`: connections shared with another client (see withDeadline). */
  constructor(
    private readonly options: OssHttpClientOptions,
    agents?: { http: HttpAgent; https: HttpsAgent },
  ) {
    this.region = normalizeRegion(options.region);
    this.endpoint = resolveOssEndpoint({
      region: this.region,
      internal: options.internal ?? false,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    });
    this.version = options.signatureVersion ?? 'v4';
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    this.httpAgent = agents?.http ?? new HttpAgent({ keepAlive: true, maxSockets });
    this.httpsAgent = agents?.https ?? new HttpsAgent({ keepAlive: true, maxSockets });
  }

  /**
   * This client's connections and settings with another retry deadline and a request count of
   * its own: one per invocation when an instance serves several at once.
   */
  withDeadline(deadline: number): OssHttpClient {
    return new OssHttpClient(
      { ...this.options, retry: { ...this.options.retry, deadline: () => deadline } },
      { http: this.httpAgent, https: this.httpsAgent },
    );
  }

  /** HTTP requests dispatched so far, retries included. */
  get requestCount(): number {
    return this.sent;
  }

  /** Closes the keep-alive sockets. The client can still be used afterwards (new sockets). */
  destroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  // ---- objects ----

  async headObject(bucket: string, key: string, versionId?: string): Promise<ObjectHead | undefined> {
    let r: Reply;
    try {
      r = await this.call({ op: 'HeadObject', method: 'HEAD', bucket, key, query: versionQuery(versionId) });
    } catch (e) {
      // 404 NoSuchBucket is an error; a missing object or version is an answer.
      if (
        e instanceof OssRequestError &&
        e.status === 404 &&
        (e.code === 'NoSuchKey' || e.code === 'NoSuchVersion' || e.code === 'UnknownError')
      ) {
        return undefined;
      }
      throw e;
    }
    return parseHead(bucket, key, r);
  }

  async getObjectAcl(bucket: string, key: string, versionId?: string): Promise<string> {
    const r = await this.call({ op: 'GetObjectAcl', method: 'GET', bucket, key, query: { acl: '', ...versionQuery(versionId) } });
    const doc = parseXml(r.body.toString('utf8'));
    return requireText(child(child(doc, 'AccessControlPolicy'), 'AccessControlList'), 'Grant', 'GetObjectAcl');
  }

  async getObjectTagging(bucket: string, key: string, versionId?: string): Promise<Array<[string, string]>> {
    const r = await this.call({ op: 'GetObjectTagging', method: 'GET', bucket, key, query: { tagging: '', ...versionQuery(versionId) } });
    const tagSet = child(child(parseXml(r.body.toString('utf8')), 'Tagging'), 'TagSet');
    return children(tagSet, 'Tag').map((t) => [requireText(t, 'Key', 'GetObjectTagging'), text(t, 'Value') ?? '']);
  }

  async copyObject(args: {
    bucket: string;
    key: string;
    sourceBucket: string;
    sourceKey: string;
    sourceVersionId?: string;
    headers: Record<string, string>;
  }): Promise<WriteResult> {
    const r = await this.call({
      op: 'CopyObject',
      method: 'PUT',
      bucket: args.bucket,
      key: args.key,
      headers: {
        ...lowerCased(args.headers),
        'x-oss-copy-source': copySourceHeader(args.sourceBucket, args.sourceKey, args.sourceVersionId),
      },
    });
    const etag = text(child(parseXml(r.body.toString('utf8')), 'CopyObjectResult'), 'ETag') ?? header(r.headers, 'etag');
    if (etag === undefined) throw new Error('OSS CopyObject: the response has no ETag');
    return writeResult(etag, r);
  }

  async initiateMultipartUpload(
    bucket: string,
    key: string,
    headers: Record<string, string>,
  ): Promise<{ uploadId: string; requestId?: string }> {
    const r = await this.call({
      op: 'InitiateMultipartUpload',
      method: 'POST',
      bucket,
      key,
      // encoding-type=url: the echoed <Key> may hold characters XML 1.0 cannot carry.
      query: { uploads: '', 'encoding-type': 'url' },
      headers: lowerCased(headers),
    });
    const uploadId = requireText(
      child(parseXml(r.body.toString('utf8')), 'InitiateMultipartUploadResult'),
      'UploadId',
      'InitiateMultipartUpload',
    );
    return r.requestId === undefined ? { uploadId } : { uploadId, requestId: r.requestId };
  }

  async uploadPartCopy(args: {
    bucket: string;
    key: string;
    uploadId: string;
    partNumber: number;
    sourceBucket: string;
    sourceKey: string;
    sourceVersionId?: string;
    range: [number, number];
    ifMatch: string;
  }): Promise<CompletedPart> {
    const [first, last] = args.range;
    if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || first < 0 || last < first) {
      throw new RangeError(`uploadPartCopy: invalid byte range [${first}, ${last}]`);
    }
    if (!Number.isInteger(args.partNumber) || args.partNumber < 1 || args.partNumber > 10_000) {
      throw new RangeError(`uploadPartCopy: part number ${args.partNumber} is outside 1..10000`);
    }
    const r = await this.call({
      op: 'UploadPartCopy',
      method: 'PUT',
      bucket: args.bucket,
      key: args.key,
      query: { partNumber: String(args.partNumber), uploadId: args.uploadId },
      headers: {
        'x-oss-copy-source': copySourceHeader(args.sourceBucket, args.sourceKey, args.sourceVersionId),
        'x-oss-copy-source-range': `bytes=${first}-${last}`,
        'x-oss-copy-source-if-match': args.ifMatch,
      },
    });
    const etag = text(child(parseXml(r.body.toString('utf8')), 'CopyPartResult'), 'ETag') ?? header(r.headers, 'etag');
    if (etag === undefined) throw new Error('OSS UploadPartCopy: the response has no ETag');
    return { partNumber: args.partNumber, etag };
  }

  async completeMultipartUpload(bucket: string, key: string, uploadId: string, parts: CompletedPart[]): Promise<WriteResult> {
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const r = await this.call({
      op: 'CompleteMultipartUpload',
      method: 'POST',
      bucket,
      key,
      query: { uploadId, 'encoding-type': 'url' },
      body: toXml('CompleteMultipartUpload', { Part: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) }),
    });
    const etag = text(child(parseXml(r.body.toString('utf8')), 'CompleteMultipartUploadResult'), 'ETag') ?? header(r.headers, 'etag');
    if (etag === undefined) throw new Error('OSS CompleteMultipartUpload: the response has no ETag');
    return writeResult(etag, r);
  }

  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.call({ op: 'AbortMultipartUpload', method: 'DELETE', bucket, key, query: { uploadId } });
  }

  async deleteObject(bucket: string, key: string, versionId?: string): Promise<void> {
    await this.call({ op: 'DeleteObject', method: 'DELETE', bucket, key, query: versionQuery(versionId) });
  }

  async listObjectsV2(
    bucket: string,
    opts: { prefix?: string; startAfter?: string; continuationToken?: string; maxKeys?: number; delimiter?: string },
  ): Promise<ListPage> {
    const query: Record<string, string> = { 'list-type': '2', 'encoding-type': 'url' };
    if (opts.prefix !== undefined && opts.prefix !== '') query.prefix = opts.prefix;
    if (opts.startAfter !== undefined && opts.startAfter !== '') query['start-after'] = opts.startAfter;
    if (opts.continuationToken !== undefined) query['continuation-token'] = opts.continuationToken;
    if (opts.maxKeys !== undefined) query['max-keys'] = String(opts.maxKeys);
    if (opts.delimiter !== undefined && opts.delimiter !== '') query.delimiter = opts.delimiter;
    const r = await this.call({ op: 'ListObjectsV2', method: 'GET', bucket, query });
    const result = child(parseXml(r.body.toString('utf8')), 'ListBucketResult');
    const decode = text(result, 'EncodingType') === 'url' ? urlDecode : (s: string) => s;
    const objects: ListedObject[] = children(result, 'Contents').map((c) => ({
      key: decode(requireText(c, 'Key', 'ListObjectsV2')),
      etag: text(c, 'ETag') ?? '',
      size: Number(text(c, 'Size') ?? '0'),
      storageClass: text(c, 'StorageClass') ?? 'Standard',
      lastModified: text(c, 'LastModified') ?? '',
      type: text(c, 'Type') ?? 'Normal',
    }));
    const commonPrefixes = children(result, 'CommonPrefixes').map((p) => decode(requireText(p, 'Prefix', 'ListObjectsV2')));
    const isTruncated = text(result, 'IsTruncated') === 'true';
    const next = text(result, 'NextContinuationToken');
    return { objects, commonPrefixes, isTruncated, ...(isTruncated && next ? { nextContinuationToken: next } : {}) };
  }

  // ---- service and buckets ----

  async listBuckets(opts: { marker?: string; maxKeys?: number; prefix?: string }): Promise<{ buckets: string[]; nextMarker?: string }> {
    const query: Record<string, string> = {};
    if (opts.prefix !== undefined && opts.prefix !== '') query.prefix = opts.prefix;
    if (opts.marker !== undefined && opts.marker !== '') query.marker = opts.marker;
    if (opts.maxKeys !== undefined) query['max-keys'] = String(opts.maxKeys);
    const r = await this.call({ op: 'ListBuckets', method: 'GET', query });
    const result = child(parseXml(r.body.toString('utf8')), 'ListAllMyBucketsResult');
    const buckets = children(child(result, 'Buckets'), 'Bucket').map((b) => requireText(b, 'Name', 'ListBuckets'));
    const next = text(result, 'NextMarker');
    return text(result, 'IsTruncated') === 'true' && next ? { buckets, nextMarker: next } : { buckets };
  }

  async getBucketEncryption(bucket: string): Promise<SseSpec | undefined> {
    let r: Reply;
    try {
      r = await this.call({ op: 'GetBucketEncryption', method: 'GET', bucket, query: { encryption: '' } });
    } catch (e) {
      if (e instanceof OssRequestError && e.status === 404 && e.code === 'NoSuchServerSideEncryptionRule') return undefined;
      throw e;
    }
    const rule = child(child(parseXml(r.body.toString('utf8')), 'ServerSideEncryptionRule'), 'ApplyServerSideEncryptionByDefault');
    const algorithm = requireText(rule, 'SSEAlgorithm', 'GetBucketEncryption');
    if (!SSE_ALGORITHMS.includes(algorithm as SseAlgorithm)) {
      throw new Error(`OSS GetBucketEncryption: unknown SSEAlgorithm ${JSON.stringify(algorithm)}`);
    }
    const keyId = text(rule, 'KMSMasterKeyID');
    const dataEncryption = text(rule, 'KMSDataEncryption');
    return {
      algorithm: algorithm as SseAlgorithm,
      ...(keyId ? { keyId } : {}),
      ...(dataEncryption === 'SM4' ? { dataEncryption: 'SM4' as const } : {}),
    };
  }

  async putBucketEncryption(bucket: string, rule: SseSpec): Promise<void> {
    const apply: Record<string, string> = { SSEAlgorithm: rule.algorithm };
    if (rule.keyId !== undefined && rule.keyId !== '') apply.KMSMasterKeyID = rule.keyId;
    if (rule.dataEncryption !== undefined) apply.KMSDataEncryption = rule.dataEncryption;
    await this.call({
      op: 'PutBucketEncryption',
      method: 'PUT',
      bucket,
      query: { encryption: '' },
      body: toXml('ServerSideEncryptionRule', { ApplyServerSideEncryptionByDefault: apply }),
    });
  }

  async putObject(bucket: string, key: string, body: Buffer, headers: Record<string, string> = {}): Promise<WriteResult> {
    const r = await this.call({ op: 'PutObject', method: 'PUT', bucket, key, headers: lowerCased(headers), body });
    const etag = header(r.headers, 'etag');
    if (etag === undefined) throw new Error('OSS PutObject: the response has no ETag');
    const versionId = header(r.headers, 'x-oss-version-id');
    return { etag, ...(versionId !== undefined ? { versionId } : {}), ...(r.requestId ? { requestId: r.requestId } : {}) };
  }

  async getObject(bucket: string, key: string): Promise<Buffer | undefined> {
    try {
      return (await this.call({ op: 'GetObject', method: 'GET', bucket, key })).body;
    } catch (e) {
      if (e instanceof OssRequestError && e.status === 404 && e.code === 'NoSuchKey') return undefined;
      throw e;
    }
  }

  /** See OssPort.getObjectStream: retried until the headers arrive, then handed out chunk by chunk. */
  async getObjectStream(bucket: string, key: string, opts: { idleTimeoutMs?: number } = {}): Promise<ObjectStream> {
    const c: Call = { op: 'GetObject', method: 'GET', bucket, key };
    const { res, secrets } = await withRetry((attempt) => this.openStream(c, attempt), this.retryOptions());
    const etag = header(res.headers, 'etag');
    if (etag === undefined) {
      res.destroy();
      throw new Error(`OSS GetObject on ${where(c)}: the response has no ETag`);
    }
    const length = header(res.headers, 'content-length');
    const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : -1;
    const requestId = header(res.headers, 'x-oss-request-id');
    return {
      body: streamedBody(res, c, opts.idleTimeoutMs ?? this.timeoutMs, size, secrets),
      etag,
      size,
      ...(requestId === undefined ? {} : { requestId }),
    };
  }

  async deleteBucketEncryption(bucket: string): Promise<void> {
    await this.call({ op: 'DeleteBucketEncryption', method: 'DELETE', bucket, query: { encryption: '' } });
  }

  async getBucketVersioning(bucket: string): Promise<'Enabled' | 'Suspended' | undefined> {
    const r = await this.call({ op: 'GetBucketVersioning', method: 'GET', bucket, query: { versioning: '' } });
    const status = text(child(parseXml(r.body.toString('utf8')), 'VersioningConfiguration'), 'Status');
    return status === 'Enabled' || status === 'Suspended' ? status : undefined;
  }

  // ---- transport ----

  /** One operation: attempts with backoff until a 2xx, a permanent error, or the deadline. */
  private call(c: Call): Promise<Reply> {
    return withRetry(async (attempt) => {
      const { reply, secrets } = await this.attempt(c, attempt);
      if (reply.status >= 200 && reply.status < 300) return reply;
      throw errorFromReply(c, reply, secrets);
    }, this.retryOptions());
  }

  /** Backoff settings for one operation; the deadline is read now, at its start. */
  private retryOptions(): RetryOptions {
    const retry = this.options.retry ?? {};
    const deadline = retry.deadline?.();
    return {
      isRetryable: isTransientOssError,
      ...(deadline === undefined ? {} : { deadline }),
      ...(retry.maxAttempts === undefined ? {} : { maxAttempts: retry.maxAttempts }),
      ...(retry.baseMs === undefined ? {} : { baseMs: retry.baseMs }),
      ...(retry.capMs === undefined ? {} : { capMs: retry.capMs }),
    };
  }

  /**
   * One attempt of a streamed GET: resolves with the response as soon as 2xx headers arrive
   * (the body is left unread, paused); a non-2xx reply is read whole (an error document) and
   * rejected like call() does, so the same statuses are retried.
   */
  private openStream(c: Call, attempt: number): Promise<{ res: IncomingMessage; secrets: string[] }> {
    const { options, send, secrets } = this.prepare(c);
    const report = (status: number, requestId?: string) =>
      this.options.onRequest?.({ method: c.method, op: c.op, status, attempt, ...(requestId === undefined ? {} : { requestId }) });
    return new Promise((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      const fail = (e: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const err = noAnswer(c, e, timedOut ? `no response headers after ${this.timeoutMs} ms` : undefined, secrets);
        report(err.status);
        reject(err);
      };
      const r = send(options, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const requestId = header(res.headers, 'x-oss-request-id');
        if (status >= 200 && status < 300) {
          settled = true;
          clearTimeout(timer);
          report(status, requestId);
          resolve({ res, secrets });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ERROR_BODY_BYTES) {
            res.destroy(new Error(`error response larger than ${MAX_ERROR_BODY_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          report(status, requestId);
          const reply: Reply = {
            status,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ...(requestId === undefined ? {} : { requestId }),
          };
          reject(errorFromReply(c, reply, secrets));
        });
      });
      this.sent++;
      // Until the headers only: the body has its own idle timeout per chunk (streamedBody).
      const timer = setTimeout(() => {
        timedOut = true;
        r.destroy(new Error('timeout'));
      }, this.timeoutMs);
      r.on('error', fail);
      r.end();
    });
  }

  /** The signed request for one attempt (fresh credentials and date), shared by attempt() and the streaming GET. */
  private prepare(c: Call): Prepared {
    if (c.key !== undefined && c.key === '') throw new Error(`OSS ${c.op}: the object key is empty`);
    const creds = this.options.credentials();
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(c.headers ?? {})) headers[name] = toWireValue(value);
    let body: Buffer | undefined;
    if (c.body !== undefined) {
      body = typeof c.body === 'string' ? Buffer.from(c.body, 'utf8') : c.body;
      headers['content-type'] ??= typeof c.body === 'string' ? 'application/xml' : 'application/octet-stream';
      headers['content-md5'] = createHash('md5').update(body).digest('base64');
    }
    // Explicit length on PUT/POST (0 without a body) so node never falls back to chunked encoding.
    if (body !== undefined || c.method === 'PUT' || c.method === 'POST') headers['content-length'] = String(body?.length ?? 0);

    const signing: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) signing[name] = signingHeaderValue(value);
    const req: OssRequest = { method: c.method, query: c.query ?? {}, headers: signing };
    if (c.bucket !== undefined) req.bucket = c.bucket;
    if (c.key !== undefined) req.key = c.key;
    signOssRequest(req, creds, { version: this.version, region: this.region });
    for (const name of SIGNING_HEADERS) {
      const v = signing[name];
      if (v !== undefined) headers[name] = v;
    }
    const target = requestTarget(this.endpoint, this.region, c.bucket);
    headers['host'] = target.hostHeader;

    const authorization = headers['authorization'] ?? '';
    const secrets = [creds.accessKeySecret, creds.securityToken ?? '', authorization, signatureOf(authorization) ?? ''];
    const path = (c.key === undefined ? '/' : keyPath(c.key)) + queryString(c.query);
    const https = target.protocol === 'https:';
    return {
      options: {
        host: target.connectHost,
        port: target.port,
        method: c.method,
        path,
        headers,
        agent: https ? this.httpsAgent : this.httpAgent,
      },
      send: https ? httpsRequest : httpRequest,
      secrets,
      ...(body === undefined ? {} : { body }),
    };
  }

  /** Signs and sends one HTTP request; transport failures become OssRequestError -1 / -2. */
  private async attempt(c: Call, attempt: number): Promise<{ reply: Reply; secrets: string[] }> {
    const { options, send, secrets, body } = this.prepare(c);

    const report = (status: number, requestId?: string) =>
      this.options.onRequest?.({ method: c.method, op: c.op, status, attempt, ...(requestId === undefined ? {} : { requestId }) });

    const reply = await new Promise<Reply>((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      const fail = (e: Error & { code?: string }) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const err = noAnswer(c, e, timedOut ? `timed out after ${this.timeoutMs} ms` : undefined, secrets);
        report(err.status);
        reject(err);
      };
      const r = send(options, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', fail);
        res.on('close', () => {
          if (!res.complete) fail(Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          const requestId = header(res.headers, 'x-oss-request-id');
          const status = res.statusCode ?? 0;
          report(status, requestId);
          resolve({ status, headers: res.headers, body: Buffer.concat(chunks), ...(requestId === undefined ? {} : { requestId }) });
        });
      });
      this.sent++; // after send(): a request refused by node before dispatch (bad header) was never sent
      const timer = setTimeout(() => {
        timedOut = true;
        r.destroy(new Error('timeout'));
      }, this.timeoutMs);
      r.on('error', fail);
      r.end(body);
    });
    return { reply, secrets };
  }
}

// ---- streamed bodies ----------------------------------------------------------------------------

/**
 * A streamed GET's body as an async iterable of chunks. Each chunk is awaited at most
 * `idleMs` (a stalled server fails, a slow consumer does not: the clock only runs while the
 * consumer waits); an early end is a NetworkError, never a silent short read; stopping
 * (return()) or any failure destroys the response so its socket is not left half-read.
 */
function streamedBody(res: IncomingMessage, c: Call, idleMs: number, size: number, secrets: readonly string[]): AsyncIterable<Buffer> {
  let taken = false;
  return {
    [Symbol.asyncIterator](): AsyncIterator<Buffer> {
      if (taken) throw new Error(`OSS ${c.op} on ${where(c)}: the body can be read only once`);
      taken = true;
      const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      let received = 0;
      let over = false;
      const stop = (): void => {
        if (over) return;
        over = true;
        res.destroy();
      };
      return {
        async next(): Promise<IteratorResult<Buffer>> {
          if (over) return { done: true, value: undefined };
          let timer: NodeJS.Timeout | undefined;
          const idle = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () =>
                reject(
                  new OssRequestError(-2, 'ClientTimeout', `OSS ${c.op} on ${where(c)}: no data for ${idleMs} ms after ${received} bytes`),
                ),
              idleMs,
            );
          });
          try {
            const r = await Promise.race([chunks.next(), idle]);
            if (r.done) {
              over = true;
              if (!res.complete || (size >= 0 && received !== size)) {
                throw new OssRequestError(
                  -1,
                  'NetworkError',
                  `OSS ${c.op} on ${where(c)}: the body ended after ${received} of ${size} bytes`,
                );
              }
              return { done: true, value: undefined };
            }
            received += r.value.length;
            return { done: false, value: r.value };
          } catch (e) {
            stop();
            if (e instanceof OssRequestError) throw e;
            const err = e as Error & { code?: string };
            throw new OssRequestError(
              -1,
              'NetworkError',
              redact(`OSS ${c.op} on ${where(c)} failed after ${received} bytes: ${err.code ?? 'network error'}: ${err.message}`, secrets),
            );
          } finally {
            clearTimeout(timer);
          }
        },
        async return(): Promise<IteratorResult<Buffer>> {
          stop();
          return { done: true, value: undefined };
        },
      };
    },
  };
}

// ---- response parsing ---------------------------------------------------------------------------

function versionQuery(versionId: string | undefined): Record<string, string> {
  return versionId === undefined ? {} : { versionId };
}

function writeResult(etag: string, r: Reply): WriteResult {
  const versionId = header(r.headers, 'x-oss-version-id');
  return {
    etag,
    ...(versionId === undefined ? {} : { versionId }),
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
  };
}

/**
 * Every header of a HEAD as an ObjectHead. Header values are kept as node decodes them
 * (latin1, one char per byte): sending them back on a copy writes the very same bytes, so
 * UTF-8 user metadata survives a re-encryption unchanged.
 */
function parseHead(bucket: string, key: string, r: Reply): ObjectHead {
  const h = r.headers;
  const etag = header(h, 'etag');
  if (etag === undefined) throw new Error(`OSS HeadObject on oss://${bucket}/${key}: the response has no ETag`);
  const contentHeaders: Partial<Record<ContentHeaderName, string>> = {};
  for (const name of CONTENT_HEADER_NAMES) {
    const v = header(h, name);
    if (v !== undefined) contentHeaders[name] = v;
  }
  const userMeta: Record<string, string> = {};
  for (const name of Object.keys(h)) {
    if (!name.startsWith('x-oss-meta-')) continue;
    const v = header(h, name);
    if (v !== undefined) userMeta[name] = v;
  }
  const algorithm = header(h, 'x-oss-server-side-encryption');
  let sse: SseSpec | undefined;
  // An algorithm this code does not know is left out: the policy then sees the object as
  // not compliant and re-encrypts it, which is safe.
  if (algorithm !== undefined && SSE_ALGORITHMS.includes(algorithm as SseAlgorithm)) {
    const keyId = header(h, 'x-oss-server-side-encryption-key-id');
    const dataEncryption = header(h, 'x-oss-server-side-data-encryption');
    sse = {
      algorithm: algorithm as SseAlgorithm,
      ...(keyId ? { keyId } : {}),
      ...(dataEncryption === 'SM4' ? { dataEncryption: 'SM4' as const } : {}),
    };
  }
  const opt = (name: string): string | undefined => header(h, name);
  const versionId = opt('x-oss-version-id');
  const crc64 = opt('x-oss-hash-crc64ecma');
  const lastModified = opt('last-modified');
  const restore = opt('x-oss-restore');
  return {
    bucket,
    key,
    ...(versionId === undefined ? {} : { versionId }),
    etag,
    size: Number(opt('content-length') ?? '0'),
    ...(crc64 === undefined ? {} : { crc64 }),
    ...(lastModified === undefined ? {} : { lastModified }),
    objectType: opt('x-oss-object-type') ?? 'Normal',
    storageClass: opt('x-oss-storage-class') ?? 'Standard',
    ...(restore === undefined ? {} : { restore }),
    ...(sse === undefined ? {} : { sse }),
    contentHeaders,
    userMeta,
    taggingCount: Number(opt('x-oss-tagging-count') ?? '0') || 0,
    ...(r.requestId === undefined ? {} : { requestId: r.requestId }),
  };
}

/**
 * An OssRequestError from a non-2xx reply: the XML error document of the body, or for HEAD
 * (no body) the base64 document OSS puts in x-oss-err.
 */
function errorFromReply(c: Call, reply: Reply, secrets: readonly string[]): OssRequestError {
  let xml = '';
  if (c.method === 'HEAD') {
    const encoded = header(reply.headers, 'x-oss-err');
    if (encoded !== undefined) xml = Buffer.from(encoded, 'base64').toString('utf8');
  } else {
    xml = reply.body.toString('utf8');
  }
  let doc: XmlNode = {};
  try {
    doc = child(parseXml(xml), 'Error');
  } catch {
    // Not XML (a proxy's HTML page, say): status and request id are all there is.
  }
  const code = text(doc, 'Code')?.trim() || 'UnknownError';
  const serverMessage = text(doc, 'Message')?.trim() || `HTTP ${reply.status}`;
  const requestId = text(doc, 'RequestId')?.trim() || reply.requestId;
  const ec = text(doc, 'EC')?.trim() || header(reply.headers, 'x-oss-ec');
  const message = redact(
    `OSS ${c.op} on ${where(c)} failed: ${reply.status} ${code}: ${serverMessage}` + (requestId ? ` (request id ${requestId})` : ''),
    secrets,
  );
  return new OssRequestError(reply.status, code, message, requestId, ec);
}
