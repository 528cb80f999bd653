/**
 * RAM policy documents: the schema, and the evaluation of a request against them, as RAM
 * evaluates identity policies (docs/oss-behaviour.md#ram-policy-evaluation):
 *
 * - `Version` "1"; `Statement` a non-empty list; each statement `Effect` Allow or Deny, exactly
 *   one of `Action`/`NotAction` and one of `Resource`/`NotResource`, each a string or a
 *   non-empty list of strings.
 * - Patterns take `*` (any run of characters, `:` and `/` included) and `?` (one character).
 *   Actions match case-insensitively, resources case-sensitively.
 * - An explicit Deny wins over any Allow; a request nothing allows is denied.
 * - The local stack evaluates no `Condition`: a statement carrying one makes the whole policy
 *   refused at load (naming the statement and the key), never silently ignored — ignoring it
 *   would widen an Allow or narrow a Deny.
 *
 * Pure: no I/O. Both deploy/ (the generated documents are valid here) and local/ (the servers
 * enforce them) import it.
 */
import * as z from 'zod';
import { formatZodIssues } from '../validation/issues';

/** One string or a non-empty list of them, as RAM accepts for Action, Resource and their Not… forms. */
const OneOrMoreSchema = (what: string, pattern: RegExp, hint: string) => {
  const item = z.string().regex(pattern, { message: `each ${what} must be ${hint}` });
  return z.union([item, z.array(item).min(1)]);
};

/** `*`, or `service:Action` where either part may hold wildcards (`oss:Get*`, `kms:*`). */
const ActionListSchema = OneOrMoreSchema('action', /^(\*|[A-Za-z0-9*?-]+:[A-Za-z0-9*?]+)$/, '"*" or service:Action (wildcards * and ?)');
/** `*`, or an ARN `acs:<service>:<region>:<account>:<relative id>` (wildcards allowed in every part). */
const ResourceListSchema = OneOrMoreSchema(
  'resource',
  /^(\*|acs:[^:]*:[^:]*:[^:]*:.*)$/,
  '"*" or acs:<service>:<region>:<account>:<resource>',
);

export const RamStatementSchema = z
  .strictObject({
    Sid: z.string().optional(),
    Effect: z.enum(['Allow', 'Deny']),
    Action: ActionListSchema.optional(),
    NotAction: ActionListSchema.optional(),
    Resource: ResourceListSchema.optional(),
    NotResource: ResourceListSchema.optional(),
    Condition: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.Action === undefined) === (s.NotAction === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of Action and NotAction', path: ['Action'] });
    }
    if ((s.Resource === undefined) === (s.NotResource === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of Resource and NotResource', path: ['Resource'] });
    }
  });

export const RamPolicyDocumentSchema = z.strictObject({
  Version: z.literal('1'),
  Statement: z.array(RamStatementSchema).min(1),
});

export type RamStatementDocument = z.infer<typeof RamStatementSchema>;
export type RamPolicyDocument = z.infer<typeof RamPolicyDocumentSchema>;

/** A policy the stack refuses: malformed, or with something it cannot evaluate. The message names the field. */
export class RamPolicyError extends Error {
  override readonly name = 'RamPolicyError';
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
  }
}

/** One statement, its patterns compiled once (a policy is evaluated on every request). */
interface CompiledStatement {
  effect: 'Allow' | 'Deny';
  /** Whether the patterns list what it applies to (Action) or what it excludes (NotAction). */
  actionsNegated: boolean;
  actions: readonly RegExp[];
  resourcesNegated: boolean;
  resources: readonly RegExp[];
}

/** A loaded policy: validated, evaluable. `document` is what was loaded. */
export interface RamPolicy {
  readonly source: string;
  readonly document: RamPolicyDocument;
  readonly statements: readonly CompiledStatement[];
}

/** `*` any run (none included), `?` one character, everything else literal. */
export function wildcardPattern(pattern: string, options: { caseInsensitive: boolean }): RegExp {
  let body = '';
  for (const ch of pattern) {
    if (ch === '*') body += '.*';
    else if (ch === '?') body += '.';
    else body += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${body}$`, options.caseInsensitive ? 'is' : 's');
}

const list = (v: string | string[]): string[] => (typeof v === 'string' ? [v] : v);

/**
 * Validates and compiles a policy document. `source` names it in errors (a file path, a role).
 * Throws RamPolicyError naming every malformed field, and every Condition (with its keys).
 */
export function loadRamPolicy(doc: unknown, source: string): RamPolicy {
  const parsed = RamPolicyDocumentSchema.safeParse(doc);
  if (!parsed.success) throw new RamPolicyError(source, formatZodIssues(parsed.error.issues, [], 'policy'));
  const problems: string[] = [];
  parsed.data.Statement.forEach((s, i) => {
    if (s.Condition === undefined) return;
    for (const [operator, keys] of Object.entries(s.Condition)) {
      for (const key of Object.keys(keys)) {
        problems.push(
          `Statement[${i}].Condition: the local stack cannot evaluate condition ${operator} on key ${key}; ` +
            'it refuses the policy rather than ignore the condition',
        );
      }
      if (Object.keys(keys).length === 0) problems.push(`Statement[${i}].Condition.${operator} names no key`);
    }
  });
  if (problems.length > 0) throw new RamPolicyError(source, problems);
  return {
    source,
    document: parsed.data,
    statements: parsed.data.Statement.map((s) => ({
      effect: s.Effect,
      actionsNegated: s.Action === undefined,
      actions: list((s.Action ?? s.NotAction) as string | string[]).map((p) => wildcardPattern(p, { caseInsensitive: true })),
      resourcesNegated: s.Resource === undefined,
      resources: list((s.Resource ?? s.NotResource) as string | string[]).map((p) => wildcardPattern(p, { caseInsensitive: false })),
    })),
  };
}

/** One thing a request needs: an action on a resource ARN. A request may need several. */
export interface RamAccess {
  action: string;
  resource: string;
}

export type RamDecision =
  | { allowed: true }
  | {
      allowed: false;
      /** The first access refused, in the order the request listed them. */
      access: RamAccess;
      /** ExplicitDeny: a Deny statement matched; ImplicitDeny: no Allow did (RAM's and OSS's words). */
      reason: 'ExplicitDeny' | 'ImplicitDeny';
    };

function statementMatches(s: CompiledStatement, access: RamAccess): boolean {
  const actionListed = s.actions.some((p) => p.test(access.action));
  if (actionListed === s.actionsNegated) return false;
  const resourceListed = s.resources.some((p) => p.test(access.resource));
  return resourceListed !== s.resourcesNegated;
}

/** Every access must be allowed by some statement of some policy and denied by none. */
export function evaluateRam(policies: readonly RamPolicy[], accesses: readonly RamAccess[]): RamDecision {
  for (const access of accesses) {
    let allowed = false;
    for (const policy of policies) {
      for (const s of policy.statements) {
        if (!statementMatches(s, access)) continue;
        if (s.effect === 'Deny') return { allowed: false, access, reason: 'ExplicitDeny' };
        allowed = true;
      }
    }
    if (!allowed) return { allowed: false, access, reason: 'ImplicitDeny' };
  }
  return { allowed: true };
}
