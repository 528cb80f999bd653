/**
 * The object function's work (handleObjectEvent) end to end: real events as the local OSS
 * server emits them (and the official shapes from fixtures), the real OssHttpClient against
 * the local OSS server (signatures verified, SSE-KMS key ids checked against the local KMS
 * key ring), and the real KMS port for alias resolution. What the server saw is recorded
 * through its onRequest option; what our client sent through the client's onRequest.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsServer } from '../../local/kms/server';
import type { OssTriggerEvent } from '../../local/oss/events';
import { EventValidationError } from '../../shared/events';
import { functionSetup, type FcContext } from '../../shared/fc';
import { memoryLogger } from '../../shared/log';
import {
  handleObjectEvent,
  TransientFailure,
  type ObjectEventDeps,
  type ObjectEventSummary,
  type RecordResult,
} from '../../shared/object-encryption';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssRequestInfo } from '../../shared/oss/transport';
import { policyFromConfig, type Policy } from '../../shared/policy';
import { loadConfig } from '../../shared/validation/config';
import { TEST_AK, TEST_SECRET, type OssTestClient, type TestOss } from '../helpers/oss';
import { ossOperationOf, startTracedStack, TRACED_ACCOUNT, TRACED_REGION, type Trace, type TracedStack } from '../helpers/traced-stack';

const REGION = TRACED_REGION;
const ACCOUNT = TRACED_ACCOUNT;
const FIXTURES = join(__dirname, '..', 'fixtures', 'events');
const STS_TOKEN = 'CAIS-test-sts-token-that-must-never-be-logged-0001';

let stack: TracedStack;
let kms: KmsServer;
let t: TestOss;
let oss: OssHttpClient;
/** Every request the OSS server accepted (signature verified), in order. */
let seen: TracedStack['seen'];
let mainKeyId: string;
let defaultKeyId: string;

beforeAll(async () => {
  stack = await startTracedStack();
  ({ kms, t, oss, seen } = stack);
  mainKeyId = kms.keys.create({ description: 'another key' }).keyId;
  kms.keys.createAlias('alias/main', mainKeyId);
  defaultKeyId = (kms.keys.find('alias/oss-sse-default') ?? { keyId: '' }).keyId;
});
afterAll(async () => stack.close());

// ---- helpers ---------------------------------------------------------------------------------

const policy = (env: Record<string, string> = {}): Policy => policyFromConfig(loadConfig(env));

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(join(FIXTURES, name), 'utf8')) as unknown;
}

/** The fields of an OSS event record the tests rewrite (fixtures are JSON, typed loosely). */
interface EditableRecord {
  eventName: string;
  oss: { bucket: { name: string; arn: string }; object: { key?: string; eTag: string; size: number } };
}

/** A record of a fixture, pointed at an object of ours. */
function pointAt(record: EditableRecord, bucket: string, key: string, eventName?: string): EditableRecord {
  record.oss.bucket.name = bucket;
  record.oss.bucket.arn = `acs:oss:${REGION}:${ACCOUNT}:${bucket}`;
  record.oss.object.key = key;
  if (eventName !== undefined) record.eventName = eventName;
  return record;
}

/** An OSS trigger fixture with its one record pointed at bucket/key. */
function triggerFixture(name: string, bucket: string, key: string, eventName?: string): { events: EditableRecord[] } {
  const ev = fixture(name) as { events: EditableRecord[] };
  const first = ev.events[0];
  if (!first) throw new Error(`fixture ${name} has no record`);
  pointAt(first, bucket, key, eventName);
  return ev;
}

/** One event holding one template record per key. */
function multiRecord(bucket: string, keys: readonly string[], eventName = 'ObjectCreated:PutObject'): { events: EditableRecord[] } {
  return { events: keys.map((k) => triggerFixture('oss-trigger-template.json', bucket, k, eventName).events[0] as EditableRecord) };
}

/** Runs fn; the trace names each request the server accepted as "Op key". */
const traced = <T>(fn: () => Promise<T>) => stack.traced(fn, (r) => `${ossOperationOf(r)} ${r.key ?? ''}`);

/** Like traced, for a call expected to reject: returns the error. */
async function tracedError(fn: () => Promise<unknown>): Promise<Trace<unknown>> {
  return traced(async () => {
    try {
      await fn();
    } catch (e) {
      return e;
    }
    throw new Error('expected a rejection');
  });
}

/** The object events the local OSS server emits while fn runs. */
async function captureObjectEvents(fn: () => Promise<unknown>): Promise<OssTriggerEvent[]> {
  const got: OssTriggerEvent[] = [];
  const listener = (e: OssTriggerEvent) => got.push(structuredClone(e));
  t.server.events.on('object', listener);
  try {
    await fn();
  } finally {
    t.server.events.off('object', listener);
  }
  return got;
}

function onlyEvent(events: OssTriggerEvent[], eventName: string): OssTriggerEvent {
  const matching = events.filter((e) => e.events[0]?.eventName === eventName);
  expect(matching).toHaveLength(1);
  return matching[0] as OssTriggerEvent;
}

async function bucket(name: string): Promise<OssTestClient> {
  const c = t.client({ bucket: name });
  await c.putBucket(name);
  return c;
}

async function sseOf(c: OssTestClient, key: string): Promise<[string | undefined, string | undefined, string | undefined]> {
  const h = (await c.head(key)).res.headers as Record<string, string | undefined>;
  return [h['x-oss-server-side-encryption'], h['x-oss-server-side-encryption-key-id'], h['x-oss-server-side-data-encryption']];
}

function run(input: unknown, p: Policy, extra: Partial<ObjectEventDeps> = {}) {
  const log = extra.log ?? memoryLogger();
  return handleObjectEvent(input, { oss, policy: p, log, ...extra });
}

const actions = (s: ObjectEventSummary) => s.records.map((r) => [r.action, r.reason]);
const count = (list: readonly string[], item: string) => list.filter((x) => x === item).length;

type LogLine = Record<string, unknown> & { msg: string; level: string };
const parsed = (lines: readonly string[]): LogLine[] => lines.map((l) => JSON.parse(l) as LogLine);

// ---- event shapes ----------------------------------------------------------------------------

describe('every accepted event shape', () => {
  it('the OSS trigger event the local server emits for PutObject: the object is re-encrypted once, content kept', async () => {
    const c = await bucket('shape-put');
    const events = await captureObjectEvents(() => c.put('docs/put.txt', Buffer.from('put payload'), { mime: 'text/plain' }));
    const ev = onlyEvent(events, 'ObjectCreated:PutObject');
    expect(ev.events[0]?.oss.object.key).toBe('docs/put.txt');
    const { result, server } = await traced(() => run(ev, policy()));
    expect(result.records).toMatchObject([
      {
        index: 0,
        eventName: 'ObjectCreated:PutObject',
        bucket: 'shape-put',
        key: 'docs/put.txt',
        action: 'reencrypted',
        reason: 'unencrypted',
      },
    ]);
    expect(result.retryableFailures).toBe(0);
    // Verified from the copy's own answer: no HEAD after it (issue 13).
    expect(server).toEqual(['HeadObject docs/put.txt', 'GetObjectAcl docs/put.txt', 'CopyObject docs/put.txt']);
    expect((await sseOf(c, 'docs/put.txt'))[0]).toBe('AES256');
    const got = await c.get('docs/put.txt');
    expect(got.content.toString()).toBe('put payload');
    expect(got.res.headers['content-type']).toBe('text/plain');
  });

  it('the official template shape (fixture, bucket and key replaced)', async () => {
    const c = await bucket('shape-template');
    await c.put('image/a.jpg', Buffer.from('jpeg bytes'));
    const { result, server } = await traced(() =>
      run(triggerFixture('oss-trigger-template.json', 'shape-template', 'image/a.jpg'), policy({ SSE_ALGORITHM: 'SM4' })),
    );
    expect(actions(result)).toEqual([['reencrypted', 'unencrypted']]);
    expect(count(server, 'CopyObject image/a.jpg')).toBe(1);
    expect(await sseOf(c, 'image/a.jpg')).toEqual(['SM4', undefined, undefined]);
  });

  it('an EventBridge object CloudEvent (data is one record)', async () => {
    const c = await bucket('shape-eventbridge');
    await c.put('game_apk/123.jpg', Buffer.from('apk'));
    const ev = fixture('eventbridge-object-created.json') as { subject: string; data: EditableRecord };
    pointAt(ev.data, 'shape-eventbridge', 'game_apk/123.jpg');
    ev.subject = `acs:oss:${REGION}:${ACCOUNT}:shape-eventbridge/game_apk/123.jpg`;
    const { result, server } = await traced(() =>
      run(Buffer.from(JSON.stringify(ev)), policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: mainKeyId })),
    );
    expect(result.records).toMatchObject([{ bucket: 'shape-eventbridge', key: 'game_apk/123.jpg', action: 'reencrypted' }]);
    expect(count(server, 'CopyObject game_apk/123.jpg')).toBe(1);
    expect(await sseOf(c, 'game_apk/123.jpg')).toEqual(['KMS', mainKeyId, undefined]);
  });

  it('a PostObject event (fixture shape): re-encrypted, its content type kept', async () => {
    const c = await bucket('shape-post');
    await c.put('uploads/form photo.png', Buffer.from('png'), { mime: 'image/png' });
    const ev = triggerFixture('oss-trigger-post-object.json', 'shape-post', 'uploads/form photo.png');
    const { result, server } = await traced(() => run(ev, policy()));
    expect(result.records).toMatchObject([{ eventName: 'ObjectCreated:PostObject', key: 'uploads/form photo.png', action: 'reencrypted' }]);
    expect(count(server, 'CopyObject uploads/form photo.png')).toBe(1);
    const h = (await c.head('uploads/form photo.png')).res.headers as Record<string, string>;
    expect([h['x-oss-server-side-encryption'], h['content-type']]).toEqual(['AES256', 'image/png']);
  });

  it('CompleteMultipartUpload (ali-oss multipartUpload): only that event acts, with a multipart copy; our own copy’s events change nothing', async () => {
    const c = await bucket('shape-multipart');
    const body = Buffer.alloc(250 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31) & 0xff;
    const uploadEvents = await captureObjectEvents(() => c.multipartUpload('big/upload.bin', body, { partSize: 100 * 1024 }));
    expect(uploadEvents.map((e) => e.events[0]?.eventName)).toEqual([
      'ObjectCreated:InitiateMultipartUpload',
      'ObjectCreated:UploadPart',
      'ObjectCreated:UploadPart',
      'ObjectCreated:UploadPart',
      'ObjectCreated:CompleteMultipartUpload',
    ]);
    const p = policy({ MULTIPART_THRESHOLD_BYTES: '102400', PART_SIZE_BYTES: '102400' });
    let copyEvents: OssTriggerEvent[] = [];
    const { result, server } = await traced(async () => {
      const out: ObjectEventSummary[] = [];
      copyEvents = await captureObjectEvents(async () => {
        for (const ev of uploadEvents) out.push(await run(ev, p));
      });
      return out;
    });
    // Initiate and UploadPart are never acted on.
    expect(result.slice(0, 4).map((s) => s.records[0]?.action)).toEqual(['ignored', 'ignored', 'ignored', 'ignored']);
    expect(result[4]?.records[0]?.action).toBe('reencrypted');
    expect(result[4]?.records[0]).toMatchObject({
      eventName: 'ObjectCreated:CompleteMultipartUpload',
      bytes: body.length,
      reason: 'unencrypted',
    });
    const k = 'big/upload.bin';
    expect(server).toEqual([
      `HeadObject ${k}`,
      `GetObjectAcl ${k}`,
      `InitiateMultipartUpload ${k}`,
      `UploadPartCopy ${k}`,
      `UploadPartCopy ${k}`,
      `UploadPartCopy ${k}`,
      `HeadObject ${k}`,
      `CompleteMultipartUpload ${k}`, // its answer carries SSE and CRC-64: no HEAD after it (issue 13)
    ]);
    expect((await sseOf(c, k))[0]).toBe('AES256');
    expect(Buffer.compare((await c.get(k)).content as Buffer, body)).toBe(0);

    // The copy fired its own events (including a CompleteMultipartUpload): delivered back,
    // they must not copy the object again.
    expect(copyEvents.map((e) => e.events[0]?.eventName)).toContain('ObjectCreated:CompleteMultipartUpload');
    const again = await traced(async () => {
      const out: Array<RecordResult | undefined> = [];
      for (const ev of copyEvents) out.push((await run(ev, p)).records[0]);
      return out;
    });
    expect(again.result.every((r) => r?.action === 'ignored' || r?.action === 'invalid' || r?.action === 'compliant')).toBe(true);
    expect(again.result.filter((r) => r?.action === 'compliant')).toHaveLength(1);
    expect(again.server).toEqual([`HeadObject ${k}`]);
  });

  it('AppendObject: skipped as appendable, nothing written', async () => {
    const c = await bucket('shape-append');
    const events = await captureObjectEvents(() => c.append('logs/app.log', Buffer.from('line 1\n')));
    const ev = onlyEvent(events, 'ObjectCreated:AppendObject');
    const { result, server } = await traced(() => run(ev, policy()));
    expect(result.records).toMatchObject([{ eventName: 'ObjectCreated:AppendObject', action: 'skipped', reason: 'appendable', bytes: 0 }]);
    expect(server).toEqual(['HeadObject logs/app.log']);
    expect((await sseOf(c, 'logs/app.log'))[0]).toBeUndefined();
    // The fixture shape of the same event decides the same.
    const fromFixture = await run(triggerFixture('oss-trigger-append-object.json', 'shape-append', 'logs/app.log'), policy());
    expect(actions(fromFixture)).toEqual([['skipped', 'appendable']]);
  });
});

// ---- ignored events ----------------------------------------------------------------------------

describe('events the function does not act on', () => {
  it('CopyObject and other event names are ignored without a single request', async () => {
    const c = await bucket('ignored-names');
    await c.put('src.txt', Buffer.from('s'));
    const captured = await captureObjectEvents(async () => {
      await c.copy('copied.txt', 'src.txt');
      await c.putSymlink('link', 'src.txt');
      await c.delete('src.txt');
    });
    const names = captured.map((e) => e.events[0]?.eventName);
    expect(names).toEqual(['ObjectCreated:CopyObject', 'ObjectCreated:PutSymlink', 'ObjectRemoved:DeleteObject']);
    const inputs: unknown[] = [
      ...captured,
      triggerFixture('oss-trigger-copy-object.json', 'ignored-names', 'copied.txt'),
      multiRecord('ignored-names', ['copied.txt'], 'ObjectModified:UpdateObjectMeta'),
      multiRecord('ignored-names', ['copied.txt'], 'ObjectCreated:UploadPartCopy'),
      multiRecord('ignored-names', ['copied.txt'], 'ObjectRemoved:DeleteMarkerCreated'),
    ];
    const { result, server, client } = await traced(async () => {
      const out: ObjectEventSummary[] = [];
      for (const input of inputs) out.push(await run(input, policy()));
      return out;
    });
    const acted = result.flatMap((s) => s.records.map((r) => r.action));
    // None is acted on, the DeleteObject one (eTag "") included.
    expect(acted).toEqual(Array<string>(inputs.length).fill('ignored'));
    expect(result[0]?.records[0]).toMatchObject({ action: 'ignored', eventName: 'ObjectCreated:CopyObject', key: 'copied.txt' });
    expect(client).toEqual([]);
    expect(server).toEqual([]);
    expect((await sseOf(c, 'copied.txt'))[0]).toBeUndefined();
  });

  it('events outside OBJECT_EVENTS are ignored; the ones listed are handled', async () => {
    const c = await bucket('ignored-config');
    for (const k of ['put.txt', 'post.txt', 'mpu.txt', 'app.txt']) await c.put(k, Buffer.from(k));
    const p = policy({ OBJECT_EVENTS: 'PutObject' });
    const ev = {
      events: [
        multiRecord('ignored-config', ['post.txt'], 'ObjectCreated:PostObject').events[0],
        multiRecord('ignored-config', ['mpu.txt'], 'ObjectCreated:CompleteMultipartUpload').events[0],
        multiRecord('ignored-config', ['app.txt'], 'ObjectCreated:AppendObject').events[0],
        multiRecord('ignored-config', ['put.txt'], 'ObjectCreated:PutObject').events[0],
      ],
    };
    const { result, server } = await traced(() => run(ev, p));
    expect(result.records.map((r) => [r.key, r.action])).toEqual([
      ['post.txt', 'ignored'],
      ['mpu.txt', 'ignored'],
      ['app.txt', 'ignored'],
      ['put.txt', 'reencrypted'],
    ]);
    expect(result.records[0]?.reason).toContain('ObjectCreated:PostObject');
    expect(server.every((s) => s.endsWith(' put.txt'))).toBe(true);
    expect((await sseOf(c, 'post.txt'))[0]).toBeUndefined();
  });
});

// ---- at-least-once delivery ---------------------------------------------------------------------

describe('duplicate delivery', () => {
  it('the same event three times: one copy, then compliant (one HEAD each)', async () => {
    const c = await bucket('dup-same');
    const events = await captureObjectEvents(() => c.put('k.txt', Buffer.from('once')));
    const ev = onlyEvent(events, 'ObjectCreated:PutObject');
    const { result, server } = await traced(async () => [await run(ev, policy()), await run(ev, policy()), await run(ev, policy())]);
    expect(result.map((s) => s.records[0]?.action)).toEqual(['reencrypted', 'compliant', 'compliant']);
    expect(count(server, 'CopyObject k.txt')).toBe(1);
    expect(server.slice(3)).toEqual(['HeadObject k.txt', 'HeadObject k.txt']); // HEAD, ACL, copy; then one HEAD each
    expect((await c.get('k.txt')).content.toString()).toBe('once');
  });

  it('shuffled duplicates across several objects in one event and across deliveries: each object copied exactly once', async () => {
    const c = await bucket('dup-shuffled');
    const keys = ['a.txt', 'b/b.txt', 'c c.txt', 'd+d.txt'];
    for (const k of keys) await c.put(k, Buffer.from(`body of ${k}`));
    // Each key three times, in a fixed scrambled order.
    const order = [2, 0, 3, 2, 1, 0, 3, 1, 2, 0, 1, 3];
    const ev = multiRecord(
      'dup-shuffled',
      order.map((i) => keys[i] as string),
    );
    const { result, server } = await traced(async () => [await run(ev, policy()), await run(ev, policy())]);
    const [first, second] = result;
    const firstSeen = new Set<string>();
    const expected = order.map((i) => {
      const k = keys[i] as string;
      const a = firstSeen.has(k) ? 'compliant' : 'reencrypted';
      firstSeen.add(k);
      return [k, a];
    });
    expect(first?.records.map((r) => [r.key, r.action])).toEqual(expected);
    expect(second?.records.every((r) => r.action === 'compliant')).toBe(true);
    for (const k of keys) {
      expect([k, count(server, `CopyObject ${k}`)]).toEqual([k, 1]);
      expect((await sseOf(c, k))[0]).toBe('AES256');
      expect((await c.get(k)).content.toString()).toBe(`body of ${k}`);
    }
  });
});

// ---- bad input ---------------------------------------------------------------------------------

describe('bad records and malformed envelopes', () => {
  it('a multi-record event with bad records: the good ones are handled, each bad one is invalid with the field named, and never requested', async () => {
    const c = await bucket('bad-records');
    await c.put('good/one.txt', Buffer.from('1'));
    await c.put('good/four.txt', Buffer.from('4'));
    const ev = multiRecord('bad-records', ['good/one.txt', '/leading-slash', 'missing-key', 'good/four.txt']);
    const missing = ev.events[2] as EditableRecord;
    delete missing.oss.object.key;
    const log = memoryLogger();
    const { result, server } = await traced(() => run(ev, policy(), { log }));
    expect(result.records.map((r) => [r.index, r.action])).toEqual([
      [0, 'reencrypted'],
      [1, 'invalid'],
      [2, 'invalid'],
      [3, 'reencrypted'],
    ]);
    expect(result.records[1]?.reason).toContain('events[1].oss.object.key');
    expect(result.records[1]?.reason).toContain("starts with '/'");
    expect(result.records[2]?.reason).toContain('events[2].oss.object.key');
    expect(server.every((s) => s.endsWith(' good/one.txt') || s.endsWith(' good/four.txt'))).toBe(true);
    expect(count(server, 'CopyObject good/one.txt') + count(server, 'CopyObject good/four.txt')).toBe(2);
    const invalidLines = parsed(log.lines).filter(
      (l) => l.level === 'error' && typeof l.reason === 'string' && l.reason.includes('oss.object.key'),
    );
    expect(invalidLines).toHaveLength(2);
    expect(result.retryableFailures).toBe(0);
  });

  it('the fixture with a bad key, a negative size and good records: only the good records are requested', async () => {
    const c = await bucket('bad-fixture');
    await c.put('good/one.txt', Buffer.from('1'));
    await c.put('good/four.txt', Buffer.from('4'));
    const ev = fixture('malformed-multi-record-some-bad.json') as { events: EditableRecord[] };
    for (const r of ev.events) pointAt(r, 'bad-fixture', r.oss.object.key ?? '');
    const { result, server } = await traced(() => run(ev, policy()));
    expect(result.records.map((r) => r.action)).toEqual(['reencrypted', 'invalid', 'invalid', 'reencrypted']);
    expect(result.records[2]?.reason).toContain('events[2].oss.object.size');
    expect(new Set(server.map((s) => s.split(' ').slice(1).join(' ')))).toEqual(new Set(['good/one.txt', 'good/four.txt']));
  });

  it('a malformed envelope throws EventValidationError naming the field, before any request', async () => {
    const cases: Array<[string, unknown, string]> = [
      ['events empty', fixture('malformed-events-empty.json'), 'events'],
      ['events not an array', fixture('malformed-events-not-array.json'), 'events'],
      ['CloudEvent without id, wrong specversion', fixture('malformed-cloudevent-envelope.json'), 'specversion'],
      ['CloudEvent without id', { ...(fixture('eventbridge-object-created.json') as object), id: undefined }, 'id'],
      ['not JSON (Buffer)', readFileSync(join(FIXTURES, 'malformed-not-json.txt')), 'not valid JSON'],
      ['not JSON (string)', '{"events": [', 'not valid JSON'],
      ['a number', 42, 'event'],
      ['an unrelated object', { hello: 'world' }, 'hello'],
    ];
    for (const [what, input, field] of cases) {
      const { result: err, client, server } = await tracedError(() => run(input, policy()));
      expect([what, err instanceof EventValidationError]).toEqual([what, true]);
      expect([what, (err as Error).message]).toEqual([what, expect.stringContaining(field)]);
      expect([what, client.length, server.length]).toEqual([what, 0, 0]);
    }
  });
});

// ---- object keys -------------------------------------------------------------------------------

describe('object keys', () => {
  it('keys with spaces, +, % and unicode are used exactly as given', async () => {
    const c = await bucket('keys-raw');
    const keys = [
      'dir with space/a b.txt',
      'plus+sign.txt',
      '100%.txt',
      'literal%20percent.txt',
      'ünïcødé/日本語 🎉.txt',
      'mix +%&=?#.bin',
    ];
    for (const k of keys) await c.put(k, Buffer.from(`data ${k}`));
    const { result, server } = await traced(() => run(multiRecord('keys-raw', keys), policy()));
    expect(result.records.map((r) => [r.key, r.action])).toEqual(keys.map((k) => [k, 'reencrypted']));
    for (const k of keys) {
      // Found at once under its own name: no decoded retry.
      expect([k, server.filter((s) => s.endsWith(` ${k}`))]).toEqual([k, [`HeadObject ${k}`, `GetObjectAcl ${k}`, `CopyObject ${k}`]]);
      expect((await sseOf(c, k))[0]).toBe('AES256');
      expect((await c.get(k)).content.toString()).toBe(`data ${k}`);
    }
    expect(server).toHaveLength(keys.length * 3);
  });

  it('a URL-encoded key is retried once decoded and re-encrypted; one that exists in neither form is not-found', async () => {
    const c = await bucket('keys-encoded');
    const cases: Array<[string, string]> = [
      ['enc/a%20b.txt', 'enc/a b.txt'],
      ['enc/c+d.txt', 'enc/c d.txt'],
      ['enc/%C3%BC%2B.txt', 'enc/ü+.txt'],
    ];
    for (const [, real] of cases) await c.put(real, Buffer.from(real));
    const keys = [...cases.map(([inEvent]) => inEvent), 'enc/nowhere%20to%20be%20found'];
    const { result, server } = await traced(() => run(multiRecord('keys-encoded', keys), policy()));
    expect(result.records.map((r) => [r.key, r.action, r.reason])).toEqual([
      ...cases.map(([, real]) => [real, 'reencrypted', 'unencrypted']),
      ['enc/nowhere%20to%20be%20found', 'skipped', 'not-found'],
    ]);
    for (const [inEvent, real] of cases) {
      expect(server.filter((s) => s.endsWith(` ${inEvent}`) || s.endsWith(` ${real}`))).toEqual([
        `HeadObject ${inEvent}`,
        `HeadObject ${real}`,
        `GetObjectAcl ${real}`,
        `CopyObject ${real}`,
      ]);
      expect((await sseOf(c, real))[0]).toBe('AES256');
    }
    expect(server.slice(-2)).toEqual(['HeadObject enc/nowhere%20to%20be%20found', 'HeadObject enc/nowhere to be found']);
  });

  it('an encoded key whose decoded form is not a valid key is not-found, not a failure', async () => {
    await bucket('keys-decoded-invalid');
    const { result, server } = await traced(() => run(multiRecord('keys-decoded-invalid', ['%2Fnot-here.txt']), policy()));
    expect(result.records).toMatchObject([{ key: '%2Fnot-here.txt', action: 'skipped', reason: 'not-found' }]);
    expect(server[0]).toBe('HeadObject %2Fnot-here.txt');
  });
});

describe('events whose ETag is empty', () => {
  // BUG (shared/events/oss-trigger.ts OssEventObjectSchema.eTag + shared/object-encryption.ts):
  // every record is fully validated before its event name is looked at, and eTag must be
  // non-empty. The local OSS server (our model of OSS) emits eTag "" for
  // ObjectCreated:InitiateMultipartUpload and ObjectRemoved:* events, so those records come
  // back 'invalid' with an error log line instead of 'ignored'. The handler never uses the
  // event's eTag (it HEADs the object), so an empty one should not make a record invalid.
  it('InitiateMultipartUpload and DeleteObject events as the local server emits them are ignored, not invalid', async () => {
    const c = await bucket('empty-etag');
    await c.put('k.txt', Buffer.from('k'));
    const events = await captureObjectEvents(async () => {
      const { uploadId } = await c.initMultipartUpload('mpu.bin');
      await c.abortMultipartUpload('mpu.bin', uploadId);
      await c.delete('k.txt');
    });
    expect(events.map((e) => e.events[0]?.eventName)).toEqual(['ObjectCreated:InitiateMultipartUpload', 'ObjectRemoved:DeleteObject']);
    const log = memoryLogger();
    const { result, client } = await traced(async () => [await run(events[0], policy(), { log }), await run(events[1], policy(), { log })]);
    expect(client).toEqual([]);
    expect(result.map((s) => s.records[0]?.action)).toEqual(['ignored', 'ignored']);
    expect(parsed(log.lines).filter((l) => l.level === 'error')).toEqual([]);
  });
});

// ---- failures ----------------------------------------------------------------------------------

interface Throttler {
  url: string;
  /** "METHOD path" of every request received. */
  hits: string[];
  close(): Promise<void>;
}

/** A loopback server that answers 503 TotalQpsLimitExceeded to everything, as throttled OSS does. */
async function startThrottler(): Promise<Throttler> {
  const hits: string[] = [];
  let n = 0;
  const server: Server = createServer((req, res) => {
    n++;
    hits.push(`${req.method} ${req.url}`);
    const requestId = `5E0000000000000000${String(n).padStart(6, '0')}`;
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>TotalQpsLimitExceeded</Code>' +
      `<Message>Please reduce your request rate.</Message><RequestId>${requestId}</RequestId>` +
      '<HostId>oss-cn-hangzhou.aliyuncs.com</HostId><EC>0002-00000503</EC></Error>';
    req.resume();
    const isHead = req.method === 'HEAD';
    res.writeHead(503, {
      'content-type': 'application/xml',
      'x-oss-request-id': requestId,
      'x-oss-err': Buffer.from(xml).toString('base64'),
      'content-length': isHead ? 0 : Buffer.byteLength(xml),
    });
    res.end(isHead ? undefined : xml);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe('failures', () => {
  it('throttling that outlasts the retry deadline: every record is handled, then TransientFailure lists them all', async () => {
    const throttler = await startThrottler();
    const attempts: OssRequestInfo[] = [];
    const throttled = new OssHttpClient({
      endpoint: throttler.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
      retry: { deadline: () => Date.now() + 300, baseMs: 5, capMs: 20 },
      onRequest: (i) => attempts.push(i),
    });
    try {
      const ev = multiRecord('throttled', ['a.txt', '/bad', 'b.txt', 'c.txt']);
      let caught: unknown;
      try {
        await handleObjectEvent(ev, { oss: throttled, policy: policy(), log: memoryLogger() });
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(TransientFailure);
      const summary = (caught as TransientFailure).summary;
      expect(summary.retryableFailures).toBe(3);
      expect(summary.records.map((r) => [r.index, r.key, r.action])).toEqual([
        [0, 'a.txt', 'failed'],
        [1, undefined, 'invalid'],
        [2, 'b.txt', 'failed'],
        [3, 'c.txt', 'failed'],
      ]);
      for (const r of summary.records.filter((x) => x.action === 'failed')) {
        expect(r).toMatchObject({
          retryable: true,
          reason: 'TotalQpsLimitExceeded',
          error: { code: 'TotalQpsLimitExceeded', status: 503 },
        });
        expect('error' in r ? r.error?.requestId : undefined).toMatch(/^5E0{16}\d{6}$/);
      }
      // Every failing record was tried, and retried, before giving up.
      for (const k of ['a.txt', 'b.txt', 'c.txt']) {
        expect(throttler.hits.filter((h) => h === `HEAD /${k}`).length).toBeGreaterThanOrEqual(2);
      }
      expect(throttler.hits.every((h) => h.startsWith('HEAD '))).toBe(true);
      expect(attempts.every((a) => a.status === 503)).toBe(true);
    } finally {
      throttled.destroy();
      await throttler.close();
    }
  });

  it('a permanent failure (wrong secret → 403) is reported with code and request id, not thrown, not retried', async () => {
    const c = await bucket('denied');
    await c.put('k.txt', Buffer.from('x'));
    const attempts: OssRequestInfo[] = [];
    const denied = new OssHttpClient({
      endpoint: t.server.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: 'definitely-the-wrong-secret-0001' }),
      onRequest: (i) => attempts.push(i),
    });
    try {
      const { result, server } = await traced(() =>
        handleObjectEvent(multiRecord('denied', ['k.txt', 'other.txt']), { oss: denied, policy: policy(), log: memoryLogger() }),
      );
      expect(result.retryableFailures).toBe(0);
      for (const r of result.records) {
        expect(r).toMatchObject({ action: 'failed', retryable: false, error: { code: 'SignatureDoesNotMatch', status: 403 } });
      }
      const ids = result.records.map((r) => ('error' in r ? r.error?.requestId : undefined));
      expect(ids.every((id) => typeof id === 'string' && /^[0-9A-F]{24}$/.test(id))).toBe(true);
      // The request id reported is the one OSS answered with.
      expect(attempts.map((a) => a.requestId)).toEqual(ids);
      expect(attempts.map((a) => [a.op, a.status, a.attempt])).toEqual([
        ['HeadObject', 403, 0],
        ['HeadObject', 403, 0],
      ]);
      expect(server).toEqual([]);
      expect((await sseOf(c, 'k.txt'))[0]).toBeUndefined();
    } finally {
      denied.destroy();
    }
  });

  it('a disabled KMS key named by id: OSS refuses the copy (409 KeyDisabled), reported as a permanent failure, object unchanged', async () => {
    const c = await bucket('kms-disabled-id');
    await c.put('k.txt', Buffer.from('keep me'));
    const offKey = kms.keys.create({}).keyId;
    kms.keys.disableKey(offKey);
    const { result, server } = await traced(() =>
      run(multiRecord('kms-disabled-id', ['k.txt']), policy({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: offKey })),
    );
    expect(result.records).toMatchObject([{ action: 'failed', retryable: false, error: { code: 'KeyDisabled', status: 409 } }]);
    expect(count(server, 'CopyObject k.txt')).toBe(1);
    expect(await sseOf(c, 'k.txt')).toEqual([undefined, undefined, undefined]);
    expect((await c.get('k.txt')).content.toString()).toBe('keep me');
  });
});

// ---- logging and credentials --------------------------------------------------------------------

describe('logging', () => {
  it('every decision logs exactly one JSON line with bucket, key, action, reason, bytes, durationMs and requestIds', async () => {
    const c = await bucket('logged');
    await c.put('plain.txt', Buffer.from('12345'));
    await c.put('enc.txt', Buffer.from('x'), { headers: { 'x-oss-server-side-encryption': 'SM4' } });
    await c.append('app.log', Buffer.from('a'));
    const log = memoryLogger();
    const summary = await run(multiRecord('logged', ['plain.txt', 'enc.txt', 'app.log', 'gone.txt']), policy(), { log });
    expect(actions(summary)).toEqual([
      ['reencrypted', 'unencrypted'],
      ['compliant', undefined],
      ['skipped', 'appendable'],
      ['skipped', 'not-found'],
    ]);
    const lines = parsed(log.lines);
    const decisions = lines.filter((l) => l.msg === 'object decision');
    expect(decisions).toHaveLength(4);
    for (const r of summary.records) {
      if (!('requestIds' in r)) throw new Error('expected an object outcome');
      const mine = decisions.filter((l) => l.key === r.key);
      expect(mine).toHaveLength(1);
      const line = mine[0] as LogLine;
      expect(line).toMatchObject({
        level: 'info',
        bucket: 'logged',
        key: r.key,
        action: r.action,
        bytes: r.bytes,
        requestIds: r.requestIds,
      });
      expect(line.reason).toBe(r.reason);
      expect(typeof line.durationMs).toBe('number');
      expect(typeof line.time).toBe('string');
      // A 404 HEAD yields no ObjectHead, so not-found decisions carry no request id.
      if (r.reason !== 'not-found') expect(r.requestIds.length).toBeGreaterThan(0);
    }
    expect(decisions[0]).toMatchObject({ bytes: 5 });
    expect((decisions[0] as LogLine).requestIds).toHaveLength(2); // HEAD, copy (verified from its answer)
  });

  it('no credential (secret, STS token) appears in log lines or the summary, on success or on a 403 that echoes what was signed', async () => {
    const c = await bucket('no-secrets');
    await c.put('k.txt', Buffer.from('x'));
    await c.put('other.txt', Buffer.from('y'));
    const wrongSecret = 'Wrong-Secret-That-Must-Never-Be-Logged-0002';
    const withToken = (secret: string) =>
      new OssHttpClient({
        endpoint: t.server.url,
        region: REGION,
        credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: secret, securityToken: STS_TOKEN }),
      });
    const good = withToken(TEST_SECRET);
    const bad = withToken(wrongSecret);
    // Deliberately no scrubber: nothing the handler logs or returns may carry a credential.
    const log = memoryLogger();
    try {
      const ok = await handleObjectEvent(multiRecord('no-secrets', ['k.txt']), { oss: good, policy: policy(), log });
      const denied = await handleObjectEvent(multiRecord('no-secrets', ['other.txt']), { oss: bad, policy: policy(), log });
      expect(ok.records[0]?.action).toBe('reencrypted');
      expect(denied.records[0]).toMatchObject({ action: 'failed', error: { code: 'SignatureDoesNotMatch' } });
      // The server quoted what it signed (with the token in it); the message kept the rest.
      expect('error' in (denied.records[0] ?? {}) ? JSON.stringify(denied.records[0]) : '').toContain('[redacted]');
      const everything = [...log.lines, JSON.stringify(ok), JSON.stringify(denied)].join('\n');
      for (const secret of [TEST_SECRET, wrongSecret, STS_TOKEN]) expect(everything).not.toContain(secret);
    } finally {
      good.destroy();
      bad.destroy();
    }
  });
});

// ---- KMS ---------------------------------------------------------------------------------------

const fcContext = (): FcContext => ({
  requestId: 'test-invocation',
  credentials: { accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET },
  region: REGION,
  accountId: ACCOUNT,
  function: { name: 'object-encryption', timeout: 60 },
});

/** The function's own wiring: resolveKmsKey from functionSetup against the local KMS. */
function kmsDeps(env: Record<string, string>): { policy: Policy; resolveKeyId: () => Promise<string | undefined>; calls: () => number } {
  const setup = functionSetup({ ...env, KMS_ENDPOINT: kms.url, OSS_ENDPOINT: t.server.url });
  const deps = setup.deps(fcContext());
  deps.oss.destroy(); // never used: the tests' client records its requests
  let n = 0;
  return {
    policy: setup.policy,
    resolveKeyId: () => {
      n++;
      return deps.resolveKmsKey();
    },
    calls: () => n,
  };
}

describe('exact compliance with a KMS alias', () => {
  it('objects under another key are re-keyed to the alias’s key id; objects already under it are compliant', async () => {
    const c = await bucket('kms-exact');
    await c.put('under-main.txt', Buffer.from('m'), {
      headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': 'alias/main' },
    });
    await c.put('under-default.txt', Buffer.from('d'), {
      headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': defaultKeyId },
    });
    await c.put('under-default-implicit.txt', Buffer.from('i'), { headers: { 'x-oss-server-side-encryption': 'KMS' } });
    await c.put('aes.txt', Buffer.from('a'), { headers: { 'x-oss-server-side-encryption': 'AES256' } });
    await c.put('plain.txt', Buffer.from('p'));
    const keys = ['under-main.txt', 'under-default.txt', 'under-default-implicit.txt', 'aes.txt', 'plain.txt'];
    const d = kmsDeps({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-default', COMPLIANCE: 'exact' });
    const { result } = await traced(() => run(multiRecord('kms-exact', keys), d.policy, { resolveKeyId: d.resolveKeyId }));
    expect(result.records.map((r) => [r.key, r.action, r.reason])).toEqual([
      ['under-main.txt', 'reencrypted', 'wrong-key'],
      ['under-default.txt', 'compliant', undefined],
      ['under-default-implicit.txt', 'compliant', undefined],
      ['aes.txt', 'reencrypted', 'wrong-algorithm'],
      ['plain.txt', 'reencrypted', 'unencrypted'],
    ]);
    expect(d.calls()).toBe(1); // resolved once per event
    const copies = seen.filter((r) => r.bucket === 'kms-exact' && ossOperationOf(r) === 'CopyObject');
    expect(copies).toHaveLength(3);
    for (const copy of copies) {
      // The key id OSS reports, not the alias, is what the copy asks for.
      expect(copy.headers['x-oss-server-side-encryption-key-id']).toBe(defaultKeyId);
    }
    for (const k of keys) expect([k, ...(await sseOf(c, k))]).toEqual([k, 'KMS', defaultKeyId, undefined]);
    // A second delivery finds everything compliant.
    const again = await traced(() => run(multiRecord('kms-exact', keys), d.policy, { resolveKeyId: d.resolveKeyId }));
    expect(again.result.records.every((r) => r.action === 'compliant')).toBe(true);
    expect(again.server.every((s) => s.startsWith('HeadObject '))).toBe(true);
  });

  it('KMS+SM4 under an alias: re-encrypted with the SM4 key id and SM4 data encryption', async () => {
    const c = await bucket('kms-sm4');
    await c.put('k.txt', Buffer.from('k'), {
      headers: { 'x-oss-server-side-encryption': 'KMS', 'x-oss-server-side-encryption-key-id': mainKeyId },
    });
    const sm4Id = (kms.keys.find('alias/oss-sse-sm4') ?? { keyId: '' }).keyId;
    const d = kmsDeps({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-sm4', KMS_DATA_ENCRYPTION: 'SM4', COMPLIANCE: 'exact' });
    const summary = await run(multiRecord('kms-sm4', ['k.txt']), d.policy, { resolveKeyId: d.resolveKeyId });
    expect(actions(summary)).toEqual([['reencrypted', 'wrong-key']]);
    expect(await sseOf(c, 'k.txt')).toEqual(['KMS', sm4Id, 'SM4']);
  });

  it('no KMS call when no record needs a decision (ignored or invalid records only)', async () => {
    const d = kmsDeps({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-default', COMPLIANCE: 'exact' });
    const ev = multiRecord('kms-lazy', ['copied.txt', '/bad'], 'ObjectCreated:CopyObject');
    (ev.events[1] as EditableRecord).eventName = 'ObjectCreated:PutObject';
    const { result, client } = await traced(() => run(ev, d.policy, { resolveKeyId: d.resolveKeyId }));
    expect(result.records.map((r) => r.action)).toEqual(['ignored', 'invalid']);
    expect(d.calls()).toBe(0);
    expect(client).toEqual([]);
  });

  // BUG (shared/object-encryption.ts, handleObjectEvent): `resolvedKeyId = await
  // deps.resolveKeyId()` is not guarded, so a configured key that cannot be used (Disabled,
  // missing: KmsKeyError from functionSetup's resolveKmsKey) escapes handleObjectEvent as a
  // plain error. FC then retries a permanent failure, and the records are neither handled
  // nor reported — against README ("Permanent errors (AccessDenied, a KMS key that cannot be
  // used, …) are reported, not retried") and the module's own "every record is handled".
  it('a configured KMS alias whose key is Disabled is reported per record, not thrown, and no copy is sent', async () => {
    const c = await bucket('kms-alias-disabled');
    await c.put('k.txt', Buffer.from('x'));
    const off = kms.keys.create({}).keyId;
    kms.keys.createAlias('alias/switched-off', off);
    kms.keys.disableKey(off);
    const d = kmsDeps({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/switched-off', COMPLIANCE: 'exact' });
    const { result, server } = await traced(async () => {
      try {
        return await run(multiRecord('kms-alias-disabled', ['k.txt', 'k.txt']), d.policy, { resolveKeyId: d.resolveKeyId });
      } catch (e) {
        // Whatever escapes, no copy may have been sent with an unusable key.
        expect(seen.some((r) => r.bucket === 'kms-alias-disabled' && ossOperationOf(r) === 'CopyObject')).toBe(false);
        throw e;
      }
    });
    expect(server.some((s) => s.startsWith('CopyObject'))).toBe(false);
    expect(result.records).toHaveLength(2);
    for (const r of result.records) {
      expect(r.action).toBe('failed');
      expect(JSON.stringify(r)).toContain('alias/switched-off');
      expect(JSON.stringify(r)).toContain('Disabled');
    }
    expect(result.retryableFailures).toBe(0);
  });
});
