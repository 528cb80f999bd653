/**
 * The policy each function's role holds in the local stack: what deploy/ renders for it
 * (deploy/ram-policy.ts buildPolicy, from the calls its code can make — deploy/reachable-ops.json
 * — and the configuration), for the local account and region and the functions' own
 * environment. The object function's trigger fires for every bucket locally, so its policy
 * covers BUCKET_INCLUDE's buckets like the other two (as with the EventBridge trigger in s.yaml's
 * options).
 */
import * as z from 'zod';
import reachable from '../../deploy/reachable-ops.json';
import { buildPolicy, FUNCTION_KEYS, FUNCTIONS, type DeploySettings, type FunctionKey, type RamPolicy } from '../../deploy/ram-policy';
import { loadConfig, type Config } from '../../shared/validation/config';

const OpUseSchema = z.object({
  port: z.enum(['oss', 'kms', 'fc']),
  op: z.string(),
  versioned: z.boolean(),
  calls: z.array(z.string()),
});
const ReachableOpsSchema = z.record(z.enum(FUNCTION_KEYS as [FunctionKey, ...FunctionKey[]]), z.array(OpUseSchema));

/** An action taken out of a function's policy (the mutation test, scripts/ram-mutation.ts). */
export interface PolicyMutation {
  fn: FunctionKey;
  action: string;
}

/** `backfill:oss:ListObjects,object-encryption:oss:GetObjectAcl` (OSS_SSE_RAM_WITHOUT) → mutations; throws naming a bad entry. */
export function parsePolicyMutations(text: string | undefined): PolicyMutation[] {
  if (text === undefined || text.trim() === '') return [];
  return text.split(',').map((entry) => {
    const sep = entry.indexOf(':');
    const fn = entry.slice(0, sep) as FunctionKey;
    const action = entry.slice(sep + 1);
    if (sep < 0 || !FUNCTION_KEYS.includes(fn) || !/^[a-z]+:[A-Za-z]+$/.test(action)) {
      throw new Error(`OSS_SSE_RAM_WITHOUT: "${entry}" is not <function>:<service>:<Action> (functions: ${FUNCTION_KEYS.join(', ')})`);
    }
    return { fn, action };
  });
}

/** The config the functions start with, or the defaults when theirs is invalid (they refuse to start then anyway). */
function functionConfig(env: Readonly<Record<string, string>>): Config {
  try {
    return loadConfig(env);
  } catch {
    return loadConfig({ STATE_BUCKET: env.STATE_BUCKET ?? '' });
  }
}

/** Each function's policy document for the local stack, minus `without`'s actions. */
export function localFunctionPolicies(options: {
  env: Readonly<Record<string, string>>;
  accountId: string;
  region: string;
  without?: readonly PolicyMutation[];
}): Record<FunctionKey, RamPolicy> {
  const uses = ReachableOpsSchema.parse(reachable);
  const config = functionConfig(options.env);
  const buckets = config.BUCKET_INCLUDE.length > 0 ? [...config.BUCKET_INCLUDE] : ['*'];
  const settings: DeploySettings = {
    accountId: options.accountId,
    region: options.region,
    arnRegion: options.region,
    config,
    buckets: { 'bucket-encryption': buckets, 'object-encryption': buckets, backfill: buckets },
    functionNames: { ...FUNCTIONS },
  };
  const out = {} as Record<FunctionKey, RamPolicy>;
  for (const fn of FUNCTION_KEYS) {
    const removed = new Set((options.without ?? []).filter((m) => m.fn === fn).map((m) => m.action));
    const policy = buildPolicy(fn, uses[fn] ?? [], settings);
    out[fn] = {
      ...policy,
      Statement: policy.Statement.map((s) => ({ ...s, Action: s.Action.filter((a) => !removed.has(a)) })).filter((s) => s.Action.length > 0),
    };
  }
  return out;
}
