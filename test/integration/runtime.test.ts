/** The FC-like local runtime driving real esbuild bundles of small fixture handlers. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createRuntime,
  FunctionError,
  type FailureRecord,
  type FunctionConfig,
  type FunctionRuntime,
  type RuntimeOptions,
} from '../../local/runtime';
import { bundleFunctionFixtures, type FunctionFixture } from '../helpers/function-fixtures';

const CREDS = {
  accessKeyId: 'LTAI5tRuntimeTestKeyId01',
  accessKeySecret: 'RuntimeTestSecretThatMustNeverBeLogged01',
  securityToken: 'CAIS-RuntimeTestStsTokenThatMustNeverBeLogged',
};

let dir = '';
const bundle = (name: FunctionFixture): string => join(dir, name, 'index.js');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'oss-sse-runtime-'));
  await bundleFunctionFixtures(dir);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const open: FunctionRuntime[] = [];
afterEach(async () => {
  for (const r of open.splice(0)) await r.close();
});

function fn(name: string, fixture: FunctionFixture, extra: Partial<FunctionConfig> = {}): FunctionConfig {
  return { name, bundlePath: bundle(fixture), env: {}, timeoutSeconds: 5, ...extra };
}

function start(functions: FunctionConfig[], extra: Partial<RuntimeOptions> = {}): { runtime: FunctionRuntime; lines: string[] } {
  const lines: string[] = [];
  const runtime = createRuntime({
    functions,
    region: 'cn-hangzhou',
    accountId: '1234567890123456',
    credentials: () => CREDS,
    log: (line) => lines.push(line),
    asyncRetry: { maxAttempts: 2, baseDelayMs: 5 },
    ...extra,
  });
  open.push(runtime);
  return { runtime, lines };
}

async function invokeError(p: Promise<unknown>): Promise<FunctionError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FunctionError);
  return err as FunctionError;
}

interface EchoResult {
  isBuffer: boolean;
  eventText: string;
  context: Record<string, unknown> & { requestId: string; loggerMethods: string[]; hasRemainingTime: boolean };
  env: { coldStart?: string; now?: string; parentOnly?: string; functionName?: string };
}

describe('invocation', () => {
  it('hands the handler a Buffer of the event JSON and an FC-shaped context', async () => {
    const { runtime } = start([fn('echo', 'echo', { timeoutSeconds: 7, memoryMB: 256, service: { name: 'oss-sse' } })]);
    const event = { events: [{ eventName: 'ObjectCreated:PutObject', oss: { object: { key: 'a/b.txt' } } }] };
    const r = (await runtime.invoke('echo', event, { requestId: 'req-context-1' })) as EchoResult;
    expect(r.isBuffer).toBe(true);
    expect(JSON.parse(r.eventText)).toEqual(event);
    expect(r.context).toEqual({
      requestId: 'req-context-1',
      credentials: CREDS,
      region: 'cn-hangzhou',
      accountId: '1234567890123456',
      function: { name: 'echo', handler: 'index.handler', memory: 256, timeout: 7 },
      service: { name: 'oss-sse' },
      loggerMethods: ['debug', 'error', 'info', 'warn'],
      hasRemainingTime: false,
    });
    // String and Buffer events arrive byte for byte.
    const raw = (await runtime.invoke('echo', Buffer.from('{"x":1}'))) as EchoResult;
    expect(raw.eventText).toBe('{"x":1}');
    expect(((await runtime.invoke('echo', 'plain text')) as EchoResult).eventText).toBe('plain text');
  });

  it('gives each function its own environment and leaves the test process untouched', async () => {
    process.env.OSS_SSE_RUNTIME_TEST_PARENT_ONLY = 'parent';
    const before = { ...process.env };
    try {
      const { runtime } = start([
        fn('echo-a', 'echo', { env: { FIXTURE_VALUE: 'alpha' } }),
        fn('echo-b', 'echo', { env: { FIXTURE_VALUE: 'beta' } }),
      ]);
      const [a, b] = (await Promise.all([runtime.invoke('echo-a', {}), runtime.invoke('echo-b', {})])) as [EchoResult, EchoResult];
      expect(a.env).toEqual({ coldStart: 'alpha', now: 'alpha', functionName: 'echo-a' });
      expect(b.env).toEqual({ coldStart: 'beta', now: 'beta', functionName: 'echo-b' });
      expect(process.env.FIXTURE_VALUE).toBeUndefined();
      expect(process.env).toEqual(before);
    } finally {
      delete process.env.OSS_SSE_RUNTIME_TEST_PARENT_ONLY;
    }
  });

  it('rejects a sync invocation with FC error fields when the handler throws', async () => {
    const counterFile = join(dir, 'sync-error.count');
    const { runtime } = start([fn('flaky', 'flaky')]);
    const err = await invokeError(runtime.invoke('flaky', { counterFile, failTimes: 99 }, { requestId: 'req-sync-err' }));
    expect(err.kind).toBe('handler');
    expect(err.errorType).toBe('TransientError');
    expect(err.errorMessage).toBe('attempt 1 failed');
    expect(err.requestId).toBe('req-sync-err');
    expect(err.stackTrace?.length).toBeGreaterThan(0);
    expect(err.toJSON()).toEqual({ errorMessage: 'attempt 1 failed', errorType: 'TransientError', stackTrace: err.stackTrace });
    // Sync invocations are never retried.
    expect(await readFile(counterFile, 'utf8')).toBe('1');
  });

  it('rejects an unknown function', async () => {
    const { runtime } = start([fn('echo', 'echo')]);
    const err = await invokeError(runtime.invoke('nope', {}, { async: true }));
    expect(err.kind).toBe('not-found');
    expect(err.errorType).toBe('FunctionNotFound');
  });
});

describe('async invocation', () => {
  it('retries a failing handler with backoff until it succeeds', async () => {
    const counterFile = join(dir, 'retry-ok.count');
    const { runtime, lines } = start([fn('flaky', 'flaky')], { asyncRetry: { maxAttempts: 3, baseDelayMs: 5 } });
    const { requestId } = await runtime.invoke('flaky', { counterFile, failTimes: 2 }, { async: true });
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    await runtime.idle();
    expect(await readFile(counterFile, 'utf8')).toBe('3');
    expect(runtime.failures()).toEqual([]);
    const retries = lines.filter((l) => l.includes(requestId) && l.includes('retrying in'));
    expect(retries.map((l) => /retrying in (\d+)ms/.exec(l)?.[1])).toEqual(['5', '10']);
  });

  it('records a failure after 1 + maxAttempts tries', async () => {
    const counterFile = join(dir, 'retry-fail.count');
    const seen: FailureRecord[] = [];
    const { runtime } = start([fn('flaky', 'flaky')], { onFailure: (r) => seen.push(r) });
    const event = { counterFile, failTimes: 99 };
    const { requestId } = await runtime.invoke('flaky', event, { async: true });
    await runtime.idle();
    expect(await readFile(counterFile, 'utf8')).toBe('3');
    const failures = runtime.failures();
    expect(failures).toHaveLength(1);
    const [f] = failures;
    expect(f).toMatchObject({
      requestId,
      functionName: 'flaky',
      attempts: 3,
      error: { errorType: 'TransientError', errorMessage: 'attempt 3 failed' },
    });
    expect(JSON.parse(f?.event.toString('utf8') ?? '')).toEqual(event);
    expect(seen).toEqual(failures);
  });
});

describe('cold start', () => {
  it('fails every invocation with the load error and logs it once', async () => {
    const { runtime, lines } = start([
      fn('bad-config', 'config-check', { env: { SSE_ALGORITHM: 'DES' } }),
      fn('good-config', 'config-check', { env: { SSE_ALGORITHM: 'SM4' } }),
    ]);
    for (let i = 0; i < 3; i++) {
      const err = await invokeError(runtime.invoke('bad-config', {}));
      expect(err.kind).toBe('init');
      expect(err.errorMessage).toBe('SSE_ALGORITHM must be AES256, KMS or SM4 (got "DES")');
      expect(err.message).toContain('bad-config failed at cold start');
    }
    // Same bundle, its own environment: loads fine.
    expect(await runtime.invoke('good-config', {})).toEqual({ algorithm: 'SM4' });
    const coldStartLines = lines.filter((l) => l.includes('cold start failed'));
    expect(coldStartLines).toHaveLength(1);
    expect(coldStartLines[0]).toContain('[bad-config]');
    expect(coldStartLines[0]).toContain('SSE_ALGORITHM');
  });
});

describe('timeout', () => {
  it('fails invocations in flight, terminates the instance and cold-starts a new one', async () => {
    const { runtime, lines } = start([fn('slow', 'slow', { timeoutSeconds: 0.3 })]);
    const first = (await runtime.invoke('slow', { ms: 0 })) as { instanceId: string };
    const stuck = invokeError(runtime.invoke('slow', { ms: 10_000 }, { requestId: 'req-stuck' }));
    // Shares the instance; FC kills the instance, so it fails too.
    const neighbour = invokeError(runtime.invoke('slow', { ms: 5_000 }, { requestId: 'req-neighbour' }));
    const [err, other] = await Promise.all([stuck, neighbour]);
    expect(err.kind).toBe('timeout');
    expect(err.errorMessage).toBe('Function timed out after 0.3 seconds');
    expect(other.kind).toBe('timeout');
    expect(other.requestId).toBe('req-neighbour');
    expect(lines.some((l) => l.includes('req-stuck') && l.includes('timed out'))).toBe(true);
    const after = (await runtime.invoke('slow', { ms: 0 })) as { instanceId: string };
    expect(after.instanceId).toBeTruthy();
    expect(after.instanceId).not.toBe(first.instanceId);
  });
});

describe('crash', () => {
  it('fails the invocation when the instance exits and recovers on the next one', async () => {
    const { runtime, lines } = start([fn('slow', 'slow')]);
    const err = await invokeError(runtime.invoke('slow', { ms: 0, exitCode: 3 }));
    expect(err.kind).toBe('crash');
    expect(err.errorType).toBe('ProcessExited');
    expect(err.errorMessage).toContain('exit code 3');
    expect(lines.some((l) => l.includes('[runtime] instance exited unexpectedly'))).toBe(true);
    expect(await runtime.invoke('slow', { ms: 0 })).toMatchObject({ instanceId: expect.any(String) });
  });
});

describe('logs', () => {
  it('forwards console and context.logger lines with the function name and request id', async () => {
    const { runtime, lines } = start([fn('echo', 'echo'), fn('slow', 'slow')]);
    await runtime.invoke('echo', {}, { requestId: 'req-log-1' });
    expect(lines).toContainEqual(
      expect.stringMatching(/^\[echo\] \d{4}-\d\d-\d\dT[\d:.]+Z req-log-1 \[INFO\] console line for req-log-1$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^\[echo\] \S+ req-log-1 \[WARN\] logger line \{ n: 1 \}$/));
    // Raw stdout and stderr travel apart from the result, yet the result waits for them:
    // read at once, with no wait, even a last line without its newline.
    expect(lines).toContainEqual(expect.stringMatching(/\[INFO\] raw stdout line for req-log-1$/));
    expect(lines).toContainEqual(expect.stringMatching(/\[ERROR\] raw stderr tail for req-log-1$/));
    expect(lines.filter((l) => l.includes('output-end'))).toEqual([]);
    // Concurrent invocations on one instance keep their own request ids.
    await Promise.all([
      runtime.invoke('slow', { ms: 60, tag: 'A' }, { requestId: 'req-A' }),
      runtime.invoke('slow', { ms: 20, tag: 'B' }, { requestId: 'req-B' }),
    ]);
    expect(lines.find((l) => l.endsWith('done A'))).toContain(' req-A [INFO] ');
    expect(lines.find((l) => l.endsWith('done B'))).toContain(' req-B [INFO] ');
  });

  it('keeps credentials out of the lines the runtime writes', async () => {
    const counterFile = join(dir, 'leak.count');
    const { runtime, lines } = start([fn('flaky', 'flaky'), fn('bad-config', 'config-check', { env: { SSE_ALGORITHM: 'DES' } })]);
    await runtime.invoke('flaky', { counterFile, failTimes: 99, leakSecret: true }, { async: true });
    await runtime.idle();
    await invokeError(runtime.invoke('bad-config', {}));
    // The handler put the secret in its error; the failure record keeps it, the log must not.
    expect(runtime.failures()[0]?.error.errorMessage).toContain(CREDS.accessKeySecret);
    const runtimeLines = lines.filter((l) => l.includes('[runtime]'));
    expect(runtimeLines.some((l) => l.includes('async invocation failed after 3 attempts'))).toBe(true);
    expect(runtimeLines.some((l) => l.includes('[redacted]'))).toBe(true);
    for (const l of lines) {
      expect(l).not.toContain(CREDS.accessKeySecret);
      expect(l).not.toContain(CREDS.securityToken);
      expect(l).not.toContain(CREDS.accessKeyId);
    }
  });
});
