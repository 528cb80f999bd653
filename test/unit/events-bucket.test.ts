import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OssEvents } from '../../local/oss/events';
import {
  ActionTrailCloudEventSchema,
  BucketCreatedCloudEventSchema,
  EventValidationError,
  parseBucketEvent,
  type BucketEvent,
} from '../../shared/events';
import { isValidBucketName } from '../../shared/validation';
import { editable, fixture, rawFixture, validationError } from '../helpers/event-fixtures';
import { anyValue, hugeNumbers, mutate, pathsOf } from '../helpers/fuzz';

const raw = rawFixture;

const root = { accountId: '1234567890123456', principalId: '1234567890123456', type: 'root-account' };
const alice = { accountId: '1234567890123456', principalId: '209876543210987654', type: 'ram-user', userName: 'alice' };

const bucketFixtures: [string, BucketEvent][] = [
  [
    'bucket-created-local.json',
    { kind: 'bucket', bucket: 'local-new-bucket', trigger: 'created', eventName: 'PutBucket', actor: { principalId: '1234567890' } },
  ],
  [
    'bucket-created-real.json',
    { kind: 'bucket', bucket: 'prod-logs-2025', trigger: 'created', eventName: 'PutBucket', actor: { principalId: '276543210987654321' } },
  ],
  ['bucket-created-subject-only.json', { kind: 'bucket', bucket: 'subject-only-bucket', trigger: 'created', eventName: 'PutBucket' }],
  [
    'actiontrail-putbucket-apicall.json',
    { kind: 'bucket', bucket: 'trail-bucket-a', trigger: 'created', eventName: 'PutBucket', actor: root },
  ],
  [
    'actiontrail-putbucketencryption-apicall.json',
    { kind: 'bucket', bucket: 'trail-bucket-b', trigger: 'encryption-changed', eventName: 'PutBucketEncryption', actor: alice },
  ],
  [
    'actiontrail-deletebucketencryption-apicall.json',
    { kind: 'bucket', bucket: 'trail-bucket-c', trigger: 'encryption-changed', eventName: 'DeleteBucketEncryption', actor: root },
  ],
  [
    'actiontrail-putbucket-consoleoperation.json',
    { kind: 'bucket', bucket: 'console-bucket', trigger: 'created', eventName: 'PutBucket', actor: alice },
  ],
  [
    'actiontrail-putbucketencryption-consoleoperation.json',
    { kind: 'bucket', bucket: 'console-bucket', trigger: 'encryption-changed', eventName: 'PutBucketEncryption', actor: alice },
  ],
  [
    'actiontrail-deletebucketencryption-consoleoperation.json',
    { kind: 'bucket', bucket: 'console-bucket', trigger: 'encryption-changed', eventName: 'DeleteBucketEncryption', actor: alice },
  ],
  [
    'actiontrail-putbucketacl-apicall.json',
    { kind: 'bucket', bucket: 'trail-bucket-d', trigger: 'other-api-call', eventName: 'PutBucketAcl', actor: root },
  ],
  ['manual-bucket.json', { kind: 'bucket', bucket: 'my-bucket', trigger: 'manual' }],
  ['manual-all-buckets.json', { kind: 'all-buckets' }],
];

describe('bucket event fixtures', () => {
  it.each(bucketFixtures)('%s parses to the expected bucket event', (name, expected) => {
    expect(parseBucketEvent(fixture(name))).toEqual(expected);
    // As FC hands it over.
    expect(parseBucketEvent(raw(name))).toEqual(expected);
  });

  it.each(bucketFixtures.filter(([n]) => n.startsWith('actiontrail-')))('%s matches ActionTrailCloudEventSchema', (name) => {
    expect(ActionTrailCloudEventSchema.safeParse(fixture(name)).success).toBe(true);
  });

  it.each(bucketFixtures.filter(([n]) => n.startsWith('bucket-created-')))('%s matches BucketCreatedCloudEventSchema', (name) => {
    expect(BucketCreatedCloudEventSchema.safeParse(fixture(name)).success).toBe(true);
  });

  it('never lets an access key id, token or session context into the result', () => {
    for (const [name] of bucketFixtures) {
      const text = JSON.stringify(parseBucketEvent(fixture(name)));
      expect(text).not.toMatch(/example-not-a|accessKeyId|securityToken|sessionContext|LTAI|STS\./);
    }
    // Also when the credential sits in a field the actor does copy from.
    const event = editable('actiontrail-putbucket-apicall.json');
    event.data.userIdentity = { principalId: 'p', accessKeyId: 'LTAI-secret', sessionToken: 'tok', accessKeySecret: 's', password: 'pw' };
    expect(parseBucketEvent(event)).toMatchObject({ actor: { principalId: 'p' } });
    expect(Object.keys((parseBucketEvent(event) as { actor: object }).actor)).toEqual(['principalId']);
  });

  it('matches what the local OSS server emits for PutBucket', () => {
    const events = new OssEvents('cn-hangzhou', '1234567890');
    const seen: unknown[] = [];
    events.on('bucket', (e) => seen.push(e));
    // The data local/oss/bucket.ts passes for PutBucket and its ActionTrail helper.
    events.bucketEvent('oss:BucketCreated:PutBucket', 'acs.oss', 'fresh-bucket', {
      region: 'cn-hangzhou',
      eventName: 'PutBucket',
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { requestId: 'r1' },
      oss: { bucket: { name: 'fresh-bucket', arn: 'acs:oss:cn-hangzhou:1234567890:fresh-bucket', ownerIdentity: '1234567890' } },
      userIdentity: { principalId: '1234567890' },
    });
    events.bucketEvent('acs.oss:ActionTrail:ApiCall', 'acs.oss', 'fresh-bucket', {
      eventId: 'r2',
      eventName: 'PutBucketEncryption',
      eventSource: 'fresh-bucket.oss-cn-hangzhou.aliyuncs.com',
      eventType: 'ApiCall',
      eventTime: new Date().toISOString(),
      acsRegion: 'cn-hangzhou',
      requestId: 'r2',
      referencedResources: { 'ACS::OSS::Bucket': ['fresh-bucket'] },
      requestParameters: { BucketName: 'fresh-bucket' },
      userIdentity: { accountId: '1234567890', principalId: '1234567890', type: 'root-account' },
    });
    expect(seen.map((e) => parseBucketEvent(e))).toEqual([
      { kind: 'bucket', bucket: 'fresh-bucket', trigger: 'created', eventName: 'PutBucket', actor: { principalId: '1234567890' } },
      {
        kind: 'bucket',
        bucket: 'fresh-bucket',
        trigger: 'encryption-changed',
        eventName: 'PutBucketEncryption',
        actor: { accountId: '1234567890', principalId: '1234567890', type: 'root-account' },
      },
    ]);
  });
});

// --- where the bucket name comes from -----------------------------------------------------

/** A BucketCreated envelope (data UNCONFIRMED, so anything goes) with no bucket anywhere. */
function created(data: unknown, subject?: string): Record<string, unknown> {
  return {
    id: 'id-1',
    source: 'acs.oss',
    specversion: '1.0',
    type: 'oss:BucketCreated:PutBucket',
    time: '2025-01-02T03:04:05Z',
    ...(subject === undefined ? {} : { subject }),
    data,
  };
}

const LOCATIONS: [string, (name: string) => Record<string, unknown>][] = [
  ['data.referencedResources["ACS::OSS::Bucket"][0]', (n) => created({ referencedResources: { 'ACS::OSS::Bucket': [n] } })],
  ['data.requestParameters.BucketName', (n) => created({ requestParameters: { BucketName: n } })],
  ['data.requestParameters.bucketName', (n) => created({ requestParameters: { bucketName: n } })],
  ['data.oss.bucket.name', (n) => created({ oss: { bucket: { name: n } } })],
  ['data.eventSource', (n) => created({ eventSource: `${n}.oss-cn-hangzhou.aliyuncs.com` })],
  ['subject', (n) => created({}, `acs:oss:cn-hangzhou:1234567890123456:${n}`)],
];

describe('finding the bucket name', () => {
  it.each(LOCATIONS)('finds it in %s alone', (_where, build) => {
    expect(parseBucketEvent(build('found-here'))).toMatchObject({ kind: 'bucket', bucket: 'found-here' });
  });

  it('also in an ActionTrail record whose only usable field is the event source', () => {
    const event = editable('actiontrail-putbucket-apicall.json');
    delete event.data.referencedResources;
    delete event.data.requestParameters;
    delete event.subject;
    event.data.eventSource = 'from-source.oss-cn-shanghai-internal.aliyuncs.com';
    expect(parseBucketEvent(event)).toMatchObject({ bucket: 'from-source' });
  });

  it('takes the first location in the documented order', () => {
    const data = {
      referencedResources: { 'ACS::OSS::Bucket': ['name-0'] },
      requestParameters: { BucketName: 'name-1', bucketName: 'name-2' },
      oss: { bucket: { name: 'name-3' } },
      eventSource: 'name-4.oss-cn-hangzhou.aliyuncs.com',
    };
    const subject = 'acs:oss:cn-hangzhou:1:name-5';
    const removals: ((d: typeof data) => void)[] = [
      (d) => (d.referencedResources = { 'ACS::OSS::Bucket': [] }),
      (d) => (d.requestParameters = { BucketName: undefined as unknown as string, bucketName: 'name-2' }),
      (d) => (d.requestParameters = {} as typeof d.requestParameters),
      (d) => (d.oss = { bucket: {} } as typeof d.oss),
      (d) => (d.eventSource = 'oss.aliyuncs.com'),
    ];
    const current = structuredClone(data);
    for (let i = 0; i <= removals.length; i++) {
      expect(parseBucketEvent(created(structuredClone(current), subject))).toMatchObject({ bucket: `name-${i}` });
      removals[i]?.(current);
    }
  });

  it.each([
    ['an invalid name', { referencedResources: { 'ACS::OSS::Bucket': ['Bad_Name'] }, requestParameters: { BucketName: 'good-name' } }],
    ['a number', { referencedResources: { 'ACS::OSS::Bucket': [123] }, requestParameters: { BucketName: 'good-name' } }],
    ['an empty list', { referencedResources: { 'ACS::OSS::Bucket': [] }, requestParameters: { BucketName: 'good-name' } }],
    [
      'a string instead of a list',
      { referencedResources: { 'ACS::OSS::Bucket': 'good-name-not-list' }, oss: { bucket: { name: 'good-name' } } },
    ],
    ['an IP-like event source', { eventSource: '127.0.0.1', oss: { bucket: { name: 'good-name' } } }],
    ['a too-short name', { requestParameters: { BucketName: 'ab', bucketName: 'good-name' } }],
    ['a name with a dot', { oss: { bucket: { name: 'a.b' } }, eventSource: 'good-name.oss-cn-hangzhou.aliyuncs.com' }],
  ])('skips %s in favour of the next candidate', (_what, data) => {
    expect(parseBucketEvent(created(data))).toMatchObject({ bucket: 'good-name' });
  });

  it('skips an event source with an invalid first label in favour of the subject', () => {
    const event = created({ eventSource: 'UPPER.oss-cn-hangzhou.aliyuncs.com' }, 'acs:oss:cn-hangzhou:1:from-subject');
    expect(parseBucketEvent(event)).toMatchObject({ bucket: 'from-subject' });
  });

  it('reads the bucket of an object-style subject (acs:oss:…:<bucket>/<key>)', () => {
    expect(parseBucketEvent(created({}, 'acs:oss:cn-hangzhou:1234567:xls-papk/game_apk/123.jpg'))).toMatchObject({ bucket: 'xls-papk' });
  });

  it('does not fix up names: an upper-case name is refused, not lower-cased', () => {
    const err = validationError(() => parseBucketEvent(created({ oss: { bucket: { name: 'MyBucket' } } })));
    expect(err.issues).toContain('data.oss.bucket.name: "MyBucket" is not a valid bucket name');
  });

  it('refuses when no location yields a valid name, naming every place and what it found', () => {
    const err = validationError(() => parseBucketEvent(fixture('malformed-bucket-event-no-valid-name.json')));
    expect(err.issues).toEqual([
      'data.referencedResources["ACS::OSS::Bucket"][0]: "UPPER" is not a valid bucket name',
      'data.requestParameters.BucketName: not a string (number 42)',
      'data.requestParameters.bucketName: absent',
      'data.oss.bucket.name: absent',
      'data.eventSource: "oss.aliyuncs.com" does not look like <bucket>.oss-<region>….aliyuncs.com',
      'subject: "acs:oss:cn-hangzhou:1234567890123456:Not_A_Bucket" gives "Not_A_Bucket", which is not a valid bucket name',
    ]);
    expect(err.message).toBe(`no valid bucket name in the event; looked at: ${err.issues.join('; ')}`);
  });

  it('refuses an event with nothing at all, saying each place was absent', () => {
    const err = validationError(() => parseBucketEvent(created(undefined)));
    expect(err.issues).toHaveLength(6);
    for (const [i, [where]] of LOCATIONS.entries()) expect(err.issues[i]).toBe(`${where}: absent`);
  });

  it('truncates a huge candidate value in the refusal', () => {
    const err = validationError(() => parseBucketEvent(created({ oss: { bucket: { name: 'x'.repeat(100_000) } } })));
    expect(err.message.length).toBeLessThan(2000);
    expect(err.issues[3]).toMatch(/^data\.oss\.bucket\.name: "x{80}…" is not a valid bucket name$/);
  });
});

describe('manual payloads', () => {
  it('accepts extra fields next to bucket', () => {
    expect(parseBucketEvent({ bucket: 'my-bucket', dryRun: true })).toEqual({ kind: 'bucket', bucket: 'my-bucket', trigger: 'manual' });
  });

  it.each([
    [
      'malformed-manual-bucket-invalid.json',
      /^invalid manual payload: bucket: bucket name must be 3-63 characters.*, got string "My_Bucket"$/,
    ],
    ['malformed-manual-both.json', /^ambiguous manual payload: event: give either "bucket" or "allBuckets", not both$/],
  ])('%s is refused', (name, message) => {
    expect(validationError(() => parseBucketEvent(fixture(name))).message).toMatch(message);
  });

  it.each([
    [{ allBuckets: false }, 'allBuckets: expected true, got boolean false'],
    [{ allBuckets: 'true' }, 'allBuckets: expected true, got string "true"'],
    [{ bucket: 42 }, 'bucket: expected string, got number 42'],
    [{ bucket: null }, 'bucket: expected string, got null'],
    [
      { buckets: ['a'] },
      'event: expected an EventBridge bucket event (CloudEvent), {"bucket":"<name>"} or {"allBuckets":true}; found fields "buckets"',
    ],
    [{}, 'event: expected an EventBridge bucket event (CloudEvent), {"bucket":"<name>"} or {"allBuckets":true}; found no fields'],
    ['my-bucket', 'event is not valid JSON: '],
    [
      [{ bucket: 'my-bucket' }],
      'event: expected an EventBridge bucket event (CloudEvent), {"bucket":"<name>"} or {"allBuckets":true}, got array of 1',
    ],
  ] as [unknown, string][])('refuses %j', (input, issue) => {
    const err = validationError(() => parseBucketEvent(input));
    expect(err.issues[0]!.startsWith(issue)).toBe(true);
  });
});

describe('malformed EventBridge bucket events name the field', () => {
  it('an object event sent to the bucket function', () => {
    const err = validationError(() => parseBucketEvent(fixture('malformed-bucket-event-wrong-type.json')));
    expect(err.message).toBe(
      'unsupported EventBridge event for the bucket function: type: expected "oss:BucketCreated:PutBucket" or one ending in :ActionTrail:ApiCall / :ActionTrail:ConsoleOperation, got string "oss:ObjectCreated:PutObject"',
    );
  });

  it.each([
    ['no id', (e: Record<string, unknown>) => delete e['id'], 'id: is missing (expected string)'],
    ['a wrong specversion', (e: Record<string, unknown>) => (e['specversion'] = 1), 'specversion: expected "1.0", got number 1'],
    ['a numeric type', (e: Record<string, unknown>) => (e['type'] = 5), 'type: expected string, got number 5'],
    ['a non-string subject', (e: Record<string, unknown>) => (e['subject'] = ['x']), 'subject: expected string, got array of 1'],
  ])('envelope with %s', (_what, breakIt, issue) => {
    const event = editable('actiontrail-putbucket-apicall.json');
    breakIt(event);
    const err = validationError(() => parseBucketEvent(event));
    expect(err.message).toMatch(/^malformed EventBridge bucket event: /);
    expect(err.issues).toContain(issue);
  });

  it.each([
    ['no eventName', (d: Record<string, unknown>) => delete d['eventName'], 'data.eventName: is missing (expected string)'],
    ['no userIdentity', (d: Record<string, unknown>) => delete d['userIdentity'], 'data.userIdentity: is missing (expected object)'],
    ['no acsRegion', (d: Record<string, unknown>) => delete d['acsRegion'], 'data.acsRegion: is missing (expected string)'],
    [
      'a list as referencedResources',
      (d: Record<string, unknown>) => (d['referencedResources'] = []),
      'data.referencedResources: expected record, got array of 0',
    ],
    [
      'data not an object',
      (d: Record<string, unknown>) => Object.keys(d).forEach((k) => delete d[k]),
      'data.eventName: is missing (expected string)',
    ],
  ])('ActionTrail record with %s', (_what, breakIt, issue) => {
    const event = editable('actiontrail-putbucketencryption-apicall.json');
    breakIt(event.data);
    const err = validationError(() => parseBucketEvent(event));
    expect(err.message).toMatch(/^malformed ActionTrail event: /);
    expect(err.issues).toContain(issue);
  });

  it('tolerates wrong types in fields that are only logged, dropping them from the actor', () => {
    const event = editable('actiontrail-putbucketencryption-apicall.json');
    event.data.userIdentity.principalId = 12345;
    event.data.eventId = { nested: true };
    expect(parseBucketEvent(event)).toEqual({
      kind: 'bucket',
      bucket: 'trail-bucket-b',
      trigger: 'encryption-changed',
      eventName: 'PutBucketEncryption',
      actor: { accountId: '1234567890123456', type: 'ram-user', userName: 'alice' },
    });
  });

  it('a BucketCreated event with data that is not an object still finds the bucket in the subject', () => {
    expect(parseBucketEvent(created('just a string', 'acs:oss:cn-hangzhou:1:string-data'))).toMatchObject({ bucket: 'string-data' });
  });
});

// --- property tests ---------------------------------------------------------------------

const TRIGGERS = new Set(['created', 'encryption-changed', 'manual', 'other-api-call']);
const ACTOR_KEYS = new Set(['principalId', 'userName', 'type', 'accountId']);

function expectWellFormed(e: BucketEvent): void {
  if (e.kind === 'all-buckets') {
    expect(Object.keys(e)).toEqual(['kind']);
    return;
  }
  expect(e.kind).toBe('bucket');
  expect(isValidBucketName(e.bucket)).toBe(true);
  expect(TRIGGERS.has(e.trigger)).toBe(true);
  if (e.eventName !== undefined) expect(typeof e.eventName).toBe('string');
  if (e.actor !== undefined) {
    expect(Object.keys(e.actor).length).toBeGreaterThan(0);
    for (const [k, v] of Object.entries(e.actor)) {
      expect(ACTOR_KEYS.has(k)).toBe(true);
      expect(typeof v).toBe('string');
    }
  }
  for (const k of Object.keys(e)) expect(['kind', 'bucket', 'trigger', 'eventName', 'actor']).toContain(k);
}

function returnsOrRefuses(input: unknown): void {
  let value: BucketEvent;
  try {
    value = parseBucketEvent(input);
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    expect(err.message.length).toBeLessThan(4000);
    expect(err.issues.length).toBeGreaterThan(0);
    return;
  }
  expectWellFormed(value);
}

const longStrings = fc.oneof(
  fc.string({ minLength: 1000, maxLength: 20_000 }),
  fc.constantFrom('a'.repeat(100_000), `${'x.'.repeat(5000)}oss-a.aliyuncs.com`),
);
// Bucket-shaped strings, so mutations also hit the "valid name found" branch often.
const bucketish = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/);
const replacement = fc.oneof(anyValue, fc.jsonValue({ maxDepth: 4 }), hugeNumbers, longStrings, bucketish);

describe('property: parseBucketEvent never throws anything but EventValidationError', () => {
  it('on arbitrary values and JSON text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          anyValue,
          fc.jsonValue(),
          hugeNumbers,
          longStrings,
          fc.json().map((t) => Buffer.from(t)),
        ),
        returnsOrRefuses,
      ),
      { numRuns: 3000 },
    );
  });

  it('on fixtures with one field replaced or removed', () => {
    const names = [...bucketFixtures.map(([n]) => n), 'malformed-bucket-event-no-valid-name.json'];
    const cases = names.flatMap((name) => pathsOf(fixture(name)).map((path) => [name, path] as const));
    fc.assert(
      fc.property(fc.constantFrom(...cases), replacement, fc.boolean(), ([name, path], value, remove) => {
        returnsOrRefuses(mutate(fixture(name), path, value, remove));
      }),
      { numRuns: 4000 },
    );
  });

  it('on every candidate location holding arbitrary values', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(replacement, fc.constant(undefined)), { minLength: 6, maxLength: 6 }), (v) => {
        const event = created(
          {
            referencedResources: { 'ACS::OSS::Bucket': v[0] },
            requestParameters: { BucketName: v[1], bucketName: v[2] },
            oss: { bucket: { name: v[3] } },
            eventSource: v[4],
          },
          typeof v[5] === 'string' ? v[5] : undefined,
        );
        returnsOrRefuses(event);
      }),
      { numRuns: 2000 },
    );
  });

  it('on deep nesting', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 5000 }), fc.boolean(), (depth, asObject) => {
        let v: unknown = 'leaf';
        for (let i = 0; i < depth; i++) v = asObject ? { data: v, referencedResources: v, bucket: v } : [v];
        returnsOrRefuses(v);
        returnsOrRefuses(created(v, 'acs:oss:r:1:deep-bucket'));
      }),
      { numRuns: 200 },
    );
  });
});
