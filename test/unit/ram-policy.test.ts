/** RAM policy documents: what the schema accepts and refuses, and how requests are evaluated. */
import { describe, expect, it } from 'vitest';
import { evaluateRam, loadRamPolicy, RamPolicyError, type RamAccess, type RamPolicy } from '../../shared/ram/policy';

const policy = (...Statement: unknown[]): RamPolicy => loadRamPolicy({ Version: '1', Statement }, 'test policy');
const allow = (Action: unknown, Resource: unknown) => ({ Effect: 'Allow', Action, Resource });
const deny = (Action: unknown, Resource: unknown) => ({ Effect: 'Deny', Action, Resource });
const access = (action: string, resource: string): RamAccess => ({ action, resource });
const allowed = (p: RamPolicy, ...accesses: RamAccess[]): boolean => evaluateRam([p], accesses).allowed;

const OBJ = 'acs:oss:cn-hangzhou:1234567890123456:data/photos/cat.jpg';

/** The message loadRamPolicy throws for `doc`. */
function refusal(doc: unknown): string {
  try {
    loadRamPolicy(doc, 'policy.json');
  } catch (e) {
    expect(e).toBeInstanceOf(RamPolicyError);
    return (e as Error).message;
  }
  throw new Error('the policy was accepted');
}

describe('evaluation', () => {
  it('denies what nothing allows (implicit deny), and says so', () => {
    const p = policy(allow('oss:GetObject', 'acs:oss:*:*:data/*'));
    expect(evaluateRam([p], [access('oss:PutObject', OBJ)])).toEqual({
      allowed: false,
      access: access('oss:PutObject', OBJ),
      reason: 'ImplicitDeny',
    });
    expect(evaluateRam([], [access('oss:GetObject', OBJ)])).toMatchObject({ allowed: false, reason: 'ImplicitDeny' });
  });

  it('an explicit Deny wins over an Allow, in either order and across policies', () => {
    const a = allow('oss:*', '*');
    const d = deny('oss:GetObject', 'acs:oss:*:*:data/photos/*');
    expect(evaluateRam([policy(a, d)], [access('oss:GetObject', OBJ)])).toMatchObject({ allowed: false, reason: 'ExplicitDeny' });
    expect(evaluateRam([policy(d, a)], [access('oss:GetObject', OBJ)])).toMatchObject({ allowed: false, reason: 'ExplicitDeny' });
    expect(evaluateRam([policy(a), policy(d)], [access('oss:GetObject', OBJ)])).toMatchObject({ reason: 'ExplicitDeny' });
    expect(allowed(policy(a, d), access('oss:GetObject', 'acs:oss:*:*:data/docs/a.txt'))).toBe(true);
  });

  it('`*` matches any run of characters, `/` and `:` included, and nothing; `?` exactly one', () => {
    const p = policy(allow('oss:GetObject', ['acs:oss:*:*:data/*', 'acs:oss:*:*:log-?/x']));
    expect(allowed(p, access('oss:GetObject', OBJ))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:cn-hangzhou:1:data/'))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:cn-hangzhou:1:data'))).toBe(false);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:cn-hangzhou:1:log-a/x'))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:cn-hangzhou:1:log-/x'))).toBe(false);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:cn-hangzhou:1:log-ab/x'))).toBe(false);
    const actions = policy(allow(['oss:Get*', 'kms:?ecrypt'], '*'));
    expect(allowed(actions, access('oss:GetObjectTagging', OBJ))).toBe(true);
    expect(allowed(actions, access('kms:Decrypt', 'acs:kms:cn-hangzhou:1:key/k'))).toBe(true);
    expect(allowed(actions, access('kms:Encrypt', 'acs:kms:cn-hangzhou:1:key/k'))).toBe(false);
    expect(allowed(actions, access('oss:PutObject', OBJ))).toBe(false);
  });

  it('regex characters in a pattern are literal', () => {
    const p = policy(allow('oss:GetObject', 'acs:oss:*:*:a.b/(x)+'));
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:a.b/(x)+'))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:aXb/(x)+'))).toBe(false);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:a.b/xx'))).toBe(false);
  });

  it('actions match case-insensitively, resources case-sensitively', () => {
    const p = policy(allow('OSS:getobject', 'acs:oss:*:*:Data/*'));
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:Data/k'))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:data/k'))).toBe(false);
  });

  it('NotAction applies to every action but those listed', () => {
    const p = policy({ Effect: 'Allow', NotAction: ['oss:Delete*', 'oss:PutBucket*'], Resource: '*' });
    expect(allowed(p, access('oss:GetObject', OBJ))).toBe(true);
    expect(allowed(p, access('kms:Decrypt', 'acs:kms:r:1:key/k'))).toBe(true);
    expect(allowed(p, access('oss:DeleteObject', OBJ))).toBe(false);
    expect(allowed(p, access('oss:PutBucketEncryption', 'acs:oss:r:1:data'))).toBe(false);
    // A Deny with NotAction: everything else is denied, even where an Allow says otherwise.
    const guarded = policy(allow('*', '*'), { Effect: 'Deny', NotAction: 'oss:Get*', Resource: 'acs:oss:*:*:data/*' });
    expect(allowed(guarded, access('oss:GetObject', OBJ))).toBe(true);
    expect(evaluateRam([guarded], [access('oss:PutObject', OBJ)])).toMatchObject({ reason: 'ExplicitDeny' });
  });

  it('NotResource applies to every resource but those listed', () => {
    const p = policy({ Effect: 'Allow', Action: 'oss:GetObject', NotResource: ['acs:oss:*:*:secret/*'] });
    expect(allowed(p, access('oss:GetObject', OBJ))).toBe(true);
    expect(allowed(p, access('oss:GetObject', 'acs:oss:r:1:secret/k'))).toBe(false);
  });

  it('takes a string or a list for Action and Resource', () => {
    const single = policy(allow('oss:GetObject', OBJ));
    const lists = policy(allow(['oss:PutObject', 'oss:GetObject'], ['acs:oss:*:*:other/*', OBJ]));
    for (const p of [single, lists]) expect(allowed(p, access('oss:GetObject', OBJ))).toBe(true);
    expect(allowed(lists, access('oss:PutObject', 'acs:oss:r:1:other/k'))).toBe(true);
  });

  it('a request needing several accesses needs every one, and names the first refused', () => {
    const p = policy(allow('oss:GetObject', '*'), allow('kms:Decrypt', 'acs:kms:*:*:key/k1'));
    const key = (id: string) => access('kms:Decrypt', `acs:kms:cn-hangzhou:1:key/${id}`);
    expect(allowed(p, access('oss:GetObject', OBJ), key('k1'))).toBe(true);
    expect(evaluateRam([p], [access('oss:GetObject', OBJ), key('k2')])).toEqual({
      allowed: false,
      access: key('k2'),
      reason: 'ImplicitDeny',
    });
  });
});

describe('loading', () => {
  it('refuses a Condition it cannot evaluate, naming the statement, the operator and the key', () => {
    const message = refusal({
      Version: '1',
      Statement: [
        allow('oss:GetObject', '*'),
        { ...allow('oss:PutObject', '*'), Condition: { IpAddress: { 'acs:SourceIp': '10.0.0.0/8' } } },
      ],
    });
    expect(message).toContain('policy.json');
    expect(message).toContain('Statement[1].Condition');
    expect(message).toContain('IpAddress');
    expect(message).toContain('acs:SourceIp');
  });

  it.each([
    [{ Statement: [allow('oss:GetObject', '*')] }, 'Version'],
    [{ Version: '2', Statement: [allow('oss:GetObject', '*')] }, 'Version'],
    [{ Version: '1', Statement: [] }, 'Statement'],
    [{ Version: '1', Statement: [{ Effect: 'Permit', Action: 'oss:GetObject', Resource: '*' }] }, 'Statement[0].Effect'],
    [{ Version: '1', Statement: [{ Effect: 'Allow', Resource: '*' }] }, 'Statement[0].Action'],
    [
      { Version: '1', Statement: [{ Effect: 'Allow', Action: 'oss:GetObject', NotAction: 'oss:Put*', Resource: '*' }] },
      'Statement[0].Action',
    ],
    [{ Version: '1', Statement: [{ Effect: 'Allow', Action: 'oss:GetObject' }] }, 'Statement[0].Resource'],
    [{ Version: '1', Statement: [allow('GetObject', '*')] }, 'Statement[0].Action'],
    [{ Version: '1', Statement: [allow([], '*')] }, 'Statement[0].Action'],
    [{ Version: '1', Statement: [allow('oss:GetObject', 'bucket/key')] }, 'Statement[0].Resource'],
    [{ Version: '1', Statement: [{ ...allow('oss:GetObject', '*'), Principal: '*' }] }, 'Principal'],
    [{ Version: '1', Statement: [allow('oss:GetObject', '*')], Extra: 1 }, 'Extra'],
    ['not a policy', 'policy'],
  ])('refuses a malformed document, naming the field (%#)', (doc, field) => {
    expect(refusal(doc)).toContain(field);
  });

  it('accepts what the generator writes and what users write (Sid, wildcards, Deny)', () => {
    const p = loadRamPolicy(
      {
        Version: '1',
        Statement: [
          { Sid: 'read', Effect: 'Allow', Action: ['oss:Get*', 'oss:ListObjects'], Resource: ['acs:oss:*:*:data', 'acs:oss:*:*:data/*'] },
          { Effect: 'Deny', Action: 'oss:DeleteBucket', Resource: '*' },
        ],
      },
      'user policy',
    );
    expect(p.statements).toHaveLength(2);
    expect(p.source).toBe('user policy');
  });
});
