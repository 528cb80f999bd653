/** OssRequestErrors from what an exchange ended with, with every secret removed from the message. */
import type { IncomingHttpHeaders } from 'node:http';
import { OssRequestError } from './port';
import { child, parseXml, text, type XmlNode } from './xml';

/** A complete answer: status, headers and the whole (small) body. */
export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  requestId?: string;
}

/** What a failure message names: the operation and its bucket / object. */
export interface Subject {
  op: string;
  method: string;
  bucket?: string;
  key?: string;
}

/** One header as a string (repeated headers joined with ','). */
export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Removes every secret from a text that may echo what was signed (OSS does on 403). */
export function redact(s: string, secrets: readonly string[]): string {
  let out = s;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  return out;
}

/** The signature part of an Authorization value (V1 `OSS ak:sig`, V4 `…,Signature=hex`). */
export function signatureOf(authorization: string): string | undefined {
  const v4 = /Signature=([0-9a-fA-F]+)/.exec(authorization);
  if (v4) return v4[1];
  const colon = authorization.lastIndexOf(':');
  return colon >= 0 ? authorization.slice(colon + 1) : undefined;
}

export function where(s: Subject): string {
  if (s.bucket === undefined) return 'the service';
  return s.key === undefined ? `bucket ${s.bucket}` : `oss://${s.bucket}/${s.key}`;
}

/** A request without a (complete) answer: a ClientTimeout when `timeout` says how, else a NetworkError. */
export function noAnswer(
  s: Subject,
  e: Error & { code?: string },
  timeout: string | undefined,
  secrets: readonly string[],
): OssRequestError {
  if (timeout !== undefined) return new OssRequestError('timeout', 'ClientTimeout', `OSS ${s.op} on ${where(s)}: ${timeout}`);
  return new OssRequestError(
    'network-error',
    'NetworkError',
    redact(`OSS ${s.op} on ${where(s)} failed: ${e.code ?? 'network error'}: ${e.message}`, secrets),
  );
}

/**
 * An OssRequestError from a non-2xx reply: the XML error document of the body, or for HEAD
 * (no body) the base64 document OSS puts in x-oss-err.
 */
export function errorFromReply(s: Subject, reply: Reply, secrets: readonly string[]): OssRequestError {
  let xml = '';
  if (s.method === 'HEAD') {
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
    `OSS ${s.op} on ${where(s)} failed: ${reply.status} ${code}: ${serverMessage}` + (requestId ? ` (request id ${requestId})` : ''),
    secrets,
  );
  return new OssRequestError(reply.status, code, message, requestId, ec);
}
