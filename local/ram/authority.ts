/**
 * Who may do what in the local stack: each access key the servers accept belongs to an
 * identity — a user (the key `oss-sse local` prints) or a role's STS credentials (each
 * function's, as FC hands them in context.credentials) — bound to RAM policies, or to none
 * (everything allowed, as the stack was before policies).
 *
 * The OSS, KMS and FC servers call `authorize` after a request's signature verified, with the
 * accesses it needs (local/oss/ram.ts, local/kms/ram.ts, local/fc/server.ts), and answer a
 * refusal in their own service's words.
 */
import { randomBytes } from 'node:crypto';
import { evaluateRam, type RamAccess, type RamPolicy } from '../../shared/ram/policy';

export interface RamCaller {
  accessKeyId: string;
  /** The STS token the request carried (x-oss-security-token, SecurityToken, x-fc-security-token). */
  securityToken?: string;
}

/** RAM's principal types as OSS names them in AccessDeniedDetail (a RAM user; a role's STS session). */
export interface RamPrincipal {
  type: 'SubUser' | 'AssumedRoleUser';
  /** The user's or the role's name. */
  name: string;
}

export interface StsCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string;
}

export type RamVerdict =
  | { allowed: true }
  | { allowed: false; reason: 'ExplicitDeny' | 'ImplicitDeny'; access: RamAccess; principal: RamPrincipal }
  /** STS credentials without their token, or with another one. */
  | { allowed: false; reason: 'InvalidSecurityToken' };

/** One refusal, for the log and the mutation test (scripts/ram-mutation.ts); never a credential. */
export interface RamDenial {
  service: 'oss' | 'kms' | 'fc';
  principal: RamPrincipal;
  action: string;
  resource: string;
  reason: 'ExplicitDeny' | 'ImplicitDeny';
}

interface Identity {
  principal: RamPrincipal;
  secret: string;
  /** Set for STS credentials: requests must carry exactly this token. */
  securityToken?: string;
  /** undefined: no policy bound, everything allowed. */
  policies?: readonly RamPolicy[];
}

export class RamAuthority {
  private readonly identities = new Map<string, Identity>();

  constructor(private readonly options: { onDenied?: (denial: RamDenial) => void } = {}) {}

  /** A long-term access key of a RAM user; `policies` undefined means unrestricted. */
  addUser(accessKeyId: string, secret: string, options: { name: string; policies?: readonly RamPolicy[] }): void {
    this.identities.set(accessKeyId, {
      principal: { type: 'SubUser', name: options.name },
      secret,
      ...(options.policies ? { policies: options.policies } : {}),
    });
  }

  /** Fresh STS credentials of a role bound to `policies` (`STS.` ids and a token, as STS issues them). */
  issueRoleCredentials(role: string, policies: readonly RamPolicy[]): StsCredentials {
    const credentials = {
      accessKeyId: `STS.${randomBytes(12).toString('hex')}`,
      accessKeySecret: randomBytes(24).toString('base64url'),
      // The prefix lets tests find a leaked token in logs.
      securityToken: `local-sts-${randomBytes(32).toString('hex')}`,
    };
    this.identities.set(credentials.accessKeyId, {
      principal: { type: 'AssumedRoleUser', name: role },
      secret: credentials.accessKeySecret,
      securityToken: credentials.securityToken,
      policies,
    });
    return credentials;
  }

  /** The secret the servers verify signatures with, for every key this authority knows. */
  secretOf(accessKeyId: string): string | undefined {
    return this.identities.get(accessKeyId)?.secret;
  }

  /** Whether the request (signature already verified) may have every one of `accesses`. */
  authorize(service: RamDenial['service'], caller: RamCaller, accesses: readonly RamAccess[]): RamVerdict {
    const identity = this.identities.get(caller.accessKeyId);
    // Keys the servers were given directly (not through this authority) keep today's meaning: everything allowed.
    if (identity === undefined) return { allowed: true };
    if (identity.securityToken !== undefined && caller.securityToken !== identity.securityToken) {
      return { allowed: false, reason: 'InvalidSecurityToken' };
    }
    if (identity.policies === undefined) return { allowed: true };
    const decision = evaluateRam(identity.policies, accesses);
    if (decision.allowed) return decision;
    this.options.onDenied?.({ service, principal: identity.principal, ...decision.access, reason: decision.reason });
    return { ...decision, principal: identity.principal };
  }
}
