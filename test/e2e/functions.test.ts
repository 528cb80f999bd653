/**
 * The built function bundles (dist/functions/<name>/index.js, what runs in FC) driven
 * through the local stack: the OSS server's events reach them through the FC-like runtime
 * exactly as `oss-sse local` wires them, and a real ali-oss client plays the user.
 *
 * Every test starts its own in-memory stack, so no state leaks between them. `stack.idle()`
 * resolves once every async invocation has finished, those that finished ones triggered
 * included, and with it everything they wrote (the runtime hands out a result only after the
 * worker's output up to it is read): what has not happened by then will not happen.
 */
import OSS from 'ali-oss';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { crc64 } from '../../shared/crc64';
import type { FunctionRuntime } from '../../local/runtime';
import { FUNCTION_NAMES, startLocalStack, type LocalStack } from '../../local/stack';
import { objectTriggerMatches } from '../../shared/triggers';
import { writeInventoryReport, type InventoryObject } from '../helpers/inventory';

const root = join(__dirname, '..', '..');
const functionsDir = join(root, 'dist', 'functions');

const REGION = 'cn-hangzhou';
const ACCESS_KEY_ID = 'LTAI5tE2eFunctionsAccessKey';
const ACCESS_KEY_SECRET = 'E2eFunctionsSecretThatMustNeverBeLogged01';
/** The prefix of the STS token the stack hands the functions (local/stack.ts). */
const STS_PREFIX = 'local-sts-';
const DEFAULT_ALIAS = 'alias/oss-sse-default';

// --- the user's client ------------------------------------------------------------------

type Headers = Record<string, string | undefined>;
interface WriteOptions {
  headers?: Record<string, string>;
  meta?: Record<string, string>;
}
interface BucketRule {
  SSEAlgorithm?: string;
  KMSMasterKeyID?: string;
  KMSDataEncryption?: string;
}

/**
 * The ali-oss calls these tests make, typed narrowly: @types/ali-oss lacks the tagging and
 * bucket-encryption methods and types response headers as `object`.
 */
interface UserClient {
  putBucket(name: string): Promise<unknown>;
  useBucket(name: string): void;
  put(key: string, body: Buffer, options?: WriteOptions): Promise<{ res: { headers: Headers } }>;
  multipartUpload(key: string, body: Buffer, options: WriteOptions & { partSize: number }): Promise<unknown>;
  head(key: string): Promise<{ res: { headers: Headers } }>;
  get(key: string): Promise<{ content: Buffer }>;
  getACL(key: string): Promise<{ acl: string }>;
  getObjectTagging(key: string): Promise<{ tag: Record<string, string> }>;
  getBucketEncryption(bucket: string): Promise<{ encryption: BucketRule }>;
  deleteBucketEncryption(bucket: string): Promise<unknown>;
  putBucketVersioning(bucket: string, status: 'Enabled'): Promise<unknown>;
  getBucketVersions(query: Record<string, string>): Promise<{ objects?: Array<{ name: string; versionId: string }> }>;
  listUploads(query: Record<string, string>): Promise<{ uploads?: Array<{ name: string }> }>;
}

// --- stacks -----------------------------------------------------------------------------

/** Every line any stack of this file logged: the credential check covers them all. */
const allLines: string[] = [];
const openStacks: LocalStack[] = [];
const tempDirs: string[] = [];

interface Harness {
  stack: LocalStack;
  runtime: FunctionRuntime;
  lines: string[];
  client(bucket?: string): UserClient;
  /** A bucket made with the bucket trigger paused: no default rule, like one predating oss-sse. */
  plainBucket(name: string): Promise<UserClient>;
  /** Object event names the OSS server emitted, per `bucket/key`. */
  objectEvents(bucket: string, key: string): string[];
  /** ActionTrail event names the OSS server emitted for a bucket. */
  bucketEvents(bucket: string): string[];
}

async function startStack(functionEnv: Record<string, string> = {}, dir = functionsDir): Promise<Harness> {
  const lines: string[] = [];
  const stack = await startLocalStack({
    region: REGION,
    accessKeyId: ACCESS_KEY_ID,
    accessKeySecret: ACCESS_KEY_SECRET,
    functionsDir: dir,
    functionEnv,
    functionTimeoutSeconds: 10,
    // FC's retry count, with short waits so a permanent failure costs milliseconds here.
    asyncRetry: { maxAttempts: 3, baseDelayMs: 20 },
    log: (line) => {
      lines.push(line);
      allLines.push(line);
    },
  });
  openStacks.push(stack);
  const runtime = stack.runtime;
  if (!runtime) throw new Error('the stack started without the function runtime');
  const objectEvents = new Map<string, string[]>();
  const bucketEvents = new Map<string, string[]>();
  stack.oss.events.on('object', (event) => {
    for (const r of event.events) {
      const id = `${r.oss.bucket.name}/${r.oss.object.key}`;
      objectEvents.set(id, [...(objectEvents.get(id) ?? []), r.eventName]);
    }
  });
  stack.oss.events.on('bucket', (event) => {
    const bucket = event.subject.split(':').pop() ?? '';
    const name = typeof event.data['eventName'] === 'string' ? event.data['eventName'] : event.type;
    bucketEvents.set(bucket, [...(bucketEvents.get(bucket) ?? []), name]);
  });
  const client = (bucket?: string): UserClient =>
    new OSS({
      endpoint: stack.oss.url,
      region: `oss-${REGION}`,
      accessKeyId: ACCESS_KEY_ID,
      accessKeySecret: ACCESS_KEY_SECRET,
      ...(bucket ? { bucket } : {}),
    }) as unknown as UserClient;
  return {
    stack,
    runtime,
    lines,
    client,
    plainBucket: async (name) => {
      stack.triggers.bucket = false;
      try {
        await client().putBucket(name);
      } finally {
        stack.triggers.bucket = true;
      }
      return client(name);
    },
    objectEvents: (bucket, key) => objectEvents.get(`${bucket}/${key}`) ?? [],
    bucketEvents: (bucket) => bucketEvents.get(bucket) ?? [],
  };
}

// --- log lines --------------------------------------------------------------------------

type LogRecord = Record<string, unknown> & { function: string; level: string; msg: string };

/** `[name] <time> <requestId> [LEVEL] <message>`; the functions' structured lines are JSON. */
const FUNCTION_LINE = /^\[(bucket-encryption|object-encryption)\] \S+ \S+ \[[A-Z]+\] (\{.*\})$/;

function records(lines: readonly string[]): LogRecord[] {
  const out: LogRecord[] = [];
  for (const line of lines) {
    const m = FUNCTION_LINE.exec(line);
    if (!m?.[2]) continue;
    try {
      const parsed = JSON.parse(m[2]) as unknown;
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) out.push(parsed as LogRecord);
    } catch {
      // not a structured line (raw console output): not a decision
    }
  }
  return out;
}

const objectDecisions = (h: Harness, bucket: string, key: string): LogRecord[] =>
  records(h.lines).filter((r) => r.msg === 'object decision' && r['bucket'] === bucket && r['key'] === key);

const bucketDecisions = (h: Harness, bucket: string): LogRecord[] =>
  records(h.lines).filter((r) => r.msg === 'bucket decision' && r['bucket'] === bucket);

/** OSS server request lines (`METHOD <bucket>.<host>/<path> <status> …`) for one object or bucket root. */
function ossRequests(h: Harness, method: string, bucket: string, path: string): string[] {
  const prefix = `${method} ${bucket}.oss-${REGION}.aliyuncs.com/${path} `;
  return h.lines.filter((l) => l.startsWith(prefix));
}

/** Generous: late log lines only lag by milliseconds, but the whole suite may share two busy cores. */
const POLL = { timeout: 5_000, interval: 25 };

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

async function ruleOf(c: UserClient, bucket: string): Promise<BucketRule | 'none'> {
  try {
    return (await c.getBucketEncryption(bucket)).encryption;
  } catch (e) {
    if ((e as { code?: string }).code === 'NoSuchServerSideEncryptionRule') return 'none';
    throw e;
  }
}

function aliasKeyId(stack: LocalStack, alias: string): string {
  const found = stack.kms.keys.listAliases().find((a) => a.aliasName === alias);
  if (!found) throw new Error(`the local KMS has no ${alias}`);
  return found.keyId;
}

/** A fresh directory with no node_modules anywhere above it: the bundles must not need one. */
function bareDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'oss-sse-bundle-'));
  tempDirs.push(dir);
  for (let d = dir; ; d = dirname(d)) {
    expect(existsSync(join(d, 'node_modules')), `${d}/node_modules must not exist for this test to mean anything`).toBe(false);
    if (dirname(d) === d) break;
  }
  return dir;
}

afterEach(async () => {
  await Promise.all(openStacks.splice(0).map((s) => s.close()));
});

afterAll(() => {
  for (const d of tempDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

// --- object-encryption ------------------------------------------------------------------

describe('object-encryption bundle', () => {
  it('re-encrypts a plaintext PutObject in place: AES256, same ETag and CRC-64, metadata, tags, ACL and headers kept', async () => {
    const h = await startStack();
    const c = await h.plainBucket('legacy-bucket');
    const body = Buffer.from('region,revenue\neast,100\n');
    const put = await c.put('reports/q3 final+.csv', body, {
      meta: { owner: 'finance' },
      headers: {
        'Content-Type': 'text/csv',
        'Content-Disposition': 'attachment; filename="q3.csv"',
        'Cache-Control': 'no-cache',
        'x-oss-object-acl': 'public-read',
        'x-oss-storage-class': 'IA',
        'x-oss-tagging': 'class=confidential&k%201=v%26x',
      },
    });
    // The upload itself is plaintext: whatever encrypts it below is the function.
    expect(put.res.headers['x-oss-server-side-encryption']).toBeUndefined();
    await h.stack.idle();

    await expect
      .poll(() => objectDecisions(h, 'legacy-bucket', 'reports/q3 final+.csv').map((r) => r['action']), POLL)
      .toEqual(['reencrypted']);
    expect(objectDecisions(h, 'legacy-bucket', 'reports/q3 final+.csv')[0]).toMatchObject({
      function: 'oss-sse-object-encryption',
      reason: 'unencrypted',
      bytes: body.length,
    });
    const after = (await c.head('reports/q3 final+.csv')).res.headers;
    expect(after['x-oss-server-side-encryption']).toBe('AES256');
    expect(after.etag).toBe(put.res.headers.etag);
    expect(after['x-oss-hash-crc64ecma']).toBe(put.res.headers['x-oss-hash-crc64ecma']);
    expect(after).toMatchObject({
      'x-oss-meta-owner': 'finance',
      'content-type': 'text/csv',
      'content-disposition': 'attachment; filename="q3.csv"',
      'cache-control': 'no-cache',
      'x-oss-storage-class': 'IA',
    });
    expect((await c.getACL('reports/q3 final+.csv')).acl).toBe('public-read');
    expect((await c.getObjectTagging('reports/q3 final+.csv')).tag).toEqual({ class: 'confidential', 'k 1': 'v&x' });
    expect((await c.get('reports/q3 final+.csv')).content.equals(body)).toBe(true);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('re-encrypts a multipart upload above MULTIPART_THRESHOLD_BYTES through the multipart copy, bytes identical', async () => {
    const h = await startStack({ MULTIPART_THRESHOLD_BYTES: '102400', PART_SIZE_BYTES: '102400' });
    const c = await h.plainBucket('multipart-bucket');
    // ~300 KB and not a multiple of the part size: the last copied range is a short one.
    const body = Buffer.alloc(300 * 1024 + 123);
    for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 10)) & 0xff;
    await c.multipartUpload('big/file.bin', body, {
      partSize: 102400,
      meta: { color: 'blue' },
      headers: { 'Content-Type': 'application/x-test', 'x-oss-tagging': 'a=1&b=two%20words' },
    });
    await h.stack.idle();

    await expect
      .poll(() => objectDecisions(h, 'multipart-bucket', 'big/file.bin').some((r) => r['action'] === 'reencrypted'), POLL)
      .toBe(true);
    // The multipart path: the user's Initiate + Complete, then the function's Initiate + Complete
    // (a CopyObject would be a PUT). Exactly one re-encryption happened.
    expect(ossRequests(h, 'POST', 'multipart-bucket', 'big/file.bin')).toHaveLength(4);
    expect(h.objectEvents('multipart-bucket', 'big/file.bin').filter((n) => n === 'ObjectCreated:UploadPartCopy')).toHaveLength(4);

    const head = (await c.head('big/file.bin')).res.headers;
    expect(head['x-oss-server-side-encryption']).toBe('AES256');
    expect(head['content-length']).toBe(String(body.length));
    expect(head['x-oss-hash-crc64ecma']).toBe(crc64(body));
    expect(head['x-oss-meta-color']).toBe('blue');
    expect(head['content-type']).toBe('application/x-test');
    expect((await c.getObjectTagging('big/file.bin')).tag).toEqual({ a: '1', b: 'two words' });
    expect(md5((await c.get('big/file.bin')).content)).toBe(md5(body));

    // The function's own CompleteMultipartUpload fires the trigger once more (see the report):
    // that invocation must find the object compliant and write nothing, so it cannot loop.
    const actions = objectDecisions(h, 'multipart-bucket', 'big/file.bin').map((r) => r['action']);
    expect(actions.filter((a) => a === 'reencrypted')).toHaveLength(1);
    expect(actions.filter((a) => a !== 'reencrypted').every((a) => a === 'compliant')).toBe(true);
    expect(actions.length).toBeLessThanOrEqual(2);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('does not trigger itself with its own CopyObject, and leaves an already encrypted upload alone (no loop)', async () => {
    const h = await startStack();
    const c = await h.plainBucket('loop-bucket');
    await c.put('plain.txt', Buffer.from('plaintext'));
    await c.put('sealed.txt', Buffer.from('already encrypted'), { headers: { 'x-oss-server-side-encryption': 'AES256' } });
    await h.stack.idle();

    await expect.poll(() => objectDecisions(h, 'loop-bucket', 'plain.txt').length, POLL).toBeGreaterThan(0);
    await h.stack.idle();
    // The copy happened and OSS reported it, but the trigger does not deliver it back.
    expect(h.objectEvents('loop-bucket', 'plain.txt')).toEqual(['ObjectCreated:PutObject', 'ObjectCreated:CopyObject']);
    expect(objectDecisions(h, 'loop-bucket', 'plain.txt').map((r) => r['action'])).toEqual(['reencrypted']);
    expect(ossRequests(h, 'PUT', 'loop-bucket', 'plain.txt')).toHaveLength(2); // the upload and the one copy

    await expect.poll(() => objectDecisions(h, 'loop-bucket', 'sealed.txt').map((r) => r['action']), POLL).toEqual(['compliant']);
    expect(h.objectEvents('loop-bucket', 'sealed.txt')).toEqual(['ObjectCreated:PutObject']);
    expect(ossRequests(h, 'PUT', 'loop-bucket', 'sealed.txt')).toHaveLength(1);
    expect(h.runtime.failures()).toEqual([]);
  });
});

// --- bucket-encryption ------------------------------------------------------------------

describe('bucket-encryption bundle', () => {
  it('gives a new bucket its default encryption and restores a deleted rule', async () => {
    const h = await startStack();
    // Control: without the bucket function a bucket has no rule, so the rule below is the function's.
    await h.plainBucket('control-bucket');
    expect(await ruleOf(h.client(), 'control-bucket')).toBe('none');

    await h.client().putBucket('fresh-bucket');
    await h.stack.idle();
    await expect.poll(() => bucketDecisions(h, 'fresh-bucket').filter((r) => r['action'] === 'set').length, POLL).toBe(1);
    expect(await ruleOf(h.client(), 'fresh-bucket')).toEqual({ SSEAlgorithm: 'AES256' });

    await h.client().deleteBucketEncryption('fresh-bucket');
    await h.stack.idle();
    await expect.poll(() => bucketDecisions(h, 'fresh-bucket').filter((r) => r['action'] === 'set').length, POLL).toBe(2);
    expect(await ruleOf(h.client(), 'fresh-bucket')).toEqual({ SSEAlgorithm: 'AES256' });

    await h.stack.idle();
    // Each PutBucketEncryption of the function fires the drift trigger once more; that
    // invocation finds the rule compliant and writes nothing: two writes in all, no loop.
    expect(h.bucketEvents('fresh-bucket').filter((n) => n === 'PutBucketEncryption')).toHaveLength(2);
    const decisions = bucketDecisions(h, 'fresh-bucket');
    expect(decisions.filter((r) => r['action'] === 'set')).toHaveLength(2);
    expect(decisions.filter((r) => r['action'] !== 'set').every((r) => r['action'] === 'compliant')).toBe(true);
    expect(decisions.filter((r) => r['action'] === 'set').map((r) => r['before'])).toEqual([null, null]);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('with SSE_ALGORITHM=KMS and an alias, writes a KMS rule with the key id the alias resolves to (and objects follow it)', async () => {
    const h = await startStack({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: DEFAULT_ALIAS });
    const keyId = aliasKeyId(h.stack, DEFAULT_ALIAS);
    expect(keyId).not.toContain('alias/');

    await h.client().putBucket('kms-bucket');
    await h.stack.idle();
    await expect.poll(() => bucketDecisions(h, 'kms-bucket').some((r) => r['action'] === 'set'), POLL).toBe(true);
    expect(await ruleOf(h.client(), 'kms-bucket')).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: keyId });

    // The object function resolves the same alias for objects in a bucket without a rule.
    const c = await h.plainBucket('kms-plain-bucket');
    await c.put('doc.txt', Buffer.from('kms me'));
    await h.stack.idle();
    await expect.poll(() => objectDecisions(h, 'kms-plain-bucket', 'doc.txt').map((r) => r['action']), POLL).toEqual(['reencrypted']);
    const head = (await c.head('doc.txt')).res.headers;
    expect(head['x-oss-server-side-encryption']).toBe('KMS');
    expect(head['x-oss-server-side-encryption-key-id']).toBe(keyId);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('with a KMS alias that does not exist, leaves the bucket without a rule and logs why (no PutBucketEncryption)', async () => {
    const h = await startStack({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/does-not-exist' });
    await h.client().putBucket('no-key-bucket');
    await h.stack.idle();

    await expect.poll(() => bucketDecisions(h, 'no-key-bucket').length, POLL).toBe(1);
    const [decision] = bucketDecisions(h, 'no-key-bucket');
    expect(decision).toMatchObject({ level: 'error', action: 'failed', retryable: false });
    const message = (decision?.['error'] as { message?: string } | undefined)?.message ?? '';
    expect(message).toContain('KMS_KEY_ID');
    expect(message).toContain('alias/does-not-exist');
    expect(message).toMatch(/does not exist/);
    // It asked KMS (DescribeKey), and wrote nothing.
    expect(h.lines.some((l) => /^KMS POST DescribeKey 404\b/.test(l))).toBe(true);
    expect(h.bucketEvents('no-key-bucket')).not.toContain('PutBucketEncryption');
    expect(await ruleOf(h.client(), 'no-key-bucket')).toBe('none');
  });

  it('answers a manual { bucket } invocation with a result listing the bucket, and is idempotent', async () => {
    const h = await startStack();
    await h.plainBucket('manual-bucket');
    const first = await h.runtime.invoke('bucket-encryption', { bucket: 'manual-bucket' });
    expect(first).toMatchObject({
      buckets: [{ bucket: 'manual-bucket', action: 'set', before: null, after: { algorithm: 'AES256' } }],
    });
    expect(await ruleOf(h.client(), 'manual-bucket')).toEqual({ SSEAlgorithm: 'AES256' });
    const second = await h.runtime.invoke('bucket-encryption', { bucket: 'manual-bucket' });
    expect(second).toMatchObject({ buckets: [{ bucket: 'manual-bucket', action: 'compliant' }] });
  });
});

// --- invalid input and configuration ----------------------------------------------------

describe('invalid events and configuration', () => {
  it('returns InvalidEvent naming the field for a malformed event, instead of throwing', async () => {
    const h = await startStack();
    const emptyEvents = await h.runtime.invoke('object-encryption', { events: [] });
    expect(emptyEvents).toEqual({ error: 'InvalidEvent', message: expect.stringMatching(/^malformed OSS trigger event: events: /) });
    const notArray = await h.runtime.invoke('object-encryption', { events: 'PutObject' });
    expect(notArray).toEqual({ error: 'InvalidEvent', message: expect.stringContaining('events: expected array') });
    const notJson = await h.runtime.invoke('object-encryption', Buffer.from('{"events": ['));
    expect(notJson).toEqual({ error: 'InvalidEvent', message: expect.stringContaining('not valid JSON') });
    const badBucket = await h.runtime.invoke('bucket-encryption', { bucket: 'Not_A_Bucket' });
    expect(badBucket).toEqual({ error: 'InvalidEvent', message: expect.stringContaining('bucket:') });

    await expect.poll(() => records(h.lines).filter((r) => r.msg === 'invalid event').length, POLL).toBe(4);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('fails every invocation at cold start naming SSE_ALGORITHM for SSE_ALGORITHM=DES, and changes nothing', async () => {
    const h = await startStack({ SSE_ALGORITHM: 'DES' });
    await h.client().putBucket('des-bucket');
    const c = h.client('des-bucket');
    const put = await c.put('k.txt', Buffer.from('stays plaintext'));
    // Three async retries (short backoff in these tests) before the failure is final.
    await h.stack.idle();

    const failures = h.runtime.failures();
    expect(failures.map((f) => f.functionName).sort()).toEqual(['bucket-encryption', 'object-encryption']);
    for (const f of failures) {
      expect(f.error.errorType).toBe('ConfigError');
      expect(f.error.errorMessage).toContain('SSE_ALGORITHM');
      expect(f.attempts).toBe(4);
    }
    // Sync invocations fail the same way, as a cold-start (init) error.
    for (const name of FUNCTION_NAMES) {
      await expect(h.runtime.invoke(name, { bucket: 'des-bucket' })).rejects.toMatchObject({
        kind: 'init',
        errorMessage: expect.stringContaining('SSE_ALGORITHM'),
      });
    }
    expect(h.lines.filter((l) => l.includes('[runtime] cold start failed') && l.includes('SSE_ALGORITHM'))).toHaveLength(
      FUNCTION_NAMES.length,
    );

    // Nothing reached OSS but the user's own two requests.
    expect(h.lines.filter((l) => /^(GET|HEAD|PUT|POST|DELETE) des-bucket\./.test(l))).toHaveLength(2);
    expect(await ruleOf(h.client(), 'des-bucket')).toBe('none');
    const head = (await c.head('k.txt')).res.headers;
    expect(head['x-oss-server-side-encryption']).toBeUndefined();
    expect(head.etag).toBe(put.res.headers.etag);
  });
});

// --- the bundles on their own -----------------------------------------------------------

describe('bundles without node_modules', () => {
  it.each(FUNCTION_NAMES)('%s loads from an empty directory with a valid env and refuses SSE_ALGORITHM=bad', (name) => {
    const dir = bareDir();
    cpSync(join(functionsDir, name), dir, { recursive: true }); // the function's code directory, as deployed
    const run = (sse: string) =>
      spawnSync(process.execPath, ['-e', "require('./index.js')"], {
        cwd: dir,
        // The backfill function also needs to know where its job state goes.
        env: { PATH: process.env['PATH'] ?? '', SSE_ALGORITHM: sse, STATE_BUCKET: 'oss-sse-state' },
        encoding: 'utf8',
        timeout: 20_000,
      });
    const good = run('AES256');
    expect(good.stderr).toBe('');
    expect(good.status).toBe(0);
    const bad = run('bad');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/SSE_ALGORITHM="bad" must be one of AES256, KMS, SM4/);
  });

  it('run in the stack from a directory without node_modules, the KMS SDK included (loaded lazily)', async () => {
    const dir = bareDir();
    for (const name of FUNCTION_NAMES) {
      cpSync(join(functionsDir, name), join(dir, name), { recursive: true });
    }
    const h = await startStack({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: DEFAULT_ALIAS }, dir);
    const keyId = aliasKeyId(h.stack, DEFAULT_ALIAS);
    await h.client().putBucket('bare-kms-bucket');
    const c = await h.plainBucket('bare-plain-bucket');
    await c.put('x.txt', Buffer.from('x'));
    await h.stack.idle();
    await expect.poll(() => objectDecisions(h, 'bare-plain-bucket', 'x.txt').map((r) => r['action']), POLL).toEqual(['reencrypted']);
    expect(await ruleOf(h.client(), 'bare-kms-bucket')).toEqual({ SSEAlgorithm: 'KMS', KMSMasterKeyID: keyId });
    expect((await c.head('x.txt')).res.headers['x-oss-server-side-encryption-key-id']).toBe(keyId);
    expect(h.runtime.failures()).toEqual([]);
  });
});

// --- credentials ------------------------------------------------------------------------

describe('logs', () => {
  it('never carry the access key secret or the STS token, on success and error paths alike', async () => {
    const h = await startStack({ MULTIPART_THRESHOLD_BYTES: '102400' });
    await h.client().putBucket('creds-bucket');
    const c = await h.plainBucket('creds-plain-bucket');
    await c.put('a.txt', Buffer.from('a'));
    await c.multipartUpload('b.bin', Buffer.alloc(250 * 1024, 7), { partSize: 102400 });
    // Error paths: OSS errors quote request details, invalid events quote the event.
    await h.runtime.invoke('bucket-encryption', { bucket: 'no-such-bucket' });
    await h.runtime.invoke('object-encryption', { events: [{ eventName: 'ObjectCreated:PutObject' }] });
    await h.runtime.invoke('object-encryption', 'garbage');
    await h.stack.idle();
    await expect.poll(() => objectDecisions(h, 'creds-plain-bucket', 'a.txt').length, POLL).toBe(1);
    expect(records(h.lines).some((r) => r.msg === 'bucket decision' && r['bucket'] === 'no-such-bucket' && r['action'] === 'failed')).toBe(
      true,
    );

    expect(records(h.lines).length).toBeGreaterThan(3);
    // Every line of every stack this file started so far (KMS and cold-start failures included).
    const leaks = allLines.filter((l) => l.includes(ACCESS_KEY_SECRET) || l.includes(STS_PREFIX));
    expect(leaks).toEqual([]);
  });
});

// --- every action of the generated policies -----------------------------------------------
// The functions run under their generated RAM policies (local/stack.ts); these scenarios reach
// the actions the ones above do not: object versions (read and deleted by version), ListBuckets,
// and AbortMultipartUpload. scripts/ram-mutation.ts removes each action in turn and expects a
// scenario of this file or backfill.test.ts to fail with AccessDenied (docs/ram.md).

/** A versioned bucket without a rule, holding a tagged plaintext object copied in one CopyObject and one above the multipart threshold. */
async function versionedPlaintext(
  h: Harness,
  bucket: string,
): Promise<{ c: UserClient; versions: Record<string, string>; events: unknown[] }> {
  h.stack.triggers.object = false;
  const c = await h.plainBucket(bucket);
  const versions: Record<string, string> = {};
  const events = pausedObjectEvents(h, bucket);
  try {
    await c.putBucketVersioning(bucket, 'Enabled');
    for (const [key, size] of [
      ['small.txt', 1024],
      ['large.bin', 250 * 1024],
    ] as const) {
      const put = await c.put(key, Buffer.alloc(size, key), { headers: { 'x-oss-tagging': 'team=finance' } });
      versions[key] = put.res.headers['x-oss-version-id'] as string;
    }
  } finally {
    h.stack.triggers.object = true;
  }
  return { c, versions, events };
}

/** The object events OSS emits for `bucket` from now on (what the paused trigger did not deliver), as the trigger would deliver them. */
function pausedObjectEvents(h: Harness, bucket: string): unknown[] {
  const events: unknown[] = [];
  h.stack.oss.events.on('object', (event) => {
    for (const r of event.events) if (r.oss.bucket.name === bucket && objectTriggerMatches(r.eventName)) events.push(r);
  });
  return events;
}

/** The plaintext versions are gone, every version left is encrypted, the tags came along. */
async function expectOnlyEncryptedVersions(c: UserClient, versions: Record<string, string>): Promise<void> {
  const left = (await c.getBucketVersions({})).objects ?? [];
  expect(left.map((v) => v.name).sort()).toEqual(['large.bin', 'small.txt']);
  for (const v of left) expect(v.versionId).not.toBe(versions[v.name]);
  for (const key of Object.keys(versions)) {
    expect((await c.head(key)).res.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect((await c.getObjectTagging(key)).tag).toEqual({ team: 'finance' });
  }
}

const DELETE_PLAINTEXT = { DELETE_PLAINTEXT_VERSIONS: 'true', MULTIPART_THRESHOLD_BYTES: '102400', PART_SIZE_BYTES: '102400' };

describe('versioned buckets, every function under its own policy', () => {
  it('object-encryption: copies each uploaded plaintext version (one copy, one multipart) and deletes exactly it', async () => {
    const h = await startStack(DELETE_PLAINTEXT);
    const { c, versions, events } = await versionedPlaintext(h, 'versioned-object-bucket');
    // The uploads happened with the trigger paused: deliver their events now, as OSS would have.
    expect(events).toHaveLength(2);
    await h.runtime.invoke('object-encryption', { events });
    await h.stack.idle();
    await expectOnlyEncryptedVersions(c, versions);
    expect(h.runtime.failures()).toEqual([]);
  });

  it('bucket-encryption with { allBuckets: true }: lists the buckets, sets the rule, re-encrypts what predates it by version', async () => {
    const h = await startStack(DELETE_PLAINTEXT);
    const { c, versions } = await versionedPlaintext(h, 'versioned-rule-bucket');
    const result = await h.runtime.invoke('bucket-encryption', { allBuckets: true });
    expect(result).toMatchObject({
      buckets: expect.arrayContaining([expect.objectContaining({ bucket: 'versioned-rule-bucket', action: 'set' })]),
    });
    await h.stack.idle();
    await expectOnlyEncryptedVersions(c, versions);
  });

  it('backfill: re-encrypts a versioned bucket and deletes the plaintext versions', async () => {
    const h = await startStack(DELETE_PLAINTEXT);
    const { c, versions } = await versionedPlaintext(h, 'versioned-backfill-bucket');
    const result = await h.runtime.invoke('backfill', { bucket: 'versioned-backfill-bucket', shards: 1 });
    expect(result).toMatchObject({ status: 'job-done' });
    await h.stack.idle();
    await expectOnlyEncryptedVersions(c, versions);
  });
});

describe('a multipart copy that fails is aborted, whichever function ran it', () => {
  /** COMPLIANCE=exact re-encrypts an SSE-KMS object; its key disabled after the upload makes UploadPartCopy fail (409 KeyDisabled). */
  async function undecryptable(h: Harness, bucket: string): Promise<{ c: UserClient; events: unknown[] }> {
    h.stack.triggers.object = false;
    const c = await h.plainBucket(bucket);
    const events = pausedObjectEvents(h, bucket);
    try {
      await c.put('large.bin', Buffer.alloc(250 * 1024, 7), { headers: { 'x-oss-server-side-encryption': 'KMS' } });
    } finally {
      h.stack.triggers.object = true;
    }
    h.stack.kms.keys.disableKey(DEFAULT_ALIAS);
    return { c, events };
  }
  const EXACT = { COMPLIANCE: 'exact', MULTIPART_THRESHOLD_BYTES: '102400', PART_SIZE_BYTES: '102400' };

  it.each([
    ['object-encryption', (_bucket: string, events: unknown[]) => ({ events })],
    ['bucket-encryption', (bucket: string) => ({ bucket })],
    ['backfill', (bucket: string) => ({ bucket, shards: 1 })],
  ] as const)('%s leaves no multipart upload behind', async (fn, event) => {
    const h = await startStack(EXACT);
    const bucket = `abort-${fn}`;
    const { c, events } = await undecryptable(h, bucket);
    // The function reports the failure (a permanent one) or throws it; either way nothing may be left.
    await h.runtime.invoke(fn, event(bucket, events)).catch(() => undefined);
    await h.stack.idle();
    // The copy was tried (an upload was initiated) and failed on the disabled key ...
    expect(h.lines.some((l) => l.startsWith(`POST ${bucket}.oss-${REGION}.aliyuncs.com/large.bin 200`))).toBe(true);
    expect(h.lines.some((l) => l.startsWith(`PUT ${bucket}.oss-${REGION}.aliyuncs.com/large.bin 409`))).toBe(true);
    // ... and aborted.
    expect((await c.listUploads({})).uploads ?? []).toEqual([]);
  });
});

describe('SSE-KMS, every function under its own policy', () => {
  it.each([
    ['bucket-encryption', (bucket: string) => ({ bucket })],
    ['backfill', (bucket: string) => ({ bucket, shards: 1 })],
  ] as const)('%s re-encrypts what a bucket held before under the KMS key (one copy, one multipart)', async (fn, event) => {
    const h = await startStack({
      SSE_ALGORITHM: 'KMS',
      KMS_KEY_ID: DEFAULT_ALIAS,
      MULTIPART_THRESHOLD_BYTES: '102400',
      PART_SIZE_BYTES: '102400',
    });
    const bucket = `kms-${fn}`;
    h.stack.triggers.object = false;
    const c = await h.plainBucket(bucket);
    try {
      await c.put('small.txt', Buffer.alloc(1024, 1));
      await c.put('large.bin', Buffer.alloc(250 * 1024, 2));
    } finally {
      h.stack.triggers.object = true;
    }
    await h.runtime.invoke(fn, event(bucket));
    await h.stack.idle();
    const keyId = aliasKeyId(h.stack, DEFAULT_ALIAS);
    for (const key of ['small.txt', 'large.bin']) {
      const head = (await c.head(key)).res.headers;
      expect(head['x-oss-server-side-encryption']).toBe('KMS');
      expect(head['x-oss-server-side-encryption-key-id']).toBe(keyId);
    }
    expect(h.runtime.failures()).toEqual([]);
  });
});

describe('the backfill fans out through FC', () => {
  it('with shards: 2, starts the second shard by invoking itself (fc:InvokeFunction on its own name) and encrypts every object', async () => {
    const h = await startStack();
    h.stack.triggers.object = false;
    const c = await h.plainBucket('fan-out-bucket');
    const keys = Array.from({ length: 40 }, (_, i) => `k/${String(i).padStart(3, '0')}`);
    try {
      for (const key of keys) await c.put(key, Buffer.from(key));
    } finally {
      h.stack.triggers.object = true;
    }
    await h.runtime.invoke('backfill', { bucket: 'fan-out-bucket', shards: 2 });
    await h.stack.idle();
    expect(h.lines.filter((l) => /^FC POST oss-sse-backfill 202 /.test(l)).length).toBeGreaterThanOrEqual(1);
    for (const key of keys) expect((await c.head(key)).res.headers['x-oss-server-side-encryption']).toBe('AES256');
    expect(h.runtime.failures()).toEqual([]);
  });
});

describe('the backfill in inventory mode, under its own policy (defaults: no DELETE_PLAINTEXT_VERSIONS)', () => {
  it('probes once on a scratch object it may delete (its delete is granted under .oss-sse/probe/ only), copies the plaintext rows with no HEAD, and leaves nothing behind', async () => {
    const h = await startStack();
    h.stack.triggers.object = false;
    const c = await h.plainBucket('inventory-backfill-bucket');
    const reports = await h.plainBucket('inventory-backfill-reports');
    const keys = ['a.txt', 'b.txt', 'c.txt'];
    const rows: InventoryObject[] = [];
    let from = 0;
    try {
      for (const key of keys)
        await c.put(key, Buffer.from(`plain ${key}`), { meta: { who: key }, headers: { 'x-oss-object-acl': 'private' } });
      for (const key of keys) {
        const head = (await c.head(key)).res.headers;
        const lastModified = new Date(head['last-modified'] as string).toISOString();
        rows.push({ key, size: Number(head['content-length']), etag: head.etag as string, lastModified, encrypted: 'false' });
      }
      const manifestKey = await writeInventoryReport(
        { putObject: async (_bucket: string, key: string, body: Buffer) => void (await reports.put(key, body)) },
        { destBucket: 'inventory-backfill-reports', sourceBucket: 'inventory-backfill-bucket', objects: rows },
      );
      from = h.lines.length;
      const result = await h.runtime.invoke('backfill', {
        bucket: 'inventory-backfill-bucket',
        inventory: { manifestKey, bucket: 'inventory-backfill-reports' },
        shards: 1,
      });
      expect(result).toMatchObject({ status: 'job-done', totals: { reencrypted: 3 } });
    } finally {
      h.stack.triggers.object = true;
    }
    await h.stack.idle();
    // No HEAD of a plaintext row: ACL and copy each (the one verifying HEAD of the sample aside).
    const during = h.lines.slice(from);
    const heads = keys.flatMap((key) =>
      during.filter((l) => l.startsWith(`HEAD inventory-backfill-bucket.oss-${REGION}.aliyuncs.com/${key} `)),
    );
    expect(heads.length).toBeLessThanOrEqual(1);
    expect(during.filter((l) => /^DELETE inventory-backfill-bucket\.\S+\/\.oss-sse\/probe\/\S+ 204 /.test(l))).toHaveLength(1);
    for (const key of keys) {
      const head = (await c.head(key)).res.headers;
      expect([head['x-oss-server-side-encryption'], head['x-oss-meta-who'], (await c.getACL(key)).acl]).toEqual(['AES256', key, 'private']);
    }
    expect((await c.getBucketVersions({ prefix: '.oss-sse/' })).objects ?? []).toEqual([]);
    expect(h.lines.filter((l) => /^RAM .* denied /.test(l))).toEqual([]);
    expect(h.runtime.failures()).toEqual([]);
  });
});
