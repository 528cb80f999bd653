/**
 * HTTP/1.1 request framing and keep-alive of the local servers, over real loopback sockets:
 * Content-Length + Transfer-Encoding: chunked is framed by the chunked coding (RFC 9112 §6.3,
 * as real OSS does), every other conflicting or malformed framing is still refused with a 400,
 * and an idle keep-alive socket is never closed under a client that may reuse it.
 * See docs/oss-behaviour.md#http-framing-and-keep-alive.
 */
import AgentKeepAlive from 'agentkeepalive';
import { globalAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFcServer, type FcServer } from '../../local/fc/server';
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { SERVER_KEEP_ALIVE_TIMEOUT_MS } from '../../local/listen';
import { RequestFramer } from '../../local/request-framing';
import { crc64 } from '../../shared/crc64';
import { signOssRequest, type OssRequest } from '../../shared/signing';
import { startTestOss, TEST_AK, TEST_SECRET, type TestOss } from '../helpers/oss';

// httpx is what @alicloud/fc2 sends its requests with (its module-level keep-alive agent);
// it ships no types, so the one function used is typed here.
import httpxModule from 'httpx';
const httpx = httpxModule as unknown as { request(url: string, opts: { method: string; timeout: number }): Promise<IncomingMessage> };

const BUCKET = 'framing';
let t: TestOss;
const log: string[] = [];

beforeAll(async () => {
  t = await startTestOss({ log: (line) => log.push(line) });
  await t.client({ bucket: BUCKET }).putBucket(BUCKET);
});
afterAll(async () => t.close());

let kms: KmsServer;
let fc: FcServer;
beforeAll(async () => {
  kms = await startKmsServer({ region: 'cn-hangzhou', credentials: { [TEST_AK]: TEST_SECRET } });
  fc = await startFcServer({
    region: 'cn-hangzhou',
    accountId: '1234567890123456',
    credentials: { [TEST_AK]: TEST_SECRET },
    runtime: { has: () => false, invoke: async () => undefined },
  });
});
afterAll(async () => {
  await kms?.close();
  await fc?.close();
});


/** A PUT of `key`, signed (V1) as a client would, as the head lines to write by hand. */
function signedPutHead(key: string): string {
  const req: OssRequest = { method: 'PUT', bucket: BUCKET, key, query: {}, headers: { 'content-type': 'application/octet-stream' } };
  signOssRequest(req, { accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }, { version: 'v1' });
  const lines = [`PUT /${BUCKET}/${key} HTTP/1.1`, `Host: 127.0.0.1:${t.server.port}`];
  for (const [name, value] of Object.entries(req.headers)) lines.push(`${name}: ${String(value)}`);
  return lines.join('\r\n') + '\r\n';
}

/** Writes `payload` on a fresh connection and collects everything until the server closes it. */
function exchange(port: number, payload: string): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let closedByServer = true;
    // If the server keeps the connection open, stop waiting and say so.
    const giveUp = setTimeout(() => {
      closedByServer = false;
      socket.destroy();
    }, 2_000);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ text, closedByServer });
    });
    socket.write(payload, 'latin1');
  });
}

const statusLines = (text: string): string[] => text.match(/^HTTP\/1\.1 \d{3}/gm) ?? [];
const logFor = (key: string): string[] => log.filter((l) => l.includes(`/${BUCKET}/${key} `) || l.includes('smuggled'));

describe('Content-Length together with Transfer-Encoding: chunked', () => {
  it.each([
    { name: 'V1', opts: {} },
    { name: 'V4', opts: { v4: true } },
  ])('ali-oss put(name, stream, { headers: Content-Length }) stores exactly the bytes ($name)', async ({ opts }) => {
    const seen: Record<string, string | string[] | undefined>[] = [];
    const observed = await startTestOss({ onRequest: (req) => seen.push(req.headers) });
    try {
      const c = observed.client({ bucket: BUCKET, ...opts });
      await c.putBucket(BUCKET);
      const body = Buffer.alloc(300_000, 0);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
      const parts = [body.subarray(0, 70_000), body.subarray(70_000, 200_001), body.subarray(200_001)];
      const put = await c.put('stream.bin', Readable.from(parts), { headers: { 'Content-Length': String(body.length) } });
      expect(put.res.status).toBe(200);
      expect(put.res.headers['x-oss-hash-crc64ecma']).toBe(crc64(body));
      // What the handler saw: chunked framing, no Content-Length, and the connection closing after it (RFC 9112 §6.1).
      const putHeaders = seen.find((h) => h['transfer-encoding'] !== undefined);
      expect(putHeaders?.['transfer-encoding']).toBe('chunked');
      expect(putHeaders?.['content-length']).toBeUndefined();
      expect(String(putHeaders?.['connection'])).toMatch(/close/);
      expect(put.res.headers.connection).toBe('close');
      const head = await c.head('stream.bin');
      expect(head.res.headers['content-length']).toBe(String(body.length));
      expect(head.res.headers['x-oss-hash-crc64ecma']).toBe(crc64(body));
      expect((await c.get('stream.bin')).content.equals(body)).toBe(true);
    } finally {
      await observed.close();
    }
  });

  it('a raw request with both is framed by the chunked coding, whatever the Content-Length says', async () => {
    const payload = signedPutHead('raw-both.txt') + 'Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n';
    const { text, closedByServer } = await exchange(t.server.port, payload);
    expect(statusLines(text)).toEqual(['HTTP/1.1 200']);
    expect(text).toMatch(/\r\nConnection: close\r\n/i);
    expect(closedByServer).toBe(true);
    expect((await t.client({ bucket: BUCKET }).get('raw-both.txt')).content.toString()).toBe('hello');
  });

  it('the header order does not matter, nor the case of the field names', async () => {
    const payload = signedPutHead('raw-order.txt') + 'transfer-encoding: chunked\r\ncontent-length: 100\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    const { text } = await exchange(t.server.port, payload);
    expect(statusLines(text)).toEqual(['HTTP/1.1 200']);
    expect((await t.client({ bucket: BUCKET }).get('raw-order.txt')).content.toString()).toBe('hello');
  });

  it('smuggling: bytes the chunked framing puts after the body never become a second request', async () => {
    // By Content-Length (4) the body is "5\r\nh" and "ello..." the next request; by chunked the body
    // is "hello" and a GET follows. The server must see one request, the chunked PUT, and close.
    const smuggled = `GET /${BUCKET}/smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const payload = signedPutHead('smuggle.txt') + 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + smuggled;
    const before = log.length;
    const { text, closedByServer } = await exchange(t.server.port, payload);
    expect(statusLines(text)).toEqual(['HTTP/1.1 200']);
    expect(closedByServer).toBe(true);
    const handled = log.slice(before);
    expect(handled).toHaveLength(1);
    expect(handled[0]).toMatch(new RegExp(`^PUT \\S*/${BUCKET}/smuggle\\.txt 200 `));
    expect((await t.client({ bucket: BUCKET }).get('smuggle.txt')).content.toString()).toBe('hello');
  });
});

describe('conflicting or malformed framing is still refused', () => {
  const cases = [
    { name: 'two different Content-Length values', framing: 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!' },
    { name: 'two equal Content-Length fields', framing: 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello' },
    { name: 'a Content-Length list', framing: 'Content-Length: 5, 5\r\n\r\nhello' },
    { name: 'Transfer-Encoding gzip alone', framing: 'Transfer-Encoding: gzip\r\n\r\nhello' },
    { name: 'Transfer-Encoding chunked, gzip', framing: 'Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'chunked applied twice', framing: 'Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'a malformed chunk size', framing: 'Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n' },
    { name: 'a chunk longer than its size', framing: 'Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + TE where TE is not chunked alone', framing: 'Content-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + TE with a malformed Content-Length', framing: 'Content-Length: 5x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + TE with two Content-Length fields', framing: 'Content-Length: 5\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + an obfuscated TE (space before the colon)', framing: 'Content-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + TE split over two fields', framing: 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
    { name: 'CL + TE folded onto a continuation line', framing: 'Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' },
  ];

  it.each(cases)('$name: 400 with an OSS error document, the connection closed, nothing stored', async ({ name, framing }) => {
    const key = `refused-${name.replace(/[^a-z0-9]+/gi, '-')}`;
    const { text, closedByServer } = await exchange(t.server.port, signedPutHead(key) + framing + `GET /${BUCKET}/smuggled HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusLines(text)).toEqual(['HTTP/1.1 400']);
    expect(text).toMatch(/<Code>InvalidRequest<\/Code>/);
    expect(text).toMatch(/\r\nx-oss-request-id: [0-9A-F]{24}\r\n/i);
    expect(closedByServer).toBe(true);
    // Not handled as a success nor logged as a server failure; nothing after it was handled; nothing stored.
    expect(logFor(key).filter((l) => / [25]\d\d /.test(l))).toEqual([]);
    expect(log.some((l) => l.includes('smuggled'))).toBe(false);
    await expect(t.client({ bucket: BUCKET }).head(key)).rejects.toMatchObject({ status: 404 });
  });

  it('the server keeps serving after every refusal', async () => {
    await t.client({ bucket: BUCKET }).put('after-refusals.txt', Buffer.from('still here'));
    expect((await t.client({ bucket: BUCKET }).get('after-refusals.txt')).content.toString()).toBe('still here');
  });
});

describe('the KMS and FC servers share the framing', () => {
  it.each(['kms', 'fc'] as const)('%s: CL + chunked reaches the handler framed by chunked; conflicting lengths are a 400', async (which) => {
    const port = { kms: () => kms.port, fc: () => fc.port }[which]();
    const both = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n3\r\na=b\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n');
    // One response, then the connection closes.
    expect(statusLines(both.text)).toHaveLength(1);
    // The service's own answer (its request-id header: the handler saw the request), not the parser's.
    expect(both.text).toMatch(/\r\nx-(acs|fc)-request-id: /i);
    expect(both.closedByServer).toBe(true);
    const twoLengths = await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
    expect(statusLines(twoLengths.text)).toEqual(['HTTP/1.1 400']);
    expect(twoLengths.text).not.toMatch(/request-id/i);
    expect(twoLengths.closedByServer).toBe(true);
  });
});

describe('RequestFramer (the bytes Node parser is given)', () => {
  const run = (input: string, pieceSize: number): string => {
    const framer = new RequestFramer(16 * 1024);
    const out: Buffer[] = [];
    for (let i = 0; i < input.length; i += pieceSize) out.push(...framer.feed(Buffer.from(input.slice(i, i + pieceSize), 'latin1')));
    out.push(...framer.end());
    return Buffer.concat(out).toString('latin1');
  };
  const keepAlive =
    'PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\n\r\n' +
    'Transfer-Encoding: chunked\r\nContent-Length: 1\r\n' + // body bytes that look like a head
    'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nbody\r\n0\r\nTrailer: t\r\n\r\n' +
    '\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n';

  it.each([1, 3, 7, 1024])('leaves every other message byte for byte as it came (pieces of %i bytes)', (size) => {
    expect(run(keepAlive, size)).toBe(keepAlive);
  });

  it.each([1, 5, 1024])('rewrites only the CL + chunked head, then passes nothing more (pieces of %i bytes)', (size) => {
    const input = 'PUT /a HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n';
    expect(run(input, size)).toBe('PUT /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  });

  it('does not touch a CL + TE head inside a body, nor after a head it does not understand', () => {
    const unknown = 'PUT /a HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\n\r\nPUT /b HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n';
    expect(run(unknown, 4)).toBe(unknown);
    const http10 = 'PUT /a HTTP/1.0\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n';
    expect(run(http10, 4)).toBe(http10);
  });
});

describe('keep-alive: an idle socket a client may reuse is never closed by the server', () => {
  it("the servers' idle timeout is at least every common client's own (from the libraries' defaults)", () => {
    // ali-oss sends through an agentkeepalive agent built with the defaults (lib/client.js).
    const aliOssAgent = new AgentKeepAlive() as unknown as { freeSocketKeepAliveTimeout: number };
    // @alicloud/fc2 sends through httpx, whose agent is `new http.Agent({ keepAlive: true })`: no idle timeout.
    const clientIdleMs = {
      'ali-oss (agentkeepalive)': aliOssAgent.freeSocketKeepAliveTimeout,
      "Node 20's global agent": (globalAgent as unknown as { options: { timeout?: number } }).options.timeout ?? Infinity,
      '@alicloud/fc2 (httpx)': Infinity,
    };
    expect(clientIdleMs['ali-oss (agentkeepalive)']).toBe(15_000);
    expect(clientIdleMs["Node 20's global agent"]).toBe(5_000);
    // 0 = Node never times an idle keep-alive socket out.
    const serverIdleMs = SERVER_KEEP_ALIVE_TIMEOUT_MS === 0 ? Infinity : SERVER_KEEP_ALIVE_TIMEOUT_MS;
    for (const [client, ms] of Object.entries(clientIdleMs)) expect(serverIdleMs, client).toBeGreaterThanOrEqual(ms);
  });

  /** GET `url` with `agent`, drained; whether the agent reused a kept-alive socket for it. */
  function get(url: string, agent: typeof globalAgent): Promise<{ status: number; reused: boolean; keepAliveHint: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, keepAliveHint: res.headers['keep-alive'] === undefined ? undefined : String(res.headers['keep-alive']) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each(['oss', 'kms', 'fc'] as const)("Node's global agent reuses one socket to the %s server after an idle gap, without a reset", async (which) => {
    const url = { oss: () => t.server.url, kms: () => kms.url, fc: () => fc.url }[which]() + '/';
    const first = await get(url, globalAgent);
    await sleep(300);
    const second = await get(url, globalAgent);
    expect(first.status).toBeGreaterThan(0);
    expect(second).toMatchObject({ status: first.status, reused: true });
    // No `Keep-Alive: timeout=` hint: the server sets no idle deadline a client would have to beat.
    expect(first.keepAliveHint).toBeUndefined();
  });

  it('ali-oss with its keep-alive agent sends every request over one socket across idle gaps', async () => {
    const agent = new AgentKeepAlive({ maxSockets: 1 });
    const c = t.client({ bucket: BUCKET });
    c.agent = agent;
    for (let i = 0; i < 3; i++) {
      await c.put(`keep-alive-${i}.txt`, Buffer.from(`n${i}`));
      await sleep(200);
    }
    expect((await c.get('keep-alive-2.txt')).content.toString()).toBe('n2');
    const stats = agent as unknown as { createSocketCount: number; errorSocketCount: number };
    expect(stats.createSocketCount).toBe(1);
    expect(stats.errorSocketCount).toBe(0);
    agent.destroy();
  });

  it('the fc2 client transport (httpx) reuses its socket to the FC server after an idle gap', async () => {
    const first = await httpx.request(`${fc.url}/2016-08-15/services`, { method: 'GET', timeout: 5_000 });
    first.resume();
    await new Promise((r) => first.on('end', r));
    await sleep(300);
    const second = await httpx.request(`${fc.url}/2016-08-15/services`, { method: 'GET', timeout: 5_000 });
    second.resume();
    expect(second.statusCode).toBe(first.statusCode);
    expect((second as unknown as { req: { reusedSocket: boolean } }).req.reusedSocket).toBe(true);
  });
});
