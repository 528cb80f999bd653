/**
 * The bucket function's work (handleBucketEvent / applyBucketPolicy) end to end: events as
 * the local OSS server emits them and the ActionTrail fixtures, the real OssHttpClient
 * against the local OSS server (signatures verified, SSE-KMS keys checked against the local
 * KMS key ring) and the function's own KMS key check (functionSetup → createKmsPort →
 * DescribeKey on the local KMS server). What the server saw is recorded via onRequest.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KmsServer } from '../../local/kms/server';
import type { CloudEvent } from '../../local/oss/events';
import {
  handleBucketEvent,
  TransientBucketFailure,
  type BucketDeps,
  type BucketEventResult,
  type BucketOutcome,
} from '../../shared/bucket-encryption';
import { EventValidationError } from '../../shared/events';
import { functionSetup, type FcContext } from '../../shared/fc';
import { memoryLogger, type Logger } from '../../shared/log';
import { OssHttpClient } from '../../shared/oss/http-client';
import type { OssRequestInfo } from '../../shared/oss/transport';
import type { OssRequest } from '../../shared/signing';
import { startTestOss, TEST_AK, TEST_SECRET, type OssTestClient, type TestOss } from '../helpers/oss';
import { startTracedStack, TRACED_ACCOUNT, TRACED_REGION, type TracedStack } from '../helpers/traced-stack';

const REGION = TRACED_REGION;
const ACCOUNT = TRACED_ACCOUNT;
const FIXTURES = join(__dirname, '..', 'fixtures', 'events');

let stack: TracedStack;
let kms: KmsServer;
let t: TestOss;
let oss: OssHttpClient;
let mainKeyId: string;
let sm4KeyId: string;

beforeAll(async () => {
  stack = await startTracedStack();
  ({ kms, t, oss } = stack);
  mainKeyId = kms.keys.create({ description: 'bucket rules' }).keyId;
  kms.keys.createAlias('alias/main', mainKeyId);
  sm4KeyId = (kms.keys.find('alias/oss-sse-sm4') ?? { keyId: '' }).keyId;
});
afterAll(async () => stack.close());

// ---- helpers ---------------------------------------------------------------------------------

const fcContext = (): FcContext => ({
  requestId: 'test-invocation',
  credentials: { accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET },
  region: REGION,
  accountId: ACCOUNT,
  function: { name: 'bucket-encryption', timeout: 60 },
});

interface TestDeps extends BucketDeps {
  log: Logger & { lines: string[] };
  /** How many times the function asked for the KMS key check. */
  kmsChecks(): number;
}

/** The function's own wiring (functionSetup: config, policy, KMS key check) with the tests' OSS client. */
function depsFor(env: Record<string, string> = {}, client: OssHttpClient = oss): TestDeps {
  const setup = functionSetup({ ...env, KMS_ENDPOINT: kms.url, OSS_ENDPOINT: t.server.url });
  const fc = setup.deps(fcContext());
  fc.oss.destroy(); // never used: the tests' client records what it sends
  let checks = 0;
  return {
    oss: client,
    policy: setup.policy,
    log: memoryLogger(),
    resolveKmsKey: () => {
      checks++;
      return fc.resolveKmsKey();
    },
    kmsChecks: () => checks,
  };
}

function fixtureText(name: string): string {
  return readFileSync(join(FIXTURES, name), 'utf8');
}

/** A fixture with every occurrence of its bucket name replaced by ours. */
function fixtureFor(name: string, fixtureBucket: string, bucket: string): unknown {
  return JSON.parse(fixtureText(name).split(fixtureBucket).join(bucket)) as unknown;
}

/** The OSS API a request the server saw was (bucket-level and the object calls used here). */
function opOf(r: OssRequest): string {
  const has = (k: string) => r.query[k] !== undefined;
  if (r.bucket === undefined) return 'ListBuckets';
  if (r.key === undefined) {
    if (has('encryption'))
      return { GET: 'GetBucketEncryption', PUT: 'PutBucketEncryption', DELETE: 'DeleteBucketEncryption' }[r.method] ?? r.method;
    if (r.method === 'GET') return 'ListObjects';
    return `${r.method} bucket`;
  }
  if (r.method === 'HEAD') return 'HeadObject';
  if (r.method === 'GET') return has('acl') ? 'GetObjectAcl' : 'GetObject';
  if (r.method === 'PUT') return r.headers['x-oss-copy-source'] !== undefined ? 'CopyObject' : 'PutObject';
  return r.method;
}

/** Runs fn; the trace names each request the server accepted as "Op bucket[/key]". */
const traced = <T>(fn: () => Promise<T>) =>
  stack.traced(fn, (r) => `${opOf(r)} ${r.bucket ?? ''}${r.key === undefined ? '' : `/${r.key}`}`);

/** The bucket events the local OSS server emits while fn runs. */
async function captureBucketEvents(fn: () => Promise<unknown>): Promise<Array<CloudEvent<Record<string, unknown>>>> {
  const got: Array<CloudEvent<Record<string, unknown>>> = [];
  const listener = (e: CloudEvent<Record<string, unknown>>) => got.push(structuredClone(e));
  t.server.events.on('bucket', listener);
  try {
    await fn();
  } finally {
    t.server.events.off('bucket', listener);
  }
  return got;
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0] as T;
}

async function newBucket(name: string, server: TestOss = t): Promise<OssTestClient> {
  const c = server.client({ bucket: name });
  await c.putBucket(name);
  return c;
}

/** The rule as ali-oss reads it back, or 'none'. */
async function ruleOf(c: OssTestClient, bucket: string): Promise<Record<string, string> | 'none'> {
  try {
    return ((await c.getBucketEncryption(bucket)) as { encryption: Record<string, string> }).encryption;
  } catch (e) {
    if ((e as { code?: string }).code === 'NoSuchServerSideEncryptionRule') return 'none';
    throw e;
  }
}

async function sseOf(c: OssTestClient, key: string): Promise<[string | undefined, string | undefined, string | undefined]> {
  const h = (await c.head(key)).res.headers as Record<string, string | undefined>;
  return [h['x-oss-server-side-encryption'], h['x-oss-server-side-encryption-key-id'], h['x-oss-server-side-data-encryption']];
}

const one = (r: BucketEventResult): BucketOutcome => only(r.buckets);
const ops = (server: readonly string[], op: string) => server.filter((s) => s.startsWith(`${op} `));

// ---- a new bucket ----------------------------------------------------------------------------

describe('a new bucket without a rule gets the policy’s rule, read back equal', () => {
  const cases: Array<{ name: string; env: Record<string, string>; expected: () => Record<string, string>; objectSse: () => unknown[] }> = [
    { name: 'new-aes256', env: {}, expected: () => ({ SSEAlgorithm: 'AES256' }), objectSse: () => ['AES256', undefined, undefined] },
    {
      name: 'new-sm4',
      env: { SSE_ALGORITHM: 'SM4' },
      expected: () => ({ SSEAlgorithm: 'SM4' }),
      objectSse: () => ['SM4', undefined, undefined],
    },
    {
      name: 'new-kms-alias',
      env: { SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main' },
      expected: () => ({ SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId }),
      objectSse: () => ['KMS', mainKeyId, undefined],
    },
    {
      name: 'new-kms-sm4',
      env: { SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse-sm4', KMS_DATA_ENCRYPTION: 'SM4' },
      expected: () => ({ SSEAlgorithm: 'KMS', KMSMasterKeyID: sm4KeyId, KMSDataEncryption: 'SM4' }),
      objectSse: () => ['KMS', sm4KeyId, 'SM4'],
    },
  ];
  for (const { name, env, expected, objectSse } of cases) {
    it(`${name}: ${JSON.stringify(env)}`, async () => {
      const c = await newBucket(name);
      const deps = depsFor(env);
      const { result, server } = await traced(() => handleBucketEvent({ bucket: name }, deps));
      const want = expected();
      expect(one(result)).toMatchObject({
        bucket: name,
        action: 'set',
        reason: 'missing',
        before: null,
        after: {
          algorithm: want.SSEAlgorithm,
          ...(want.KMSMasterKeyID ? { keyId: want.KMSMasterKeyID } : {}),
          ...(want.KMSDataEncryption ? { dataEncryption: want.KMSDataEncryption } : {}),
        },
        objects: { checked: 0, reencrypted: 0, failed: 0, retryable: 0, truncated: false },
      });
      expect(one(result).error).toBeUndefined();
      expect(await ruleOf(c, name)).toEqual(want);
      expect(server).toEqual([
        `GetBucketEncryption ${name}`,
        `PutBucketEncryption ${name}`,
        `GetBucketEncryption ${name}`,
        `ListObjects ${name}`,
      ]);
      expect(deps.kmsChecks()).toBe(env.SSE_ALGORITHM === 'KMS' ? 1 : 0);
      // The rule does its job: a plain upload is now encrypted as the policy asks.
      await c.put('after-rule.txt', Buffer.from('x'));
      expect(await sseOf(c, 'after-rule.txt')).toEqual(objectSse());
      // One decision line for the bucket.
      const lines = deps.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'bucket decision');
      expect(lines).toMatchObject([{ level: 'info', bucket: name, action: 'set', reason: 'missing' }]);
    });
  }
});

// ---- accepted shapes ---------------------------------------------------------------------------

describe('every accepted event shape', () => {
  it('oss:BucketCreated:PutBucket as the local server emits it', async () => {
    const events = await captureBucketEvents(() => newBucket('shape-created'));
    const ev = only(events);
    expect(ev.type).toBe('oss:BucketCreated:PutBucket');
    const { result, server } = await traced(() => handleBucketEvent(Buffer.from(JSON.stringify(ev)), depsFor()));
    expect(one(result)).toMatchObject({ bucket: 'shape-created', action: 'set', reason: 'missing' });
    expect(ops(server, 'PutBucketEncryption')).toEqual(['PutBucketEncryption shape-created']);
    expect(await ruleOf(t.client(), 'shape-created')).toEqual({ SSEAlgorithm: 'AES256' });
  });

  it('ActionTrail PutBucket, ApiCall and ConsoleOperation', async () => {
    await newBucket('shape-trail-api');
    await newBucket('shape-trail-console');
    const deps = depsFor({ SSE_ALGORITHM: 'SM4' });
    const api = await handleBucketEvent(fixtureFor('actiontrail-putbucket-apicall.json', 'trail-bucket-a', 'shape-trail-api'), deps);
    const console = await handleBucketEvent(
      fixtureFor('actiontrail-putbucket-consoleoperation.json', 'console-bucket', 'shape-trail-console'),
      deps,
    );
    expect(one(api)).toMatchObject({ bucket: 'shape-trail-api', action: 'set', after: { algorithm: 'SM4' } });
    expect(one(console)).toMatchObject({ bucket: 'shape-trail-console', action: 'set', after: { algorithm: 'SM4' } });
    expect(await ruleOf(t.client(), 'shape-trail-api')).toEqual({ SSEAlgorithm: 'SM4' });
    expect(await ruleOf(t.client(), 'shape-trail-console')).toEqual({ SSEAlgorithm: 'SM4' });
  });

  it('DeleteBucketEncryption drift (as the local server emits it, and the console fixture): the rule is restored', async () => {
    const name = 'drift-deleted';
    const c = await newBucket(name);
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main' });
    expect(one(await handleBucketEvent({ bucket: name }, deps)).action).toBe('set');
    const events = await captureBucketEvents(() => c.deleteBucketEncryption(name));
    const ev = only(events);
    expect([ev.type, ev.data.eventName]).toEqual(['acs.oss:ActionTrail:ApiCall', 'DeleteBucketEncryption']);
    expect(await ruleOf(c, name)).toBe('none');
    const { result, server } = await traced(() => handleBucketEvent(ev, deps));
    expect(one(result)).toMatchObject({ action: 'set', reason: 'missing', before: null, after: { algorithm: 'KMS', keyId: mainKeyId } });
    expect(ops(server, 'PutBucketEncryption')).toHaveLength(1);
    expect(await ruleOf(c, name)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId });
    // The drift is logged as a warning.
    expect(deps.log.lines.some((l) => l.includes('"level":"warn"') && l.includes('DeleteBucketEncryption'))).toBe(true);

    await c.deleteBucketEncryption(name);
    const fromFixture = await handleBucketEvent(
      fixtureFor('actiontrail-deletebucketencryption-consoleoperation.json', 'console-bucket', name),
      deps,
    );
    expect(one(fromFixture)).toMatchObject({ action: 'set', reason: 'missing' });
    expect(await ruleOf(c, name)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId });
  });

  it('PutBucketEncryption drift weakening the rule to AES256 under COMPLIANCE=exact: replaced', async () => {
    const name = 'drift-weakened-exact';
    const c = await newBucket(name);
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main', COMPLIANCE: 'exact' });
    await handleBucketEvent({ bucket: name }, deps);
    const ev = only(await captureBucketEvents(() => c.putBucketEncryption(name, { SSEAlgorithm: 'AES256' })));
    expect(ev.data.eventName).toBe('PutBucketEncryption');
    const { result, server } = await traced(() => handleBucketEvent(ev, deps));
    expect(one(result)).toMatchObject({
      action: 'set',
      reason: 'replace',
      before: { algorithm: 'AES256' },
      after: { algorithm: 'KMS', keyId: mainKeyId },
    });
    expect(ops(server, 'PutBucketEncryption')).toHaveLength(1);
    expect(await ruleOf(c, name)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId });
  });

  it('under COMPLIANCE=any a different owner rule is reported, unchanged; OVERRIDE_BUCKET_RULE=true replaces it', async () => {
    const name = 'drift-any';
    const c = await newBucket(name);
    await c.put('inside.txt', Buffer.from('x'));
    const ev = only(await captureBucketEvents(() => c.putBucketEncryption(name, { SSEAlgorithm: 'AES256' })));
    const report = depsFor({ SSE_ALGORITHM: 'SM4' });
    const reported = await traced(() => handleBucketEvent(ev, report));
    expect(one(reported.result)).toMatchObject({ action: 'reported', before: { algorithm: 'AES256' } });
    expect(one(reported.result).reason).toContain('AES256');
    expect(one(reported.result).reason).toContain('OVERRIDE_BUCKET_RULE');
    expect(reported.server).toEqual([`GetBucketEncryption ${name}`]); // nothing written, objects untouched
    expect(await ruleOf(c, name)).toEqual({ SSEAlgorithm: 'AES256' });
    expect((await sseOf(c, 'inside.txt'))[0]).toBeUndefined();

    const override = depsFor({ SSE_ALGORITHM: 'SM4', OVERRIDE_BUCKET_RULE: 'true' });
    const replaced = await traced(() => handleBucketEvent(ev, override));
    expect(one(replaced.result)).toMatchObject({ action: 'set', reason: 'replace', after: { algorithm: 'SM4' } });
    expect(ops(replaced.server, 'PutBucketEncryption')).toHaveLength(1);
    expect(await ruleOf(c, name)).toEqual({ SSEAlgorithm: 'SM4' });
  });

  it('a rule that already satisfies the policy is left alone, whatever shape the event has', async () => {
    const name = 'already-compliant';
    const c = await newBucket(name);
    await c.putBucketEncryption(name, { SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId });
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main', COMPLIANCE: 'exact' });
    const inputs: unknown[] = [
      { bucket: name },
      fixtureFor('manual-bucket.json', 'my-bucket', name),
      fixtureFor('actiontrail-putbucket-apicall.json', 'trail-bucket-a', name),
      fixtureFor('bucket-created-real.json', 'prod-logs-2025', name),
      fixtureFor(
        'bucket-created-subject-only.json',
        (JSON.parse(fixtureText('bucket-created-subject-only.json')) as { subject: string }).subject.split(':').pop() ?? '',
        name,
      ),
    ];
    const { result, server } = await traced(async () => {
      const out: BucketOutcome[] = [];
      for (const input of inputs) out.push(one(await handleBucketEvent(input, deps)));
      return out;
    });
    expect(result.map((r) => [r.bucket, r.action])).toEqual(inputs.map(() => [name, 'compliant']));
    expect(ops(server, 'PutBucketEncryption')).toEqual([]);
  });
});

describe('{ "allBuckets": true }', () => {
  it('applies the policy to every selected bucket, with one result each; excluded buckets are not touched', async () => {
    const other = await startTestOss({ region: REGION, accountId: ACCOUNT, onRequest: (req) => otherSeen.push(req) });
    const otherSeen: OssRequest[] = [];
    const client = new OssHttpClient({
      endpoint: other.server.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
    });
    try {
      for (const b of ['team-a', 'team-b', 'team-c-tmp', 'other-x', 'team-done']) await newBucket(b, other);
      const admin = other.client();
      await admin.putBucketEncryption('team-done', { SSEAlgorithm: 'SM4' });
      await other.client({ bucket: 'team-a' }).put('early.txt', Buffer.from('raced in'));
      const deps = depsFor({ SSE_ALGORITHM: 'SM4', BUCKET_INCLUDE: 'team-*', BUCKET_EXCLUDE: '*-tmp' }, client);
      const from = otherSeen.length;
      const result = await handleBucketEvent(JSON.parse(fixtureText('manual-all-buckets.json')) as unknown, deps);
      const byName = Object.fromEntries(result.buckets.map((b) => [b.bucket, b]));
      expect(result.buckets).toHaveLength(5);
      expect(byName['team-a']).toMatchObject({
        action: 'set',
        objects: { checked: 1, reencrypted: 1, failed: 0, retryable: 0, truncated: false },
      });
      expect(byName['team-b']).toMatchObject({ action: 'set' });
      expect(byName['team-done']).toMatchObject({ action: 'compliant', before: { algorithm: 'SM4' } });
      expect(byName['team-c-tmp']).toMatchObject({ action: 'excluded' });
      expect(byName['other-x']).toMatchObject({ action: 'excluded' });
      const touched = new Set(otherSeen.slice(from).map((r) => r.bucket ?? '(service)'));
      expect([...touched].sort()).toEqual(['(service)', 'team-a', 'team-b', 'team-done']);
      for (const b of ['team-c-tmp', 'other-x']) expect([b, await ruleOf(admin, b)]).toEqual([b, 'none']);
      for (const b of ['team-a', 'team-b', 'team-done']) expect([b, await ruleOf(admin, b)]).toEqual([b, { SSEAlgorithm: 'SM4' }]);
      expect((await sseOf(other.client({ bucket: 'team-a' }), 'early.txt'))[0]).toBe('SM4');
    } finally {
      client.destroy();
      await other.close();
    }
  });
});

// ---- idempotence -------------------------------------------------------------------------------

describe('idempotence', () => {
  it('a second event for the same bucket, and the event our own PutBucketEncryption caused, send no PutBucketEncryption', async () => {
    const name = 'idempotent';
    await newBucket(name);
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main', COMPLIANCE: 'exact' });
    let own: Array<CloudEvent<Record<string, unknown>>> = [];
    const first = await traced(async () => {
      let r: BucketEventResult | undefined;
      own = await captureBucketEvents(async () => {
        r = await handleBucketEvent({ bucket: name }, deps);
      });
      return r as BucketEventResult;
    });
    expect(one(first.result).action).toBe('set');
    expect(ops(first.server, 'PutBucketEncryption')).toHaveLength(1);
    const echo = only(own);
    expect(echo.data.eventName).toBe('PutBucketEncryption');

    const again = await traced(async () => [
      one(await handleBucketEvent(echo, deps)),
      one(await handleBucketEvent({ bucket: name }, deps)),
      one(await handleBucketEvent({ bucket: name }, deps)),
    ]);
    expect(again.result.map((r) => r.action)).toEqual(['compliant', 'compliant', 'compliant']);
    expect(again.result[0]).toMatchObject({
      before: { algorithm: 'KMS', keyId: mainKeyId },
      after: { algorithm: 'KMS', keyId: mainKeyId },
    });
    expect(ops(again.server, 'PutBucketEncryption')).toEqual([]);
    expect(again.client.filter((c) => c.op === 'PutBucketEncryption')).toEqual([]);
    // A compliant bucket costs one GetBucketEncryption: no listing of its objects.
    expect(again.client.map((c) => c.op)).toEqual(['GetBucketEncryption', 'GetBucketEncryption', 'GetBucketEncryption']);
    expect(await ruleOf(t.client(), name)).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: mainKeyId });
  });
});

// ---- unusable KMS keys -------------------------------------------------------------------------

describe('a KMS key that cannot be used', () => {
  const cases: Array<{ what: string; key: () => string; extra?: Record<string, string>; says: () => string[] }> = [
    {
      what: 'created, then disabled',
      key: () => {
        const id = kms.keys.create({ description: 'will be disabled' }).keyId;
        kms.keys.disableKey(id);
        return id;
      },
      says: () => ['Disabled'],
    },
    { what: 'an alias that does not exist', key: () => 'alias/does-not-exist', says: () => ['does not exist'] },
    {
      what: 'pending deletion',
      key: () => {
        const id = kms.keys.create({}).keyId;
        kms.keys.setState(id, 'PendingDeletion');
        return id;
      },
      says: () => ['PendingDeletion'],
    },
    {
      what: 'not an SM4 key with KMS_DATA_ENCRYPTION=SM4',
      key: () => 'alias/main',
      extra: { KMS_DATA_ENCRYPTION: 'SM4' },
      says: () => ['Aliyun_SM4'],
    },
  ];
  let n = 0;
  for (const { what, key, extra, says } of cases) {
    it(`${what}: a clear failure naming the key and the reason; the rule is left exactly as it was`, async () => {
      n++;
      const keyRef = key();
      const empty = `kms-bad-${n}-empty`;
      const weak = `kms-bad-${n}-weak`;
      const c = await newBucket(empty);
      await newBucket(weak);
      await c.putBucketEncryption(weak, { SSEAlgorithm: 'AES256' });
      await t.client({ bucket: empty }).put('raced.txt', Buffer.from('x'));
      const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: keyRef, COMPLIANCE: 'exact', ...extra });
      const { result, server, client } = await traced(async () => [
        one(await handleBucketEvent({ bucket: empty }, deps)),
        one(await handleBucketEvent(fixtureFor('actiontrail-putbucketencryption-apicall.json', 'trail-bucket-b', weak), deps)),
      ]);
      for (const r of result) {
        expect(r).toMatchObject({ action: 'failed', retryable: false, error: { code: 'InvalidKmsKey' } });
        expect(r.error?.message).toContain(keyRef);
        for (const s of says()) expect(r.error?.message).toContain(s);
      }
      // Nothing but the read of the current rule reached OSS: no PutBucketEncryption, no copy.
      expect(server).toEqual([`GetBucketEncryption ${empty}`, `GetBucketEncryption ${weak}`]);
      expect(client.map((x) => x.op)).toEqual(['GetBucketEncryption', 'GetBucketEncryption']);
      expect(await ruleOf(c, empty)).toBe('none');
      expect(await ruleOf(c, weak)).toEqual({ SSEAlgorithm: 'AES256' });
      expect((await sseOf(t.client({ bucket: empty }), 'raced.txt'))[0]).toBeUndefined();
      const lines = deps.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'bucket decision');
      expect(lines.map((l) => [l.level, l.action])).toEqual([
        ['error', 'failed'],
        ['error', 'failed'],
      ]);
    });
  }
});

// ---- objects that raced in ---------------------------------------------------------------------

describe('objects uploaded before the rule existed', () => {
  it('are re-encrypted (to the resolved key id), the compliant and appendable ones left alone', async () => {
    const name = 'raced-all';
    const c = await newBucket(name);
    for (const k of ['a.txt', 'b/b.txt', 'c c.txt']) await c.put(k, Buffer.from(k));
    await c.put('sm4.txt', Buffer.from('s'), { headers: { 'x-oss-server-side-encryption': 'SM4' } });
    await c.append('app.log', Buffer.from('l'));
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main' });
    const { result, server } = await traced(() => handleBucketEvent({ bucket: name }, deps));
    expect(one(result)).toMatchObject({
      action: 'set',
      objects: { checked: 5, reencrypted: 3, failed: 0, retryable: 0, truncated: false },
    });
    expect(ops(server, 'CopyObject').sort()).toEqual([
      `CopyObject ${name}/a.txt`,
      `CopyObject ${name}/b/b.txt`,
      `CopyObject ${name}/c c.txt`,
    ]);
    for (const k of ['a.txt', 'b/b.txt', 'c c.txt']) {
      expect([k, ...(await sseOf(c, k))]).toEqual([k, 'KMS', mainKeyId, undefined]);
      expect((await c.get(k)).content.toString()).toBe(k);
    }
    expect((await sseOf(c, 'sm4.txt'))[0]).toBe('SM4');
    expect((await sseOf(c, 'app.log'))[0]).toBeUndefined();
    // The per-object decisions are logged too.
    const decisions = deps.log.lines.filter((l) => l.includes('"msg":"object decision"'));
    expect(decisions).toHaveLength(5);
  });

  it('bounded by BUCKET_REENCRYPT_LIMIT: with a limit of 2 and 5 objects, 2 are checked and truncated=true', async () => {
    const name = 'raced-limit';
    const c = await newBucket(name);
    const keys = ['o1', 'o2', 'o3', 'o4', 'o5'];
    for (const k of keys) await c.put(k, Buffer.from(k));
    const { result, server } = await traced(() => handleBucketEvent({ bucket: name }, depsFor({ BUCKET_REENCRYPT_LIMIT: '2' })));
    expect(one(result)).toMatchObject({ action: 'set', objects: { checked: 2, reencrypted: 2, failed: 0, retryable: 0, truncated: true } });
    expect(ops(server, 'CopyObject')).toHaveLength(2);
    expect(ops(server, 'ListObjects')).toHaveLength(1);
    const encrypted: string[] = [];
    for (const k of keys) if ((await sseOf(c, k))[0] === 'AES256') encrypted.push(k);
    expect(encrypted).toHaveLength(2);
  });

  it('a limit equal to the number of objects checks them all and is not truncated', async () => {
    const name = 'raced-exact-limit';
    const c = await newBucket(name);
    for (const k of ['x1', 'x2', 'x3']) await c.put(k, Buffer.from(k));
    const result = await handleBucketEvent({ bucket: name }, depsFor({ BUCKET_REENCRYPT_LIMIT: '3' }));
    expect(one(result).objects).toEqual({ checked: 3, reencrypted: 3, failed: 0, retryable: 0, truncated: false });
  });
});

// ---- invalid events ----------------------------------------------------------------------------

describe('events without a valid bucket', () => {
  it('throw EventValidationError naming every place looked at; no request, no KMS call', async () => {
    const deps = depsFor({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/main' });
    const {
      result: err,
      server,
      client,
    } = await traced(async () => {
      try {
        await handleBucketEvent(JSON.parse(fixtureText('malformed-bucket-event-no-valid-name.json')) as unknown, deps);
      } catch (e) {
        return e;
      }
      return undefined;
    });
    expect(err).toBeInstanceOf(EventValidationError);
    const issues = (err as EventValidationError).issues.join('\n');
    for (const where of [
      'data.referencedResources["ACS::OSS::Bucket"][0]',
      'data.requestParameters.BucketName',
      'data.oss.bucket.name',
      'data.eventSource',
      'subject',
    ]) {
      expect(issues).toContain(where);
    }
    expect(issues).toContain('"UPPER"');
    expect(issues).toContain('Not_A_Bucket');
    expect((err as Error).message).toContain('no valid bucket name');
    expect(server).toEqual([]);
    expect(client).toEqual([]);
    expect(deps.kmsChecks()).toBe(0);
  });

  it('other unusable inputs are refused the same way, before any request', async () => {
    const cases: Array<[unknown, string]> = [
      [{ bucket: 'Bad_Name' }, 'bucket'],
      [{ bucket: 'ok-name', allBuckets: true }, 'not both'],
      [{ allBuckets: 'yes' }, 'allBuckets'],
      [{ something: 'else' }, 'something'],
      [JSON.parse(fixtureText('malformed-bucket-event-wrong-type.json')) as unknown, 'type'],
      ['{"bucket": ', 'not valid JSON'],
      [{ ...(JSON.parse(fixtureText('bucket-created-local.json')) as object), data: {}, subject: 'acs:oss:cn-hangzhou:1:' }, 'subject'],
    ];
    for (const [input, field] of cases) {
      const {
        result: err,
        server,
        client,
      } = await traced(async () => {
        try {
          await handleBucketEvent(input, depsFor());
        } catch (e) {
          return e;
        }
        return undefined;
      });
      expect([field, err instanceof EventValidationError]).toEqual([field, true]);
      expect([field, (err as Error).message]).toEqual([field, expect.stringContaining(field)]);
      expect([field, server.length, client.length]).toEqual([field, 0, 0]);
    }
  });
});

// ---- the actor ---------------------------------------------------------------------------------

describe('the actor of a drift event', () => {
  it('is reported (who, what kind, which account) without any access key id or token, in the result and in the logs', async () => {
    const name = 'actor-drift';
    await newBucket(name);
    const deps = depsFor();
    const ev = fixtureFor('actiontrail-putbucketencryption-apicall.json', 'trail-bucket-b', name);
    const result = await handleBucketEvent(ev, deps);
    expect(one(result).actor).toEqual({
      type: 'ram-user',
      principalId: '209876543210987654',
      accountId: '1234567890123456',
      userName: 'alice',
    });
    const everything = [JSON.stringify(result), ...deps.log.lines].join('\n');
    for (const secret of [
      'STS.example-not-a-key-alice',
      'example-not-a-security-token',
      'accessKeyId',
      'securityToken',
      'sessionContext',
    ]) {
      expect([secret, everything.includes(secret)]).toEqual([secret, false]);
    }
    // The drift warning and the decision both name the actor.
    const lines = deps.log.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => (l.actor as { userName?: string } | undefined)?.userName === 'alice').map((l) => l.msg)).toEqual([
      'bucket encryption rule changed',
      'bucket decision',
    ]);
  });

  it('a root-account actor from the ApiCall fixture carries no access key id either', async () => {
    const name = 'actor-root';
    await newBucket(name);
    const result = await handleBucketEvent(fixtureFor('actiontrail-putbucket-apicall.json', 'trail-bucket-a', name), depsFor());
    expect(one(result).actor).toEqual({ type: 'root-account', principalId: '1234567890123456', accountId: '1234567890123456' });
    expect(JSON.stringify(result)).not.toContain('LTAI-example-not-a-key-root');
  });
});

// ---- transient failures ------------------------------------------------------------------------

/** A loopback server that answers 503 MetaOperationQpsLimitExceeded to everything. */
async function startThrottler(): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>MetaOperationQpsLimitExceeded</Code>' +
      `<Message>Please reduce your request rate.</Message><RequestId>5E00000000000000000000${String(hits.length).padStart(2, '0')}</RequestId></Error>`;
    req.resume();
    res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
    res.end(xml);
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

describe('transient and permanent failures', () => {
  it('throttling that outlasts the retries: the bucket is reported retryable, then TransientBucketFailure is thrown so FC retries', async () => {
    const throttler = await startThrottler();
    const client = new OssHttpClient({
      endpoint: throttler.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
      retry: { deadline: () => Date.now() + 200, baseMs: 5, capMs: 20 },
    });
    try {
      const deps = depsFor({}, client);
      const outcome = await handleBucketEvent({ bucket: 'throttled-bucket' }, deps).then(
        (r) => ({ threw: false as const, r }),
        (e: unknown) => ({ threw: true as const, e }),
      );
      // OSS was asked, and asked again, before giving up; nothing but the read was tried.
      expect(throttler.hits.length).toBeGreaterThanOrEqual(2);
      expect(throttler.hits.every((h) => h === 'GET /?encryption')).toBe(true);
      expect(outcome.threw).toBe(true);
      const err = outcome.threw ? outcome.e : undefined;
      expect(err).toBeInstanceOf(TransientBucketFailure);
      expect((err as TransientBucketFailure).result.buckets).toMatchObject([
        {
          bucket: 'throttled-bucket',
          action: 'failed',
          retryable: true,
          error: { code: 'MetaOperationQpsLimitExceeded', requestId: expect.stringMatching(/^5E0{20}\d{2}$/) },
        },
      ]);
      // The failure was logged before the throw.
      expect(
        deps.log.lines.filter((l) => l.includes('"msg":"bucket decision"') && l.includes('MetaOperationQpsLimitExceeded')),
      ).toHaveLength(1);
    } finally {
      client.destroy();
      await throttler.close();
    }
  });

  it('{ allBuckets: true } against a throttled ListBuckets fails the invocation (thrown, transient)', async () => {
    const throttler = await startThrottler();
    const client = new OssHttpClient({
      endpoint: throttler.url,
      region: REGION,
      credentials: () => ({ accessKeyId: TEST_AK, accessKeySecret: TEST_SECRET }),
      retry: { deadline: () => Date.now() + 100, baseMs: 5, capMs: 20 },
    });
    try {
      await expect(handleBucketEvent({ allBuckets: true }, depsFor({}, client))).rejects.toMatchObject({
        status: 503,
        code: 'MetaOperationQpsLimitExceeded',
      });
      // Only ListBuckets was tried: no bucket was acted on from a partial listing.
      expect(throttler.hits.length).toBeGreaterThanOrEqual(2);
      expect(throttler.hits.every((h) => /^GET \/(\?max-keys=1000)?$/.test(h))).toBe(true);
    } finally {
      client.destroy();
      await throttler.close();
    }
  });

  it('a permanent failure (wrong secret → 403) is reported with code and request id, not thrown, bucket untouched', async () => {
    const name = 'denied-bucket';
    const c = await newBucket(name);
    const attempts: OssRequestInfo[] = [];
    const denied = new OssHttpClient({
      endpoint: t.server.url,
      region: REGION,
      credentials: () => ({
        accessKeyId: TEST_AK,
        accessKeySecret: 'definitely-the-wrong-secret-0001',
        securityToken: 'STS-token-never-logged-0001',
      }),
      onRequest: (i) => attempts.push(i),
    });
    try {
      const deps = depsFor({}, denied);
      const { result, server } = await traced(() => handleBucketEvent({ bucket: name }, deps));
      expect(one(result)).toMatchObject({ action: 'failed', retryable: false, error: { code: 'SignatureDoesNotMatch' } });
      expect(one(result).error?.requestId).toBe(attempts[0]?.requestId);
      expect(attempts.map((a) => [a.op, a.status])).toEqual([['GetBucketEncryption', 403]]);
      expect(server).toEqual([]);
      expect(await ruleOf(c, name)).toBe('none');
      const everything = [JSON.stringify(result), ...deps.log.lines].join('\n');
      for (const secret of ['definitely-the-wrong-secret-0001', 'STS-token-never-logged-0001']) expect(everything).not.toContain(secret);
    } finally {
      denied.destroy();
    }
  });
});
