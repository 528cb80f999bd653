/**
 * The RAM policy document of each function's role, built from what its code can call
 * (deploy/reachable-ops.ts), the op → action table (shared/ram/actions.ts) and s.yaml:
 *
 * - OSS object and bucket actions on the buckets the function works on: the object function
 *   on the buckets its OSS triggers watch (BUCKET_INCLUDE's globs too if it has an
 *   EventBridge trigger), the bucket function and the backfill on BUCKET_INCLUDE's globs
 *   (every bucket when it is empty); the backfill also reads and writes its job state under
 *   STATE_BUCKET/STATE_PREFIX. ListBuckets has no narrower resource than the account.
 * - KMS: kms:DescribeKey on the configured key when one is named; what SSE-KMS needs
 *   (kms:GenerateDataKey, kms:Decrypt) when SSE_ALGORITHM=KMS; kms:Decrypt on any key when
 *   COMPLIANCE=exact may re-encrypt objects under another key.
 * - FC: fc:InvokeFunction on the backfill itself (continuations and shards).
 *
 * Config gates drop an op the code reaches only behind a setting that is off (CONFIG_GATES).
 * Every action comes from an op the code calls; nothing is added by hand per function.
 */
import { bucketSelected, policyFromConfig } from '../shared/policy';
import type { Config } from '../shared/validation/config';
import {
  KMS_PORT_RAM,
  FC_PORT_RAM,
  KMS_SSE_READ_ACTIONS,
  KMS_SSE_WRITE_ACTIONS,
  ossOpRam,
  type OssResourceLevel,
} from '../shared/ram/actions';
import type { OpUse, PortName } from './reachable-ops';
import { PROBE_PREFIX } from '../shared/backfill/self-copy-probe';

/** The functions s.yaml deploys: source folder name → FC function name. */
export const FUNCTIONS = {
  'bucket-encryption': 'oss-sse-bucket-encryption',
  'object-encryption': 'oss-sse-object-encryption',
  backfill: 'oss-sse-backfill',
} as const;
export type FunctionKey = keyof typeof FUNCTIONS;
export const FUNCTION_KEYS = Object.keys(FUNCTIONS) as FunctionKey[];

export interface RamStatement {
  Effect: 'Allow';
  Action: string[];
  Resource: string[];
}
export interface RamPolicy {
  Version: '1';
  Statement: RamStatement[];
}

/**
 * An op the code reaches only when a setting is on. `callSitesIn`: the files whose calls the
 * gate is about; a call anywhere else makes the gate not apply (the op is then always granted),
 * so a new ungated call can never be left out of the policy.
 */
export interface ConfigGate {
  port: PortName;
  op: string;
  callSitesIn: readonly string[];
  enabled: (config: Config) => boolean;
  why: string;
}

export const CONFIG_GATES: readonly ConfigGate[] = [
  {
    port: 'oss',
    op: 'DeleteObject',
    callSitesIn: ['shared/reencrypt.ts'],
    enabled: (c) => c.DELETE_PLAINTEXT_VERSIONS,
    why: 'the only delete removes the plaintext version after a verified copy, with DELETE_PLAINTEXT_VERSIONS=true',
  },
  {
    port: 'kms',
    op: 'DescribeKey',
    callSitesIn: ['shared/kms/port.ts'],
    enabled: (c) => c.SSE_ALGORITHM === 'KMS' && c.KMS_KEY_ID !== undefined,
    why: 'shared/fc.ts resolveKmsKey asks KMS (checkSseKey → describeKey) only when the policy names a key',
  },
];

/**
 * An op the code reaches only on keys of its own under `prefix`: when every call site left
 * after the gates is in `callSitesIn`, it is granted on `<bucket>/<prefix>*` of the function's
 * buckets only, not on every object. A call anywhere else grants it on every object as usual.
 */
export interface PrefixScope {
  port: PortName;
  op: string;
  callSitesIn: readonly string[];
  prefix: string;
  why: string;
}

export const PREFIX_SCOPES: readonly PrefixScope[] = [
  {
    port: 'oss',
    op: 'DeleteObject',
    callSitesIn: ['shared/backfill/self-copy-probe.ts'],
    prefix: PROBE_PREFIX,
    why: "the backfill's self-copy probe deletes its own scratch object (each version it made), nothing else",
  },
];

/** What the policies depend on besides the code: from s.yaml, rendered. */
export interface DeploySettings {
  /** The account in every ARN: digits, or `*` for documents that fit any account. */
  accountId: string;
  /** vars.region, the region the functions deploy to. */
  region: string;
  /**
   * The region in KMS and FC ARNs: vars.region when the documents are pinned to an account,
   * `*` in the generic ones (deploy/ram/), which must also work for a region set at deploy time
   * through ALIBABA_CLOUD_REGION_ID. (OSS ARNs always use `*`: buckets are named account-wide.)
   */
  arnRegion: string;
  config: Config;
  /** Buckets (or globs) each function works on. */
  buckets: Record<FunctionKey, string[]>;
  functionNames: Record<FunctionKey, string>;
}

/** RAM resource patterns know `*` only for sure: a `?` glob widens to `*` (never narrower than the code's own filter). */
const ramGlob = (glob: string): string => glob.replace(/\?/g, '*');

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

/** The KMS key ARNs the configured key can be, as RAM resources. */
export function kmsKeyResources(settings: DeploySettings): string[] {
  const { arnRegion: region, accountId: acct } = settings;
  const key = settings.config.KMS_KEY_ID;
  const anyKey = `acs:kms:${region}:${acct}:key/*`;
  if (key === undefined) return [anyKey]; // OSS's managed key for SSE-KMS: its id is not known in advance
  if (key.startsWith('acs:kms:')) {
    // An alias ARN names the alias; KMS authorizes the key behind it, whose id we do not know.
    const m = /^acs:kms:([^:]+):([^:]+):alias\//.exec(key);
    return m ? [`acs:kms:${m[1]}:${m[2]}:key/*`, key] : [key];
  }
  if (key.startsWith('alias/')) return [anyKey, `acs:kms:${region}:${acct}:${key}`];
  return [`acs:kms:${region}:${acct}:key/${key}`];
}

/** The call sites of this op a gate that is off does not remove (none: the op is not granted). */
export function ungatedCalls(use: OpUse, config: Config): string[] {
  const gate = CONFIG_GATES.find((g) => g.port === use.port && g.op === use.op);
  if (!gate || gate.enabled(config)) return use.calls;
  return use.calls.filter((at) => !gate.callSitesIn.includes(callFile(at)));
}

/** The prefix the op is granted on, when every call site left is one a PrefixScope covers. */
export function scopedPrefix(use: OpUse, calls: readonly string[]): string | undefined {
  const scope = PREFIX_SCOPES.find((p) => p.port === use.port && p.op === use.op);
  if (!scope || calls.length === 0 || !calls.every((at) => scope.callSitesIn.includes(callFile(at)))) return undefined;
  return scope.prefix;
}

/** `shared/reencrypt.ts:42` → `shared/reencrypt.ts` (deploy/reachable-ops.json keeps files only). */
const callFile = (at: string): string => at.replace(/:\d+$/, '');

/** The uses as deploy/reachable-ops.json keeps them: call sites reduced to their files, so a moved line does not make it stale. */
export function usesByFile(uses: readonly OpUse[]): OpUse[] {
  return uses.map((u) => ({ ...u, calls: [...new Set(u.calls.map(callFile))].sort() }));
}

/** The policy document for one function's role. */
export function buildPolicy(fn: FunctionKey, uses: readonly OpUse[], settings: DeploySettings): RamPolicy {
  const { accountId: acct, arnRegion: region, config } = settings;
  const active = uses.map((u) => ({ ...u, calls: ungatedCalls(u, config) })).filter((u) => u.calls.length > 0);
  const oss: Record<OssResourceLevel, Set<string>> = { object: new Set(), bucket: new Set(), service: new Set() };
  // Object actions granted only under a prefix (PREFIX_SCOPES), by prefix.
  const scoped = new Map<string, Set<string>>();
  const kmsModes = new Set<string>();
  const statements: RamStatement[] = [];
  const kmsStatements: RamStatement[] = [];
  let invoke: string[] = [];
  for (const use of active) {
    if (use.port === 'oss') {
      const row = ossOpRam(use.op);
      if (!row) throw new Error(`shared/ram/actions.ts has no row for OSS op ${use.op}`);
      const prefix = row.level === 'object' ? scopedPrefix(use, use.calls) : undefined;
      let into = oss[row.level];
      if (prefix !== undefined) {
        into = scoped.get(prefix) ?? new Set<string>();
        scoped.set(prefix, into);
      }
      for (const a of row.actions) into.add(a);
      if (use.versioned) for (const a of row.versioned ?? []) into.add(a);
      for (const m of row.kms ?? []) kmsModes.add(m);
    } else if (use.port === 'kms') {
      const row = Object.values(KMS_PORT_RAM).find((r) => r.op === use.op);
      if (!row) throw new Error(`shared/ram/actions.ts has no row for KMS op ${use.op}`);
      kmsStatements.push({ Effect: 'Allow', Action: sorted(row.actions), Resource: kmsKeyResources(settings) });
    } else {
      const row = Object.values(FC_PORT_RAM).find((r) => r.op === use.op);
      if (!row) throw new Error(`shared/ram/actions.ts has no row for FC op ${use.op}`);
      invoke = sorted([...invoke, ...row.actions]);
    }
  }

  const buckets = settings.buckets[fn].map(ramGlob);
  const ossStatements: RamStatement[] = [];
  if (oss.object.size > 0) {
    ossStatements.push({ Effect: 'Allow', Action: sorted(oss.object), Resource: buckets.map((b) => `acs:oss:*:${acct}:${b}/*`) });
  }
  if (oss.bucket.size > 0) {
    ossStatements.push({ Effect: 'Allow', Action: sorted(oss.bucket), Resource: buckets.map((b) => `acs:oss:*:${acct}:${b}`) });
  }
  if (oss.service.size > 0) ossStatements.push({ Effect: 'Allow', Action: sorted(oss.service), Resource: [`acs:oss:*:${acct}:*`] });
  for (const [prefix, actions] of scoped) {
    // Granted on every object anyway (another call site): nothing narrower to add.
    const narrower = [...actions].filter((a) => !oss.object.has(a));
    if (narrower.length > 0) {
      ossStatements.push({ Effect: 'Allow', Action: sorted(narrower), Resource: buckets.map((b) => `acs:oss:*:${acct}:${b}/${prefix}*`) });
    }
  }

  // Job state: the backfill's GetObject/PutObject on STATE_BUCKET, when its globs do not cover it already.
  const state = config.STATE_BUCKET;
  const stateActions = ['oss:GetObject', 'oss:PutObject'].filter((a) => oss.object.has(a));
  if (fn === 'backfill' && state !== undefined && stateActions.length > 0) {
    const covered = bucketSelected({ ...policyFromConfig(config), bucketInclude: [...settings.buckets[fn]], bucketExclude: [] }, state);
    if (!covered) {
      ossStatements.push({ Effect: 'Allow', Action: stateActions, Resource: [`acs:oss:*:${acct}:${state}/${config.STATE_PREFIX}*`] });
    }
  }

  // Same resources (the bucket glob `*` is the account's every bucket, like ListBuckets'): one statement.
  statements.push(...mergeByResource(ossStatements));

  // SSE-KMS: what OSS asks of KMS on the function's behalf.
  if (config.SSE_ALGORITHM === 'KMS') {
    const actions = new Set<string>();
    if (kmsModes.has('write')) for (const a of KMS_SSE_WRITE_ACTIONS) actions.add(a);
    if (kmsModes.has('read')) for (const a of KMS_SSE_READ_ACTIONS) actions.add(a);
    if (actions.size > 0) kmsStatements.push({ Effect: 'Allow', Action: sorted(actions), Resource: kmsKeyResources(settings) });
  }
  if (config.COMPLIANCE === 'exact' && kmsModes.has('copy-source')) {
    kmsStatements.push({ Effect: 'Allow', Action: [...KMS_SSE_READ_ACTIONS], Resource: [`acs:kms:${region}:${acct}:key/*`] });
  }
  statements.push(...mergeByResource(kmsStatements));

  if (invoke.length > 0) {
    statements.push({ Effect: 'Allow', Action: invoke, Resource: [`acs:fc:${region}:${acct}:functions/${settings.functionNames[fn]}`] });
  }
  return { Version: '1', Statement: statements };
}

/** Statements with the same resources become one, their actions merged and sorted. */
function mergeByResource(statements: readonly RamStatement[]): RamStatement[] {
  const byResource = new Map<string, RamStatement>();
  for (const s of statements) {
    const key = JSON.stringify(sorted(s.Resource));
    const prev = byResource.get(key);
    byResource.set(key, { Effect: 'Allow', Action: sorted([...(prev?.Action ?? []), ...s.Action]), Resource: sorted(s.Resource) });
  }
  return [...byResource.values()];
}

/** The document as written to deploy/ram/<functionName>.json. */
export function policyJson(policy: RamPolicy): string {
  return `${JSON.stringify(policy, null, 2)}\n`;
}

/** Every action a policy allows. */
export function policyActions(policy: RamPolicy): string[] {
  return sorted(policy.Statement.flatMap((s) => s.Action));
}

/** A structurally valid RAM policy document (Version "1", a non-empty Statement list, no `*` action)? Returns the problems. */
export function policyProblems(doc: unknown): string[] {
  const problems: string[] = [];
  if (!isPlainObject(doc)) return ['not a JSON object'];
  if (doc.Version !== '1') problems.push('Version must be "1"');
  const statements = doc.Statement;
  if (!Array.isArray(statements) || statements.length === 0) return [...problems, 'Statement must be a non-empty list'];
  for (const [i, s] of statements.entries()) {
    if (!isPlainObject(s)) {
      problems.push(`Statement[${i}] is not an object`);
      continue;
    }
    const extra = Object.keys(s).filter((k) => !['Effect', 'Action', 'Resource', 'Condition'].includes(k));
    if (extra.length > 0) problems.push(`Statement[${i}] has unknown keys ${extra.join(', ')}`);
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny') problems.push(`Statement[${i}].Effect must be Allow or Deny`);
    const actions = typeof s.Action === 'string' ? [s.Action] : s.Action;
    if (!Array.isArray(actions) || actions.length === 0 || !actions.every((a) => typeof a === 'string')) {
      problems.push(`Statement[${i}].Action must be a string or a non-empty list of strings`);
    } else {
      for (const a of actions as string[]) {
        if (!/^[a-z]+:[A-Za-z]+$/.test(a))
          problems.push(`Statement[${i}] action ${JSON.stringify(a)} is not service:Action (no wildcards)`);
      }
    }
    const resources = typeof s.Resource === 'string' ? [s.Resource] : s.Resource;
    if (!Array.isArray(resources) || resources.length === 0 || !resources.every((r) => typeof r === 'string' && r.startsWith('acs:'))) {
      problems.push(`Statement[${i}].Resource must be acs: ARNs`);
    }
  }
  return problems;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
