/**
 * What each function's role may do, as the deployment grants it: the policy documents
 * deploy/ram/ renders from the code (deploy/reachable-ops.ts, shared/ram/actions.ts) and
 * s.yaml. The doctor reads the actions it probes from them instead of listing them again.
 * A role is named after its function (README "Create the roles").
 */
import * as z from 'zod';
import { globMatch } from '../policy';
import backfillPolicy from '../../deploy/ram/oss-sse-backfill.json';
import bucketPolicy from '../../deploy/ram/oss-sse-bucket-encryption.json';
import objectPolicy from '../../deploy/ram/oss-sse-object-encryption.json';

const RamPolicySchema = z.object({
  Version: z.literal('1'),
  Statement: z.array(z.object({ Effect: z.literal('Allow'), Action: z.array(z.string()), Resource: z.array(z.string()) })),
});
export type RolePolicy = z.infer<typeof RamPolicySchema>;

/** Function (and role) name → its policy, in the order s.yaml deploys them. */
export const ROLE_POLICIES: Readonly<Record<string, RolePolicy>> = {
  'oss-sse-bucket-encryption': RamPolicySchema.parse(bucketPolicy),
  'oss-sse-object-encryption': RamPolicySchema.parse(objectPolicy),
  'oss-sse-backfill': RamPolicySchema.parse(backfillPolicy),
};

/** The functions s.yaml deploys, by their FC names. */
export const DEPLOYED_FUNCTIONS: readonly string[] = Object.keys(ROLE_POLICIES);

/** RAM's wildcards in an ARN pattern are the bucket globs' (`*` any run, `/` included; `?` one character). */
const arnMatches = globMatch;

/** The OSS ARNs of a bucket and of an object in it (OSS ARNs leave the region out). */
export const bucketArn = (accountId: string, bucket: string): string => `acs:oss:*:${accountId}:${bucket}`;
export const objectArn = (accountId: string, bucket: string, key: string): string => `acs:oss:*:${accountId}:${bucket}/${key}`;

/**
 * The OSS actions the roles are granted on `bucket` (its ARN or an object in it, `key`
 * standing for any), each with the roles that have it: what the functions need there.
 */
export function rolesNeedingOssActions(
  policies: Readonly<Record<string, RolePolicy>>,
  where: { accountId: string; bucket: string; key: string },
): Map<string, string[]> {
  const arns = [bucketArn(where.accountId, where.bucket), objectArn(where.accountId, where.bucket, where.key)];
  const needed = new Map<string, string[]>();
  for (const [role, policy] of Object.entries(policies)) {
    for (const statement of policy.Statement) {
      if (!statement.Resource.some((pattern) => arns.some((arn) => arnMatches(pattern, arn)))) continue;
      for (const action of statement.Action.filter((a) => a.startsWith('oss:'))) {
        const roles = needed.get(action) ?? [];
        if (!roles.includes(role)) roles.push(role);
        needed.set(action, roles);
      }
    }
  }
  return needed;
}

/** The roles whose policy grants `action` anywhere. */
export function rolesGranted(policies: Readonly<Record<string, RolePolicy>>, action: string): string[] {
  return Object.entries(policies)
    .filter(([, policy]) => policy.Statement.some((s) => s.Action.includes(action)))
    .map(([role]) => role);
}
