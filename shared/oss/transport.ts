/**
 * The one exchange with OSS, for every operation: sign (fresh credentials and date on every
 * attempt: STS tokens rotate), send, time out, retry transient failures with full-jitter
 * backoff inside the caller's deadline (shared/retry.ts), and map what came back to an
 * answer or an OssRequestError whose message never holds the secret, the token or a
 * signature (OSS echoes the string it signed, token included, on SignatureDoesNotMatch).
 *
 * A request carries exactly the caller's headers plus what signing and HTTP framing need:
 * x-oss-date, x-oss-content-sha256 (V4), x-oss-security-token (STS), authorization, host,
 * and content-length / content-type / content-md5 when a body is sent. Non-ASCII header
 * values are signed over their wire bytes (signingHeaderValue in shared/signing).
 */
import { createHash } from 'node:crypto';
import { type Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { type Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isTransientOssError, withRetry, type RetryOptions } from '../retry';
import { signingHeaderValue, signOssRequest, type Credentials, type OssRequest } from '../signing';
import { streamedBody } from './body-stream';
import { keyPath, queryString, toWireValue } from './encoding';
import { requestTarget, type OssEndpoint } from './endpoint';
import { errorFromReply, header, noAnswer, signatureOf, where, type Reply, type Subject } from './failures';
import type { OssOperation } from './operations';
import type { ObjectStream, OssNoAnswer } from './port';

export interface OssRequestInfo {
  method: string;
  /** The OSS operation, e.g. `CopyObject`. */
  op: string;
  /** The HTTP status, or why there was none. */
  status: number | OssNoAnswer;
  requestId?: string;
  /** 0 for the first try, 1 for the first retry, … */
  attempt: number;
}

export interface OssRetrySettings {
  /** Epoch ms, read at the start of every operation (e.g. the invocation's end minus a margin). */
  deadline?: () => number | undefined;
  /** Total tries per operation. Default 8. */
  maxAttempts?: number;
  /** Backoff base and cap (ms); defaults 100 and 10 000. */
  baseMs?: number;
  capMs?: number;
}

export interface TransportSettings {
  endpoint: OssEndpoint;
  /** Normalised (`cn-hangzhou`). */
  region: string;
  version: 'v1' | 'v4';
  /** Per attempt, from dispatch to the last response byte (a streamed GET: to the response headers). */
  timeoutMs: number;
  credentials: () => Credentials;
  agents: { http: HttpAgent; https: HttpsAgent };
  retry: OssRetrySettings;
  onRequest?: (info: OssRequestInfo) => void;
}

/** One request of an operation: its table row, where it goes, and what it carries besides signing. */
export interface Exchange {
  operation: OssOperation;
  bucket?: string;
  key?: string;
  /** Decoded values, after the operation's sub-resource; '' for valueless parameters. */
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** XML document, or raw bytes. */
  body?: string | Buffer;
}

/** How the response body is taken: read whole, or (on 2xx) handed out unread, as it arrives. */
type BodyMode = 'buffered' | 'streamed';

/** What one attempt ended with: a whole reply, or a 2xx response whose body is left unread. */
type Outcome = { kind: 'reply'; reply: Reply } | { kind: 'stream'; res: IncomingMessage };

/** One signed attempt, ready to send. */
interface Prepared {
  options: RequestOptions;
  send: typeof httpRequest;
  /** Values that must never appear in an error message (worked out only when a message is made). */
  secrets: () => string[];
  body?: Buffer;
}

// Responses are small XML documents; anything larger is not OSS answering this client.
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
// An error document of a streamed GET (which may be a large object's request) is read whole only up to this.
const MAX_ERROR_BODY_BYTES = 1024 * 1024;

/** Headers shared/signing adds; copied from the signing view onto the wire headers. */
const SIGNING_HEADERS = ['authorization', 'x-oss-date', 'x-oss-content-sha256', 'x-oss-security-token'] as const;

const is2xx = (status: number): boolean => status >= 200 && status < 300;
const ASCII_RE = /^[\x00-\x7f]*$/;

export class OssTransport {
  private sent = 0;

  constructor(private readonly settings: TransportSettings) {}

  /** HTTP requests dispatched so far, retries included. */
  get requestCount(): number {
    return this.sent;
  }

  /** One operation with its answer read whole: attempts until a 2xx, a permanent error, or the deadline. */
  async call(x: Exchange): Promise<Reply> {
    const { outcome } = await this.retried(x, 'buffered');
    if (outcome.kind !== 'reply') throw new Error(`OSS ${x.operation.op}: a buffered exchange returned a stream`);
    return outcome.reply;
  }

  /**
   * A GET whose body is handed out as it arrives: retried like call() until the response
   * headers arrive, never after (bytes already handed out cannot be taken back).
   */
  async stream(x: Exchange, opts: { idleTimeoutMs?: number }): Promise<ObjectStream> {
    const { outcome, secrets } = await this.retried(x, 'streamed');
    if (outcome.kind !== 'stream') throw new Error(`OSS ${x.operation.op}: a streamed exchange returned no stream`);
    const res = outcome.res;
    const s = subjectOf(x);
    const etag = header(res.headers, 'etag');
    if (etag === undefined) {
      res.destroy();
      throw new Error(`OSS ${s.op} on ${where(s)}: the response has no ETag`);
    }
    const length = header(res.headers, 'content-length');
    const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    const requestId = header(res.headers, 'x-oss-request-id');
    return {
      body: streamedBody(res, s, opts.idleTimeoutMs ?? this.settings.timeoutMs, size, secrets()),
      etag,
      ...(size === undefined ? {} : { size }),
      ...(requestId === undefined ? {} : { requestId }),
    };
  }

  private retried(x: Exchange, mode: BodyMode): Promise<{ outcome: Outcome; secrets: () => string[] }> {
    const s = subjectOf(x);
    return withRetry(async (attempt) => {
      const result = await this.attempt(x, s, attempt, mode);
      if (result.outcome.kind === 'reply' && !is2xx(result.outcome.reply.status)) {
        throw errorFromReply(s, result.outcome.reply, result.secrets());
      }
      return result;
    }, this.retryOptions());
  }

  /** Backoff settings for one operation; the deadline is read now, at its start. */
  private retryOptions(): RetryOptions {
    const retry = this.settings.retry;
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
   * Signs and sends one HTTP request. The timer runs until the attempt settles: the last byte
   * of a read body, or the headers of a streamed 2xx (its body has an idle timeout per chunk,
   * see streamedBody). A request without an answer is an OssRequestError 'network-error' or 'timeout'.
   */
  private attempt(x: Exchange, s: Subject, attempt: number, mode: BodyMode): Promise<{ outcome: Outcome; secrets: () => string[] }> {
    const { options, send, secrets, body } = this.prepare(x);
    const { timeoutMs, onRequest } = this.settings;
    const report = (status: number | OssNoAnswer, requestId?: string): void =>
      onRequest?.({ method: s.method, op: s.op, status, attempt, ...(requestId === undefined ? {} : { requestId }) });
    const streamed = mode === 'streamed';
    const maxBytes = streamed ? MAX_ERROR_BODY_BYTES : MAX_RESPONSE_BYTES;

    return new Promise((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      /** True the first time only: later events of a settled attempt are ignored. */
      const settle = (): boolean => {
        if (settled) return false;
        settled = true;
        clearTimeout(timer);
        return true;
      };
      const settleWithError = (e: Error & { code?: string }): void => {
        if (!settle()) return;
        const timeout = streamed ? `no response headers after ${timeoutMs} ms` : `timed out after ${timeoutMs} ms`;
        const err = noAnswer(s, e, timedOut ? timeout : undefined, secrets());
        report(err.status);
        reject(err);
      };
      const r = send(options, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const requestId = header(res.headers, 'x-oss-request-id');
        if (streamed && is2xx(status)) {
          settle();
          report(status, requestId);
          resolve({ outcome: { kind: 'stream', res }, secrets });
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy(new Error(`${streamed ? 'error ' : ''}response larger than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', settleWithError);
        res.on('close', () => {
          if (!res.complete)
            settleWithError(Object.assign(new Error('connection closed before the response ended'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          if (!settle()) return;
          report(status, requestId);
          const reply: Reply = {
            status,
            headers: res.headers,
            body: Buffer.concat(chunks),
            ...(requestId === undefined ? {} : { requestId }),
          };
          resolve({ outcome: { kind: 'reply', reply }, secrets });
        });
      });
      this.sent++; // after send(): a request refused by node before dispatch (bad header) was never sent
      const timer = setTimeout(() => {
        timedOut = true;
        r.destroy(new Error('timeout'));
      }, timeoutMs);
      r.on('error', settleWithError);
      r.end(body);
    });
  }

  /** The signed request for one attempt (fresh credentials and date). */
  private prepare(x: Exchange): Prepared {
    const { operation } = x;
    if (x.key !== undefined && x.key === '') throw new Error(`OSS ${operation.op}: the object key is empty`);
    const creds = this.settings.credentials();
    // The wire form of each header, and the form signing sees: the same for ASCII, most values.
    const headers: Record<string, string> = {};
    const signing: Record<string, string> = {};
    for (const name in x.headers) {
      const value = x.headers[name] as string;
      if (ASCII_RE.test(value)) {
        headers[name] = value;
        signing[name] = value;
      } else {
        const wire = toWireValue(value);
        headers[name] = wire;
        signing[name] = signingHeaderValue(wire);
      }
    }
    let body: Buffer | undefined;
    if (x.body !== undefined) {
      body = typeof x.body === 'string' ? Buffer.from(x.body, 'utf8') : x.body;
      if (headers['content-type'] === undefined)
        signing['content-type'] = headers['content-type'] = typeof x.body === 'string' ? 'application/xml' : 'application/octet-stream';
      signing['content-md5'] = headers['content-md5'] = createHash('md5').update(body).digest('base64');
    }
    // Explicit length on PUT/POST (0 without a body) so node never falls back to chunked encoding.
    if (body !== undefined || operation.method === 'PUT' || operation.method === 'POST')
      signing['content-length'] = headers['content-length'] = String(body?.length ?? 0);

    const query = operation.subresource === undefined ? (x.query ?? {}) : { [operation.subresource]: '', ...x.query };
    const req: OssRequest = { method: operation.method, query, headers: signing };
    if (x.bucket !== undefined) req.bucket = x.bucket;
    if (x.key !== undefined) req.key = x.key;
    const { region, version, endpoint, agents } = this.settings;
    signOssRequest(req, creds, { version, region });
    for (const name of SIGNING_HEADERS) {
      const v = signing[name];
      if (v !== undefined) headers[name] = v;
    }
    const target = requestTarget(endpoint, region, x.bucket);
    headers['host'] = target.hostHeader;

    const authorization = headers['authorization'] ?? '';
    const secrets = (): string[] => [creds.accessKeySecret, creds.securityToken ?? '', authorization, signatureOf(authorization) ?? ''];
    const path = (x.key === undefined ? '/' : keyPath(x.key)) + queryString(query);
    const https = target.protocol === 'https:';
    return {
      options: {
        host: target.connectHost,
        port: target.port,
        method: operation.method,
        path,
        headers,
        agent: https ? agents.https : agents.http,
      },
      send: https ? httpsRequest : httpRequest,
      secrets,
      ...(body === undefined ? {} : { body }),
    };
  }
}

function subjectOf(x: Exchange): Subject {
  return {
    op: x.operation.op,
    method: x.operation.method,
    ...(x.bucket === undefined ? {} : { bucket: x.bucket }),
    ...(x.key === undefined ? {} : { key: x.key }),
  };
}
