/**
 * Security: a wrong secret is reported clearly (the error code and a request id) by the object
 * function's logic and by the CLI, and no credential, STS token or request signature ever
 * shows up in a log line, an error message, a function result or a report.
 *
 * Distinctive secrets are used throughout; every Authorization header a client of ours sent
 * is captured through the OSS server's onRequest option and its signature part is searched
 * for as well. The bundles are the ones the global setup built (test/setup/build-dist.ts).
 */
import OSS from 'ali-oss';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKmsServer, type KmsServer } from '../../local/kms/server';
import { startOssServer, type OssServer } from '../../local/oss/server';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { memoryLogger } from '../../shared/log';
import { handleObjectEvent, TransientFailure, type ObjectEventSummary } from '../../shared/object-encryption';
import { OssHttpClient } from '../../shared/oss/http-client';
import { policyFromConfig } from '../../shared/policy';
import { signFcRequest, type Credentials } from '../../shared/signing';
import { loadConfig } from '../../shared/validation/config';

const root = join(__dirname, '..', '..');
const REGION = 'cn-hangzhou';
const AK = 'LTAI5tSecLeakAccessKeyId';
const SECRET = 'SecLeakSecretXq7Zr2Vw9MustNeverAppear';
const WRONG_SECRET = 'SecLeakWrongSecretKp4Ty8MustNeverAppear';
const STS_TOKEN = 'SecLeakStsTokenNf3Hd6MustNeverAppear';
/** The prefix of the token the stack hands its functions (local/stack.ts). */
const STACK_STS_PREFIX = 'local-sts-';

/** The run's scratch directory: the CLI's working directory, where its report files land. */
let work: string;
const cliPath = join(root, 'dist', 'cli', 'oss-sse.js');
const functionsDir = join(root, 'dist', 'functions');

/** Every piece of text anything produced: checked at the end for every secret below. */
const outputs: Array<{ what: string; text: string }> = [];
/** Authorization header values (and their signature parts) the servers saw. */
const signatures = new Set<string>();
const record = (what: string, text: string) => outputs.push({ what, text });

function captureAuthorization(headers: Record<string, string | string[] | undefined>): void {
  const auth = headers['authorization'];
  if (typeof auth !== 'string') return;
  // `OSS ak:sig`, `OSS4-HMAC-SHA256 Credential=…,Signature=hex`
  const sig = /Signature=([0-9a-f]+)/.exec(auth)?.[1] ?? /^OSS [^:]+:(\S+)$/.exec(auth)?.[1];
  if (sig) signatures.add(sig);
}

// ---- the CLI ----------------------------------------------------------------------------

interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string | undefined>): Promise<RunResult> {
  const childEnv: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(ALIBABA_CLOUD_|OSS_|KMS_|FC_|SSE_|COMPLIANCE|BUCKET_|KEY_EXCLUDE|OVERRIDE_|MULTIPART_|PART_|PRESERVE_|DELETE_)/.test(k))
      childEnv[k] = v;
  }
  for (const [k, v] of Object.entries({
    ALIBABA_CLOUD_ACCESS_KEY_ID: AK,
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
    ALIBABA_CLOUD_REGION_ID: REGION,
    ...env,
  })) {
    if (v !== undefined) childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: work, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => {
      record(`cli ${args.join(' ')} stdout`, stdout);
      record(`cli ${args.join(' ')} stderr`, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

// ---- servers ----------------------------------------------------------------------------

/** A bare OSS + KMS pair (no functions) whose OSS server reports every verified request. */
let oss: OssServer;
let kms: KmsServer;
/** The stack with the bundled functions running. */
let stack: LocalStack;
const stackLines: string[] = [];

const userClient = (endpoint: string, bucket?: string) =>
  new OSS({
    endpoint,
    region: `oss-${REGION}`,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    ...(bucket ? { bucket } : {}),
    timeout: 10_000,
  } as OSS.Options);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'oss-sse-security-'));
  const serverLog = (line: string) => record('bare server log', line);
  kms = await startKmsServer({ region: REGION, credentials: { [AK]: SECRET }, log: serverLog });
  oss = await startOssServer({
    region: REGION,
    credentials: { [AK]: SECRET },
    storage: { kind: 'memory' },
    kms: kms.keys,
    log: serverLog,
    onRequest: (req) => captureAuthorization(req.headers),
  });
  const c = userClient(oss.url);
  for (const b of ['sec-plain', 'sec-cli']) await c.putBucket(b);
  const plain = userClient(oss.url, 'sec-plain');
  const cli = userClient(oss.url, 'sec-cli');
  for (let i = 0; i < 3; i++) {
    await plain.put(`p/${i}.txt`, Buffer.from(`plaintext ${i}`));
    await cli.put(`p/${i}.txt`, Buffer.from(`plaintext ${i}`));
  }

  stack = await startLocalStack({
    region: REGION,
    accessKeyId: AK,
    accessKeySecret: SECRET,
    functionsDir,
    functionTimeoutSeconds: 10,
    asyncRetry: { maxAttempts: 2, baseDelayMs: 10 },
    log: (line) => {
      stackLines.push(line);
      record('stack log', line);
    },
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await oss?.close();
  await kms?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

// ---- the object function's logic ----------------------------------------------------------

function putEvent(bucket: string, key: string): unknown {
  const ev = JSON.parse(readFileSync(join(root, 'test', 'fixtures', 'events', 'oss-trigger-template.json'), 'utf8')) as {
    events: Array<{ eventName: string; oss: { bucket: { name: string; arn: string }; object: { key?: string } } }>;
  };
  const r = ev.events[0];
  if (!r) throw new Error('the fixture has no record');
  r.eventName = 'ObjectCreated:PutObject';
  r.oss.bucket.name = bucket;
  r.oss.bucket.arn = `acs:oss:${REGION}:${oss.events.accountId}:${bucket}`;
  r.oss.object.key = key;
  return ev;
}

async function runObjectFunction(creds: Credentials, event: unknown, env: Record<string, string> = {}) {
  // No scrubbing secrets given to the logger: what is checked is what the code writes.
  const log = memoryLogger();
  const client = new OssHttpClient({
    endpoint: oss.url,
    region: REGION,
    credentials: () => creds,
    retry: { maxAttempts: 2, baseMs: 1, capMs: 5 },
  });
  let summary: ObjectEventSummary;
  try {
    summary = await handleObjectEvent(event, { oss: client, policy: policyFromConfig(loadConfig(env)), log });
  } catch (e) {
    if (!(e instanceof TransientFailure)) throw e;
    summary = e.summary;
    record('object function error', `${e.message} ${String(e.stack)}`);
  } finally {
    client.destroy();
  }
  record('object function result', JSON.stringify(summary));
  for (const l of log.lines) record('object function log', l);
  return { summary, lines: log.lines };
}

describe('a wrong secret is surfaced clearly', () => {
  it('the object function logic: the record fails naming SignatureDoesNotMatch and the OSS request id', async () => {
    const { summary, lines } = await runObjectFunction(
      { accessKeyId: AK, accessKeySecret: WRONG_SECRET },
      putEvent('sec-plain', 'p/0.txt'),
    );
    expect(summary.records).toHaveLength(1);
    const r = summary.records[0] as { action: string; error?: { code?: string; requestId?: string; message?: string } };
    expect(r.action).toBe('failed');
    expect(JSON.stringify(r)).toContain('SignatureDoesNotMatch');
    expect(JSON.stringify(r)).toMatch(/[0-9A-F]{24}/);
    expect(lines.join('\n')).toContain('SignatureDoesNotMatch');
    // Nothing changed: the object is still plaintext.
    const h = await userClient(oss.url, 'sec-plain').head('p/0.txt');
    expect((h.res.headers as Record<string, string | undefined>)['x-oss-server-side-encryption']).toBeUndefined();
  });

  it('the object function logic, with an STS token and the right secret, re-encrypts (control for the leak check)', async () => {
    const { summary } = await runObjectFunction(
      { accessKeyId: AK, accessKeySecret: SECRET, securityToken: STS_TOKEN },
      putEvent('sec-plain', 'p/1.txt'),
    );
    expect(summary.records.map((r) => r.action)).toEqual(['reencrypted']);
  });

  it('the object function logic, a KMS key that does not exist: fails without leaking', async () => {
    const { summary } = await runObjectFunction(
      { accessKeyId: AK, accessKeySecret: SECRET, securityToken: STS_TOKEN },
      putEvent('sec-plain', 'p/2.txt'),
      {
        SSE_ALGORITHM: 'KMS',
        KMS_KEY_ID: 'sec-missing-key-0000',
      },
    );
    expect(summary.records.map((r) => r.action)).toEqual(['failed']);
  });

  it('the CLI scan with a wrong secret: exit non-zero, stderr names SignatureDoesNotMatch and a request id', async () => {
    const local = await startLocalStack({
      region: REGION,
      accessKeyId: AK,
      accessKeySecret: SECRET,
      enforce: false,
      log: (l) => record('cli stack log', l),
    });
    try {
      await userClient(local.oss.url).putBucket('sec-scan');
      const r = await runCli(['scan', 'sec-scan'], {
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: WRONG_SECRET,
        OSS_ENDPOINT: local.oss.url,
        KMS_ENDPOINT: local.kms.url,
      });
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toContain('SignatureDoesNotMatch');
      expect(r.stderr).toMatch(/[0-9A-F]{24}/);
    } finally {
      await local.close();
    }
  });
});

// ---- full flows -------------------------------------------------------------------------

describe('no credential, token or signature anywhere', () => {
  it('the stack with the bundled functions: uploads re-encrypted, a bucket created, a backfill through the FC endpoint', async () => {
    const c = userClient(stack.oss.url);
    await c.putBucket('sec-flow');
    const b = userClient(stack.oss.url, 'sec-flow');
    for (let i = 0; i < 3; i++) await b.put(`u/${i}.txt`, Buffer.from(`upload ${i}`));
    await stack.idle();
    const h = await b.head('u/0.txt');
    expect((h.res.headers as Record<string, string | undefined>)['x-oss-server-side-encryption']).toBeDefined();

    // Plaintext that predates the trigger, then the backfill function invoked through FC.
    stack.triggers.object = false;
    for (let i = 0; i < 3; i++) await b.put(`old/${i}.txt`, Buffer.from(`old ${i}`));
    stack.triggers.object = true;
    const fc = stack.fc;
    if (!fc) throw new Error('no FC endpoint');
    const path = '/2023-03-30/functions/oss-sse-backfill/invocations';
    const payload = JSON.stringify({ bucket: 'sec-flow' });
    const headers = signFcRequest(
      { method: 'POST', path, headers: { 'content-type': 'application/json', 'x-fc-invocation-type': 'Sync' }, body: payload },
      { accessKeyId: AK, accessKeySecret: SECRET, securityToken: STS_TOKEN },
    );
    const res = await fetch(`${fc.url}${path}`, { method: 'POST', headers, body: payload });
    const text = await res.text();
    record('fc backfill response', text);
    expect(res.status, text).toBe(200);
    await stack.idle();
    const old = await b.head('old/2.txt');
    expect((old.res.headers as Record<string, string | undefined>)['x-oss-server-side-encryption']).toBeDefined();

    // An FC call with a wrong secret and a function failure (a bucket that does not exist).
    const bad = signFcRequest(
      { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: payload },
      { accessKeyId: AK, accessKeySecret: WRONG_SECRET },
    );
    const refused = await fetch(`${fc.url}${path}`, { method: 'POST', headers: bad, body: payload });
    record('fc refused response', await refused.text());
    expect(refused.status).toBe(403);
    const missing = JSON.stringify({ bucket: 'sec-no-such-bucket' });
    const failing = await fetch(`${fc.url}${path}`, {
      method: 'POST',
      headers: signFcRequest(
        { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: missing },
        { accessKeyId: AK, accessKeySecret: SECRET },
      ),
      body: missing,
    });
    record('fc failing response', await failing.text());

    await stack.idle();
    record('runtime failures', JSON.stringify(stack.runtime?.failures() ?? []));
    // The function log lines come through the worker's stdout, after the results: wait for them.
    await expect.poll(() => stackLines.length, { timeout: 5_000, interval: 10 }).toBeGreaterThan(10);
  });

  it('the CLI: scan and backfill with --report and --verbose, and its error paths', async () => {
    const env = { OSS_ENDPOINT: oss.url, KMS_ENDPOINT: kms.url };
    const report = join(work, 'backfill.report.json');
    const runs = [
      await runCli(['scan', 'sec-cli', '--verbose'], env),
      await runCli(['scan', 'sec-cli', '--verbose', '--json'], { ...env, ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN }),
      await runCli(['backfill', 'sec-cli', '--verbose', '--report', report], { ...env, ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN }),
      await runCli(['scan', 'sec-cli', '--verbose'], { ...env, ALIBABA_CLOUD_ACCESS_KEY_SECRET: WRONG_SECRET }),
      await runCli(['backfill', 'sec-cli', '--verbose', '--algorithm', 'KMS', '--kms-key-id', 'alias/sec-missing-key'], {
        ...env,
        ALIBABA_CLOUD_SECURITY_TOKEN: STS_TOKEN,
      }),
      await runCli(['backfill', 'sec-cli-missing', '--verbose'], env),
    ];
    expect(runs[2]?.code, runs[2]?.stderr).toBe(0);
    expect(runs.slice(3).map((r) => r.code === 0)).toEqual([false, false, false]);
    expect(existsSync(report)).toBe(true);
    for (const f of readdirSync(work)) {
      if (f.startsWith('backfill.report')) record(`report file ${f}`, readFileSync(join(work, f), 'utf8'));
    }
    expect(signatures.size).toBeGreaterThan(10);
  });

  it('sweep: none of the secrets, tokens or captured signatures appears in any output', () => {
    expect(outputs.length).toBeGreaterThan(20);
    const needles = [SECRET, WRONG_SECRET, STS_TOKEN, STACK_STS_PREFIX, ...signatures];
    const leaks: string[] = [];
    for (const { what, text } of outputs) {
      for (const n of needles) if (text.includes(n)) leaks.push(`${what}: contains ${n.slice(0, 6)}…`);
    }
    expect(leaks).toEqual([]);
  });
});
