/**
 * The RAM policy documents (deploy/ram/<functionName>.json): valid policies, no `*` action, up
 * to date with the code and s.yaml, and covering exactly what each function's code can call.
 *
 * "What the code can call" is derived, not listed: deploy/reachable-ops.ts bundles each
 * function with esbuild (metafile: the modules that ship) and resolves every method call in
 * those modules with the TypeScript checker; calls declared by OssPort / KmsPort / FcInvoker
 * are the port calls, OssPort methods map to their OssHttpClient `op` names, and
 * shared/ram/actions.ts maps ops to RAM actions. Two ops the code reaches only behind a
 * setting (CONFIG_GATES) are checked by running that code with the setting off and on.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FC_PORT_RAM, KMS_PORT_RAM, KMS_SSE_READ_ACTIONS, KMS_SSE_WRITE_ACTIONS, OSS_OP_RAM, ossOpRam } from '../../shared/ram/actions';
import {
  buildPolicy,
  CONFIG_GATES,
  PREFIX_SCOPES,
  type RamStatement,
  FUNCTION_KEYS,
  FUNCTIONS,
  policyActions,
  policyJson,
  policyProblems,
  type DeploySettings,
  type FunctionKey,
  type RamPolicy,
} from '../../deploy/ram-policy';
import {
  bundledSources,
  ossClientOps,
  ossMethodOps,
  portCalls,
  portMethods,
  untypedPortLikeCalls,
  type OpUse,
} from '../../deploy/reachable-ops';
import { RAM_DIR, REACHABLE_OPS_FILE, reachableOpsJson, renderPolicies, type RenderedPolicies } from '../../deploy/render-ram-policies';
import { REPO_ROOT } from '../../deploy/s-yaml';
import { functionSetup } from '../../shared/fc';
import type { KmsPort } from '../../shared/kms';
import { memoryLogger } from '../../shared/log';
import type { ObjectHead, OssPort } from '../../shared/oss/port';
import { policyFromConfig } from '../../shared/policy';
import { PROBE_PREFIX } from '../../shared/backfill/self-copy-probe';
import { reencryptObject } from '../../shared/reencrypt';
import { loadConfig, type Config } from '../../shared/validation/config';

/** Analysed by a test below, never run: two port calls, and a look-alike that is not one. */
export async function analysedSample(oss: OssPort, other: { getObject(key: string): void }, kms: KmsPort): Promise<void> {
  await oss.deleteBucketEncryption('b');
  other.getObject('k');
  await kms.describeKey('alias/x');
  await oss.headObject('b', 'k', 'v1');
}

let r: RenderedPolicies;
beforeAll(async () => {
  r = await renderPolicies({}, '*');
}, 120_000);

const committed = (fn: FunctionKey): unknown => JSON.parse(readFileSync(join(RAM_DIR, `${FUNCTIONS[fn]}.json`), 'utf8'));

/** The actions the code needs under `config`: straight from the table, independent of how buildPolicy groups them. */
function expectedActions(uses: readonly OpUse[], config: Config): string[] {
  const out = new Set<string>();
  const kmsModes = new Set<string>();
  for (const use of uses) {
    const gate = CONFIG_GATES.find((g) => g.port === use.port && g.op === use.op);
    if (gate && !gate.enabled(config) && use.calls.every((at) => gate.callSitesIn.some((f) => at.startsWith(`${f}:`)))) continue;
    if (use.port === 'oss') {
      const row = ossOpRam(use.op);
      expect(row, `a row for ${use.op}`).toBeDefined();
      for (const a of row?.actions ?? []) out.add(a);
      if (use.versioned) for (const a of row?.versioned ?? []) out.add(a);
      for (const m of row?.kms ?? []) kmsModes.add(m);
    } else {
      const rows = use.port === 'kms' ? KMS_PORT_RAM : FC_PORT_RAM;
      for (const a of Object.values(rows).find((x) => x.op === use.op)?.actions ?? []) out.add(a);
    }
  }
  if (config.SSE_ALGORITHM === 'KMS' && kmsModes.has('write')) for (const a of KMS_SSE_WRITE_ACTIONS) out.add(a);
  if (config.SSE_ALGORITHM === 'KMS' && kmsModes.has('read')) for (const a of KMS_SSE_READ_ACTIONS) out.add(a);
  if (config.COMPLIANCE === 'exact' && kmsModes.has('copy-source')) for (const a of KMS_SSE_READ_ACTIONS) out.add(a);
  return [...out].sort();
}

/** Every OSS action sits on resources of its level (objects `bucket/*`, buckets, the account). */
function levelProblems(policy: RamPolicy): string[] {
  const levelOf = new Map<string, string>();
  for (const row of Object.values(OSS_OP_RAM)) for (const a of [...row.actions, ...(row.versioned ?? [])]) levelOf.set(a, row.level);
  const problems: string[] = [];
  for (const s of policy.Statement) {
    for (const a of s.Action.filter((x) => x.startsWith('oss:'))) {
      const level = levelOf.get(a);
      const ok = s.Resource.every((res) =>
        level === 'object'
          ? /^acs:oss:\*:[^:]+:[^/:]+\/.+$/.test(res)
          : level === 'bucket'
            ? /^acs:oss:\*:[^:]+:[^/:]+$/.test(res)
            : /^acs:oss:\*:[^:]+:\*$/.test(res),
      );
      if (!ok) problems.push(`${a} (${level ?? 'no row'}) on ${s.Resource.join(', ')}`);
    }
  }
  return problems;
}

function variant(env: Record<string, string>, buckets?: Partial<Record<FunctionKey, string[]>>): DeploySettings {
  const base = r.settings;
  return { ...base, config: loadConfig(env), buckets: { ...base.buckets, ...buckets } };
}

describe('RAM policy documents', () => {
  it.each(FUNCTION_KEYS)('%s: deploy/ram/ holds a valid policy, current with the code and s.yaml', (fn) => {
    const doc = committed(fn);
    expect(policyProblems(doc)).toEqual([]);
    for (const a of policyActions(doc as RamPolicy)) expect(a).not.toContain('*');
    // Stale documents fail here: run `npx tsx deploy/render-ram-policies.ts`.
    expect(readFileSync(join(RAM_DIR, `${FUNCTIONS[fn]}.json`), 'utf8')).toBe(policyJson(r.policies[fn]));
  });

  it('deploy/reachable-ops.json, from which the local stack builds the same policies, is current with the code', () => {
    // Stale: run `npx tsx deploy/render-ram-policies.ts`.
    expect(readFileSync(REACHABLE_OPS_FILE, 'utf8')).toBe(reachableOpsJson(r.uses));
  });

  it.each(FUNCTION_KEYS)('%s: allows exactly the actions its code can call, on resources of the right kind', (fn) => {
    const policy = r.policies[fn];
    expect(policyActions(policy)).toEqual(expectedActions(r.uses[fn], r.settings.config));
    expect(levelProblems(policy)).toEqual([]);
  });

  it('derives a non-trivial call graph (the analysis is not silently empty)', () => {
    const ops = (fn: FunctionKey) => r.uses[fn].map((u) => `${u.port}:${u.op}`);
    expect(ops('object-encryption')).toEqual(expect.arrayContaining(['oss:HeadObject', 'oss:CopyObject', 'oss:InitiateMultipartUpload']));
    expect(ops('object-encryption')).not.toContain('oss:PutBucketEncryption');
    expect(ops('bucket-encryption')).toEqual(
      expect.arrayContaining(['oss:GetBucketEncryption', 'oss:PutBucketEncryption', 'oss:ListBuckets']),
    );
    expect(ops('backfill')).toEqual(expect.arrayContaining(['fc:InvokeFunction', 'oss:ListObjectsV2', 'oss:PutObject', 'oss:GetObject']));
    for (const fn of ['object-encryption', 'bucket-encryption'] as const) expect(ops(fn)).not.toContain('fc:InvokeFunction');
  });

  it('scopes each function to what it works on', () => {
    const obj = r.policies['object-encryption'];
    expect([...new Set(obj.Statement.flatMap((s) => s.Resource))]).toEqual(
      r.settings.buckets['object-encryption'].map((b) => `acs:oss:*:*:${b}/*`),
    );
    const invoke = r.policies.backfill.Statement.filter((s) => s.Action.includes('fc:InvokeFunction'));
    expect(invoke.map((s) => s.Resource)).toEqual([['acs:fc:*:*:functions/oss-sse-backfill']]);
    // Defaults: AES256, COMPLIANCE=any, DELETE_PLAINTEXT_VERSIONS=false → no KMS, no delete but
    // the backfill's self-copy probe's, of its own scratch objects only.
    for (const fn of FUNCTION_KEYS) {
      expect(policyActions(r.policies[fn]).filter((a) => a.startsWith('kms:'))).toEqual([]);
      const deletes = r.policies[fn].Statement.filter((s) => s.Action.some((a) => a.startsWith('oss:Delete')));
      for (const d of deletes) expect([fn, d.Resource.every((res) => res.endsWith(`/${PROBE_PREFIX}*`))]).toEqual(['backfill', true]);
    }
  });

  it('follows the configuration: KMS key, exact compliance, plaintext deletion, bucket globs, state bucket', () => {
    const env = {
      SSE_ALGORITHM: 'KMS',
      KMS_KEY_ID: 'alias/oss-sse',
      COMPLIANCE: 'exact',
      DELETE_PLAINTEXT_VERSIONS: 'true',
      BUCKET_INCLUDE: 'prod-*',
      STATE_BUCKET: 'ops-state',
      STATE_PREFIX: 'sse/',
    };
    const settings = {
      ...variant(env, { 'bucket-encryption': ['prod-*'], backfill: ['prod-*'] }),
      accountId: '1234567890123456',
      arnRegion: 'cn-hangzhou',
    };
    for (const fn of FUNCTION_KEYS) {
      const policy = buildPolicy(fn, r.uses[fn], settings);
      expect(policyProblems(policy)).toEqual([]);
      expect(levelProblems(policy)).toEqual([]);
      expect(policyActions(policy)).toEqual(expectedActions(r.uses[fn], settings.config));
      const actions = policyActions(policy);
      expect(actions).toEqual(expect.arrayContaining(['kms:DescribeKey', 'kms:Decrypt', 'oss:DeleteObject', 'oss:DeleteObjectVersion']));
      const keyStatement = policy.Statement.find((s) => s.Action.includes('kms:DescribeKey'));
      expect(keyStatement?.Resource).toEqual([
        'acs:kms:cn-hangzhou:1234567890123456:alias/oss-sse',
        'acs:kms:cn-hangzhou:1234567890123456:key/*',
      ]);
    }
    const backfill = buildPolicy('backfill', r.uses.backfill, settings);
    expect(policyActions(backfill)).toContain('kms:GenerateDataKey');
    expect(backfill.Statement.flatMap((s) => s.Resource)).toEqual(
      expect.arrayContaining(['acs:oss:*:1234567890123456:prod-*/*', 'acs:oss:*:1234567890123456:ops-state/sse/*']),
    );
    const key = buildPolicy('object-encryption', r.uses['object-encryption'], {
      ...settings,
      config: loadConfig({ ...env, KMS_KEY_ID: 'key-0123abcd' }),
    });
    expect(key.Statement.find((s) => s.Action.includes('kms:DescribeKey'))?.Resource).toEqual([
      'acs:kms:cn-hangzhou:1234567890123456:key/key-0123abcd',
    ]);
  });
});

describe('the derivation itself', () => {
  it('resolves calls by symbol: port calls count, look-alikes do not', () => {
    const calls = portCalls(['test/deploy/ram-policies.test.ts']).map((c) => `${c.port}.${c.method}${c.versioned ? '(v)' : ''}`);
    expect(calls).toEqual(['oss.deleteBucketEncryption', 'kms.describeKey', 'oss.headObject(v)']);
  });

  it('knows every port method and every op the OSS client sends', () => {
    const methodOps = ossMethodOps();
    for (const m of portMethods('oss')) expect(methodOps.get(m)?.length ?? 0, `OssHttpClient.${m} sends an op`).toBeGreaterThan(0);
    expect(ossClientOps().filter((op) => ossOpRam(op) === undefined)).toEqual([]);
    expect(portMethods('kms').filter((m) => KMS_PORT_RAM[m] === undefined)).toEqual([]);
    expect(portMethods('fc').filter((m) => FC_PORT_RAM[m] === undefined)).toEqual([]);
  });

  it.each(FUNCTION_KEYS)('%s: no call of a port-named method escapes the type checker', async (fn) => {
    expect(untypedPortLikeCalls(await bundledSources(`functions/${fn}/index.ts`))).toEqual([]);
  });
});

describe('config gates hold in the code', () => {
  it('each gate covers every call site of its op (but those a prefix scope grants apart)', () => {
    for (const gate of CONFIG_GATES) {
      const scope = PREFIX_SCOPES.find((p) => p.port === gate.port && p.op === gate.op);
      for (const fn of FUNCTION_KEYS) {
        for (const use of r.uses[fn].filter((u) => u.port === gate.port && u.op === gate.op)) {
          for (const at of use.calls)
            expect(
              [...gate.callSitesIn, ...(scope?.callSitesIn ?? [])].some((f) => at.startsWith(`${f}:`)),
              `${gate.op} at ${at}`,
            ).toBe(true);
        }
      }
    }
  });

  it("the backfill's self-copy probe may delete under its own prefix only, unless DELETE_PLAINTEXT_VERSIONS grants deletes anyway", () => {
    const deletes = (policy: RamPolicy): RamStatement[] => policy.Statement.filter((s) => s.Action.includes('oss:DeleteObject'));
    const off = deletes(buildPolicy('backfill', r.uses.backfill, variant({}, { backfill: ['data-*'] })));
    expect(off).toEqual([
      { Effect: 'Allow', Action: ['oss:DeleteObject', 'oss:DeleteObjectVersion'], Resource: [`acs:oss:*:*:data-*/${PROBE_PREFIX}*`] },
    ]);
    const on = deletes(buildPolicy('backfill', r.uses.backfill, variant({ DELETE_PLAINTEXT_VERSIONS: 'true' }, { backfill: ['data-*'] })));
    expect(on.map((s) => s.Resource)).toEqual([['acs:oss:*:*:data-*/*']]);
    // The other functions never probe: no delete at all with the gate off.
    for (const fn of ['object-encryption', 'bucket-encryption'] as const)
      expect(deletes(buildPolicy(fn, r.uses[fn], variant({})))).toEqual([]);
  });

  it('DescribeKey: only shared/fc.ts reaches checkSseKey, and it asks KMS only when a key is named', async () => {
    for (const fn of FUNCTION_KEYS) {
      for (const file of await bundledSources(`functions/${fn}/index.ts`)) {
        if (file === 'shared/fc.ts' || file === 'shared/kms/port.ts') continue;
        expect(readFileSync(join(REPO_ROOT, file), 'utf8'), file).not.toMatch(/checkSseKey\(/);
      }
    }
    const context = {
      requestId: 'r-1',
      credentials: { accessKeyId: 'STS.gate-test', accessKeySecret: 'gate-test-secret-000', securityToken: 'gate-test-token' },
      region: 'cn-hangzhou',
      function: { name: 'oss-sse-object-encryption', timeout: 60 },
    };
    // Port 9 (discard) on loopback: a KMS call would fail at once.
    const kmsDown = { KMS_ENDPOINT: 'http://127.0.0.1:9', STATE_BUCKET: 'gate-state' };
    await expect(
      functionSetup({ ...kmsDown, SSE_ALGORITHM: 'AES256' })
        .deps(context)
        .resolveKmsKey(),
    ).resolves.toBeUndefined();
    await expect(
      functionSetup({ ...kmsDown, SSE_ALGORITHM: 'KMS' })
        .deps(context)
        .resolveKmsKey(),
    ).resolves.toBeUndefined();
    await expect(
      functionSetup({ ...kmsDown, SSE_ALGORITHM: 'KMS', KMS_KEY_ID: 'alias/oss-sse' })
        .deps(context)
        .resolveKmsKey(),
    ).rejects.toThrow();
  });

  it('DeleteObject: re-encryption deletes the plaintext version only with DELETE_PLAINTEXT_VERSIONS=true', async () => {
    for (const setting of ['false', 'true']) {
      const called: string[] = [];
      const head = (versionId: string, encrypted: boolean): ObjectHead => ({
        bucket: 'b',
        key: 'k',
        versionId,
        etag: `"${versionId}"`,
        size: 10,
        crc64: '42',
        objectType: 'Normal',
        storageClass: 'Standard',
        contentHeaders: {},
        userMeta: {},
        taggingCount: 0,
        ...(encrypted ? { sse: { algorithm: 'AES256' as const } } : {}),
      });
      const answers: Record<string, (...args: unknown[]) => unknown> = {
        headObject: (_b, _k, versionId) => head(typeof versionId === 'string' ? versionId : 'v1', versionId === 'v2'),
        getObjectAcl: () => 'default',
        copyObject: () => ({ etag: '"v2"', versionId: 'v2' }),
        deleteObject: () => undefined,
      };
      const oss = new Proxy(
        {},
        {
          get:
            (_t, prop) =>
            async (...args: unknown[]) => {
              const name = String(prop);
              called.push(name);
              const answer = answers[name];
              if (!answer) throw new Error(`unexpected OSS call ${name}`);
              return answer(...args);
            },
        },
      ) as OssPort;
      const policy = policyFromConfig(loadConfig({ DELETE_PLAINTEXT_VERSIONS: setting }));
      const outcome = await reencryptObject(oss, policy, memoryLogger(), { bucket: 'b', key: 'k' });
      expect(outcome.action).toBe('reencrypted');
      expect(called.includes('deleteObject')).toBe(setting === 'true');
    }
  });
});

describe('the role trust policy', () => {
  it('lets Function Compute, and only it, assume the roles', () => {
    const doc = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy', 'fc-trust-policy.json'), 'utf8')) as {
      Version: string;
      Statement: Array<{ Effect: string; Action: string; Principal: { Service: string[] } }>;
    };
    expect(doc.Version).toBe('1');
    expect(doc.Statement).toEqual([{ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { Service: ['fc.aliyuncs.com'] } }]);
  });
});
