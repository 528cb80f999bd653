/**
 * RAM enforcement in the local KMS server: the accesses each action needs, on KMS's resource
 * ARNs (`acs:kms:<region>:<account>:key/<id>`, `…:alias/<name>`, the containers `…:key` and
 * `…:alias` for listing and creating), and KMS's refusal. See docs/oss-behaviour.md#ram-policy-evaluation.
 */
import type { RamAccess } from '../../shared/ram/policy';
import type { RamAuthority, RamCaller } from '../ram/authority';
import { KmsServiceError } from './errors';
import type { KeyRing } from './keyring';

/** The accesses a KMS request needs; none for an action the server does not serve (it answers InvalidAction.NotFound). */
export function kmsRequestAccesses(action: string, params: Readonly<Record<string, string>>, ring: KeyRing): RamAccess[] {
  const on = (resource: string): RamAccess[] => [{ action: `kms:${action}`, resource }];
  switch (action) {
    case 'ListKeys':
    case 'CreateKey':
      return on(ring.containerArn('key'));
    case 'ListAliases':
      return on(ring.containerArn('alias'));
    case 'DescribeKey':
    case 'GenerateDataKey':
    case 'EnableKey':
    case 'DisableKey':
      return on(ring.resourceArn(params.KeyId ?? ''));
    case 'Decrypt': {
      const keyId = ring.keyIdOfBlob(params.CiphertextBlob ?? '');
      return on(keyId === undefined ? ring.containerArn('key') : ring.resourceArn(keyId));
    }
    case 'CreateAlias':
      // KMS authorizes an alias operation on the alias and on the key (its RAM page).
      return [...on(ring.resourceArn(params.AliasName ?? '')), ...on(ring.resourceArn(params.KeyId ?? ''))];
    default:
      return [];
  }
}

/** Throws KMS's refusal unless the caller may have every access: 403 Forbidden.NoPermission (KMS API error tables). */
export function authorizeKmsRequest(authority: RamAuthority, caller: RamCaller, accesses: readonly RamAccess[]): void {
  const verdict = authority.authorize('kms', caller, accesses);
  if (verdict.allowed) return;
  if (verdict.reason === 'InvalidSecurityToken') {
    // The gateway's code for a token that is not the key's (UNCONFIRMED: docs/oss-behaviour.md#ram-policy-evaluation).
    throw new KmsServiceError(400, 'InvalidSecurityToken.MismatchWithAccessKey', 'Specified SecurityToken mismatch with the AccessKey.');
  }
  throw new KmsServiceError(
    403,
    'Forbidden.NoPermission',
    `You are not authorized to perform the operation: ${verdict.access.action} on ${verdict.access.resource} (${verdict.reason}).`,
  );
}
