import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { OssEvents } from '../../local/oss/events';
import {
  EventValidationError,
  OssEventRecordSchema,
  OssObjectCloudEventSchema,
  OssTriggerEventSchema,
  decodeEvent,
  parseObjectEvent,
  parseObjectEventRecords,
  type ObjectEventRecord,
} from '../../shared/events';
import { normalizeEtag, sameEtag } from '../../shared/etag';
import { describeValue, formatPath, formatZodIssues } from '../../shared/validation/issues';
import { isValidBucketName, objectKeyProblem } from '../../shared/validation';
import { EVENT_FIXTURES, editable, fixture, rawFixture, validationError, type EditableFixture } from '../helpers/event-fixtures';
import { anyValue, deep, hugeNumbers, longStrings, mutate, pathsOf, replacement } from '../helpers/fuzz';

const FIXTURES = EVENT_FIXTURES;
const raw = rawFixture;

const templateRecord: ObjectEventRecord = {
  eventName: 'ObjectCreated:PutObject',
  bucket: 'testbucket',
  key: 'image/a.jpg',
  eTag: '688A7BF4F233DC9C88A80BF985AB7329',
  size: 122539,
  region: 'cn-shanghai',
  requestId: '58F9FF2D3DF792092E12044C',
};

const objectFixtures: [string, ObjectEventRecord[]][] = [
  ['oss-trigger-template.json', [templateRecord]],
  [
    'oss-trigger-multi-record.json',
    [
      {
        eventName: 'ObjectCreated:PutObject',
        bucket: 'testbucket',
        key: 'docs/report 2024.pdf',
        eTag: 'AAAABBBBCCCCDDDDEEEEFFFF00001111',
        size: 1000,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F607182901',
      },
      {
        eventName: 'ObjectCreated:PostObject',
        bucket: 'other-bucket',
        key: 'a+b/c%20d/ünïcødé-文件.txt',
        eTag: 'ABCDEF0123456789ABCDEF0123456789',
        size: 12,
        region: 'cn-hangzhou',
        requestId: '64B0F1A2C3D4E5F607182902',
      },
      {
        eventName: 'ObjectCreated:CompleteMultipartUpload',
        bucket: 'testbucket',
        key: 'big/video.mp4',
        eTag: '11112222333344445555666677778888-3',
        size: 2147483648,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F607182903',
      },
    ],
  ],
  [
    'oss-trigger-complete-multipart-upload.json',
    [
      {
        eventName: 'ObjectCreated:CompleteMultipartUpload',
        bucket: 'testbucket',
        key: 'backups/2024/db.tar.gz',
        eTag: '0F7230CAA4BE94CCBDC99C5500000000-5',
        size: 5368709120,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F60718293A',
      },
    ],
  ],
  [
    'oss-trigger-post-object.json',
    [
      {
        eventName: 'ObjectCreated:PostObject',
        bucket: 'testbucket',
        key: 'uploads/form photo.png',
        eTag: 'D41D8CD98F00B204E9800998ECF8427E',
        size: 20480,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F60718293B',
      },
    ],
  ],
  [
    'oss-trigger-append-object.json',
    [
      {
        eventName: 'ObjectCreated:AppendObject',
        bucket: 'testbucket',
        key: 'logs/app.log',
        eTag: '9C1C8E5A4B3D2F10E0D0C0B0A0908070',
        size: 4096,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F60718293C',
      },
    ],
  ],
  [
    'oss-trigger-copy-object.json',
    [
      {
        eventName: 'ObjectCreated:CopyObject',
        bucket: 'testbucket',
        key: 'image/a-copy.jpg',
        eTag: '688A7BF4F233DC9C88A80BF985AB7329',
        size: 122539,
        region: 'cn-shanghai',
        requestId: '64B0F1A2C3D4E5F60718293D',
      },
    ],
  ],
  [
    'oss-trigger-local.json',
    [
      {
        eventName: 'ObjectCreated:PutObject',
        bucket: 'local-bucket',
        key: 'dir/with space/é+%2B.bin',
        eTag: '900150983CD24FB0D6963F7D28E17F72',
        size: 3,
        region: 'cn-hangzhou',
        requestId: 'local-req-1',
      },
    ],
  ],
  [
    'eventbridge-object-created.json',
    [
      {
        eventName: 'ObjectCreated:PutObject',
        bucket: 'xls-papk',
        key: 'game_apk/123.jpg',
        eTag: '7B6D2F0A9E8C4B3A2D1E0F9A8B7C6D5E',
        size: 5242880,
        region: 'cn-hangzhou',
        requestId: '5F3E2D1C0B0A09080706050A',
      },
    ],
  ],
];

describe('object event fixtures', () => {
  it.each(objectFixtures)('%s parses to the normalized records', (name, expected) => {
    expect(parseObjectEvent(fixture(name))).toEqual(expected);
    expect(parseObjectEventRecords(fixture(name)).records).toEqual(expected.map((record, index) => ({ index, record })));
  });

  it('every fixture file is covered by a test in events*.test.ts', () => {
    const covered = new Set([
      ...objectFixtures.map(([n]) => n),
      // Covered below, in the malformed tests, and in events-bucket.test.ts.
      'malformed-events-not-array.json',
      'malformed-events-empty.json',
      'malformed-key-not-string.json',
      'malformed-record-missing-bucket.json',
      'malformed-multi-record-some-bad.json',
      'malformed-cloudevent-envelope.json',
      'malformed-not-json.txt',
    ]);
    const bucketTest = readFileSync(join(__dirname, 'events-bucket.test.ts'), 'utf8');
    const missing = readdirSync(FIXTURES).filter((f) => !covered.has(f) && !bucketTest.includes(`'${f}'`));
    expect(missing).toEqual([]);
  });

  it('the trigger schema accepts the official template and keeps unknown fields', () => {
    const parsed = OssTriggerEventSchema.parse(fixture('oss-trigger-template.json'));
    const record = parsed.events[0]!;
    expect(record.oss.object.key).toBe('image/a.jpg');
    // Not declared by the schema, yet kept (loose objects).
    expect(record.oss['ruleId']).toBe('9adac8e253828f4f7c0466d941fa3db81161****');
    expect((record.requestParameters as Record<string, unknown>)['sourceIPAddress']).toBe('140.205.***.***');
  });

  it('the record schema leaves key validity to the per-record check', () => {
    const record = editable('oss-trigger-template.json').events[0];
    record.oss.object.key = '/not-a-valid-key';
    expect(OssEventRecordSchema.safeParse(record).success).toBe(true);
    record.oss.object.key = '';
    expect(OssEventRecordSchema.safeParse(record).success).toBe(false);
  });

  it('tolerates new fields anywhere in a record', () => {
    const event = editable('oss-trigger-template.json');
    event.futureTopLevel = { x: 1 };
    event.events[0].futureRecordField = [1, 2];
    event.events[0].oss.object.futureObjectField = 'y';
    event.events[0].oss.bucket.futureBucketField = null;
    expect(parseObjectEvent(event)).toEqual([templateRecord]);
  });

  it('the EventBridge schema takes ONE record as data, not events[]', () => {
    const ok = OssObjectCloudEventSchema.safeParse(fixture('eventbridge-object-created.json'));
    expect(ok.success).toBe(true);
    const wrapped = editable('eventbridge-object-created.json');
    wrapped.data = { events: [wrapped.data] };
    const r = OssObjectCloudEventSchema.safeParse(wrapped);
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => i.path.join('.'))).toContain('data.eventSource');
  });

  it('matches what the local OSS server emits', () => {
    const events = new OssEvents('cn-hangzhou', '1234567890');
    const seen: unknown[] = [];
    events.on('object', (e) => seen.push(e));
    events.objectEvent({
      name: 'ObjectCreated:PutObject',
      bucket: 'local-bucket',
      key: 'a b/c+d%2F/ü.txt',
      etag: '"9e107d9d372bb6826bd81d3542a419d6"',
      size: 43,
      deltaSize: 43,
      contentType: 'text/plain',
      requestId: 'req-1',
      sourceIp: '127.0.0.1',
    });
    expect(seen).toHaveLength(1);
    expect(parseObjectEvent(seen[0])).toEqual([
      {
        eventName: 'ObjectCreated:PutObject',
        bucket: 'local-bucket',
        key: 'a b/c+d%2F/ü.txt',
        eTag: '9E107D9D372BB6826BD81D3542A419D6',
        size: 43,
        region: 'cn-hangzhou',
        requestId: 'req-1',
      },
    ]);
    // And as FC delivers it: a Buffer.
    expect(parseObjectEvent(Buffer.from(JSON.stringify(seen[0])))).toEqual(parseObjectEvent(seen[0]));
  });
});

describe('object event shapes and normalization', () => {
  it('accepts a Buffer, a Uint8Array, a JSON string (with or without BOM) and a parsed object alike', () => {
    const bytes = raw('oss-trigger-template.json');
    const text = bytes.toString('utf8');
    for (const input of [bytes, new Uint8Array(bytes), text, `\uFEFF${text}`, JSON.parse(text) as unknown]) {
      expect(parseObjectEvent(input)).toEqual([templateRecord]);
    }
  });

  it('accepts a bare record', () => {
    const record = editable('oss-trigger-template.json').events[0];
    const r = parseObjectEventRecords(record);
    expect(r.source).toBe('record');
    expect(r.records).toEqual([{ index: 0, record: templateRecord }]);
  });

  it('names the envelope it parsed', () => {
    expect(parseObjectEventRecords(fixture('oss-trigger-template.json')).source).toBe('oss-trigger');
    expect(parseObjectEventRecords(fixture('eventbridge-object-created.json')).source).toBe('eventbridge');
  });

  it('strips an oss: prefix from eventName', () => {
    const event = editable('oss-trigger-template.json');
    event.events[0].eventName = 'oss:ObjectCreated:PostObject';
    expect(parseObjectEvent(event)[0]?.eventName).toBe('ObjectCreated:PostObject');
  });

  it('normalizes a quoted lower-case ETag to the event spelling', () => {
    const event = editable('oss-trigger-template.json');
    event.events[0].oss.object.eTag = '"688a7bf4f233dc9c88a80bf985ab7329"';
    expect(parseObjectEvent(event)[0]?.eTag).toBe('688A7BF4F233DC9C88A80BF985AB7329');
  });

  it('carries versionId when present and omits requestId when absent', () => {
    const event = editable('oss-trigger-template.json');
    event.events[0].oss.object.versionId = 'CAEQNhiBgMDJgZCA0BYiIDc4MGZjZGI2OTBjOTRmNTE5NmU5NmFmZjFhZmQx****';
    delete event.events[0].responseElements;
    const [record] = parseObjectEvent(event);
    expect(record?.versionId).toBe('CAEQNhiBgMDJgZCA0BYiIDc4MGZjZGI2OTBjOTRmNTE5NmU5NmFmZjFhZmQx****');
    expect(record).not.toHaveProperty('requestId');
  });

  const oddKeys = [
    'with space.txt',
    '  leading and trailing  ',
    'a+b+c',
    '100%',
    '%E4%B8%AD%E6%96%87',
    'a%2Fb%20c+d',
    '中文/ファイル/한국어.txt',
    'emoji-😀-🚀',
    'tab\there',
    'trailing/',
    'dots/../and/./more',
    'é'.repeat(500), // 1000 bytes: still valid
  ];
  it.each(oddKeys)('preserves key %j exactly as given', (key) => {
    const event = editable('oss-trigger-template.json');
    event.events[0].oss.object.key = key;
    expect(parseObjectEvent(event)[0]?.key).toBe(key);
    expect(parseObjectEvent(JSON.stringify(event))[0]?.key).toBe(key);
  });
});

describe('normalizeEtag', () => {
  it.each([
    ['688A7BF4F233DC9C88A80BF985AB7329', '688A7BF4F233DC9C88A80BF985AB7329'],
    ['"688A7BF4F233DC9C88A80BF985AB7329"', '688A7BF4F233DC9C88A80BF985AB7329'],
    ['"688a7bf4f233dc9c88a80bf985ab7329"', '688A7BF4F233DC9C88A80BF985AB7329'],
    ['W/"abc"', 'ABC'],
    [' "abc-3" ', 'ABC-3'],
    ['"', ''],
    ['""', ''],
    ['W/W/"x"', 'X'],
    ['"w/abc"', 'ABC'],
  ])('%j → %j', (input, expected) => {
    expect(normalizeEtag(input)).toBe(expected);
  });

  it('compares HEAD and event spellings as equal, different values as different', () => {
    expect(sameEtag('"688a7bf4f233dc9c88a80bf985ab7329"', '688A7BF4F233DC9C88A80BF985AB7329')).toBe(true);
    expect(sameEtag('"688a7bf4f233dc9c88a80bf985ab7328"', '688A7BF4F233DC9C88A80BF985AB7329')).toBe(false);
  });

  it('is idempotent', () => {
    // Mostly the characters the normalization looks at, so tricky mixes are common.
    const etagish = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('"', 'W', 'w', '/', ' ', '\t', 'a', '0', '-') }));
    fc.assert(
      fc.property(etagish, (s) => {
        const once = normalizeEtag(s);
        expect(normalizeEtag(once)).toBe(once);
        expect(once).not.toMatch(/"|^\s|\s$|^W\//);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('malformed object event envelopes throw, naming the field', () => {
  const cases: [string, () => unknown, RegExp][] = [
    [
      'events not an array',
      () => fixture('malformed-events-not-array.json'),
      /^malformed OSS trigger event: events: expected array, got object$/,
    ],
    ['events empty', () => fixture('malformed-events-empty.json'), /events: must hold at least 1 item, got array of 0/],
    ['events null', () => ({ events: null }), /events: expected array, got null/],
    ['not JSON', () => raw('malformed-not-json.txt'), /^event is not valid JSON: /],
    ['empty Buffer', () => Buffer.alloc(0), /^event is not valid JSON: the event is empty$/],
    ['JSON null', () => Buffer.from('null'), /event: expected an OSS trigger event .*, got null/],
    ['a number', () => 42, /event: expected an OSS trigger event .*, got number 42/],
    ['an array', () => [fixture('oss-trigger-template.json')], /got array of 1/],
    ['an unrelated object', () => ({ foo: 1, bar: 2 }), /found fields "foo", "bar"/],
    [
      'a bucket event',
      () => fixture('bucket-created-local.json'),
      /^malformed EventBridge object event: type: must be an OSS object event type/,
    ],
  ];
  it.each(cases)('%s', (_name, input, message) => {
    const err = validationError(() => parseObjectEventRecords(input()));
    expect(err.message).toMatch(message);
    expect(err.issues.length).toBeGreaterThan(0);
    // The all-or-nothing form refuses the same way.
    expect(validationError(() => parseObjectEvent(input())).message).toBe(err.message);
  });

  it('a broken CloudEvent envelope lists each broken field', () => {
    const err = validationError(() => parseObjectEventRecords(fixture('malformed-cloudevent-envelope.json')));
    expect(err.issues).toEqual(['id: is missing (expected string)', 'specversion: expected "1.0", got string "0.3"']);
    expect(err.message).toBe(`malformed EventBridge object event: ${err.issues.join('; ')}`);
  });

  it('a CloudEvent without data is an envelope error', () => {
    const event = editable('eventbridge-object-created.json');
    delete event.data;
    expect(validationError(() => parseObjectEventRecords(event)).issues).toEqual(['data: is missing']);
  });
});

describe('bad records fail one by one', () => {
  it('a key that is not a string names events[0].oss.object.key', () => {
    const input = fixture('malformed-key-not-string.json');
    expect(parseObjectEventRecords(input).records).toEqual([
      { index: 0, error: 'events[0].oss.object.key: expected string, got number 12345' },
    ]);
    const err = validationError(() => parseObjectEvent(input));
    expect(err.message).toBe('invalid OSS object event (1 of 1 records): events[0].oss.object.key: expected string, got number 12345');
    expect(err.issues).toEqual(['events[0].oss.object.key: expected string, got number 12345']);
  });

  it('a missing bucket names events[0].oss.bucket', () => {
    expect(parseObjectEventRecords(fixture('malformed-record-missing-bucket.json')).records).toEqual([
      { index: 0, error: 'events[0].oss.bucket: is missing (expected object)' },
    ]);
  });

  it('keeps the good records of a multi-record event and says why the others failed', () => {
    const { records } = parseObjectEventRecords(fixture('malformed-multi-record-some-bad.json'));
    expect(records).toHaveLength(4);
    expect(records[0]).toMatchObject({ index: 0, record: { key: 'good/one.txt', requestId: 'R1' } });
    expect(records[1]).toEqual({ index: 1, error: "events[1].oss.object.key: invalid object key: it starts with '/'" });
    expect(records[2]).toEqual({ index: 2, error: 'events[2].oss.object.size: must be >= 0, got number -1' });
    expect(records[3]).toMatchObject({ index: 3, record: { key: 'good/four.txt', eTag: 'DDDD0000DDDD0000DDDD0000DDDD0000', size: 4 } });

    const err = validationError(() => parseObjectEvent(fixture('malformed-multi-record-some-bad.json')));
    expect(err.message).toMatch(
      /^invalid OSS object event \(2 of 4 records\): events\[1\]\.oss\.object\.key: .*; events\[2\]\.oss\.object\.size: /,
    );
  });

  it('a bad EventBridge data record is a record failure under data.', () => {
    const event = editable('eventbridge-object-created.json');
    event.data.oss.object.size = '5242880';
    expect(parseObjectEventRecords(event).records).toEqual([
      { index: 0, error: 'data.oss.object.size: expected number, got string "5242880"' },
    ]);
  });

  // Each case breaks a different field of a JSON record (see EditableFixture).
  const recordCases: [string, (r: EditableFixture) => void, string][] = [
    ['invalid bucket name', (r) => (r.oss.bucket.name = 'Bad_Bucket'), 'events[0].oss.bucket.name: bucket name must be 3-63 characters'],
    ['wrong eventSource', (r) => (r.eventSource = 'acs:s3'), 'events[0].eventSource: expected "acs:oss", got string "acs:s3"'],
    ['empty key', (r) => (r.oss.object.key = ''), 'events[0].oss.object.key: must not be empty, got string ""'],
    [
      'key too long',
      (r) => (r.oss.object.key = 'k'.repeat(1024)),
      'events[0].oss.object.key: invalid object key: it is longer than 1023 bytes',
    ],
    [
      'key with a lone surrogate',
      (r) => (r.oss.object.key = 'a\uD800b'),
      'events[0].oss.object.key: invalid object key: it contains a lone surrogate',
    ],
    ['unsafe size', (r) => (r.oss.object.size = 2 ** 60), 'events[0].oss.object.size: must be a safe integer'],
    ['fractional size', (r) => (r.oss.object.size = 1.5), 'events[0].oss.object.size: expected int, got number 1.5'],
    ['missing eTag', (r) => delete r.oss.object.eTag, 'events[0].oss.object.eTag: is missing (expected string)'],
  ];
  it.each(recordCases)('%s', (_name, breakIt, expected) => {
    const event = editable('oss-trigger-template.json');
    breakIt(event.events[0]);
    const [result] = parseObjectEventRecords(event).records;
    expect(result).toHaveProperty('error');
    expect((result as { error: string }).error.startsWith(expected)).toBe(true);
  });

  it('an empty ETag is accepted (InitiateMultipartUpload, ObjectRemoved): the handler decides by event name', () => {
    const event = editable('oss-trigger-template.json');
    event.events[0].oss.object.eTag = '';
    const [result] = parseObjectEventRecords(event).records;
    expect(result).toMatchObject({ record: { eTag: '' } });
  });

  it('a record that is not an object says what it is', () => {
    expect(parseObjectEventRecords({ events: ['hello', null] }).records).toEqual([
      { index: 0, error: 'events[0]: expected object, got string "hello"' },
      { index: 1, error: 'events[1]: expected object, got null' },
    ]);
  });

  it('a record with several problems lists them all', () => {
    const event = editable('oss-trigger-template.json');
    event.events[0].region = 7;
    event.events[0].oss.object.key = null;
    const [result] = parseObjectEventRecords(event).records;
    expect((result as { error: string }).error).toBe(
      'events[0].oss.object.key: expected string, got null; events[0].region: expected string, got number 7',
    );
  });
});

describe('error formatting', () => {
  it.each([
    [[], 'event'],
    [['events', 0, 'oss', 'object', 'key'], 'events[0].oss.object.key'],
    [['data', 'referencedResources', 'ACS::OSS::Bucket', 0], 'data.referencedResources["ACS::OSS::Bucket"][0]'],
    [[0, 'a'], '[0].a'],
    [['has space', Symbol('sym')], '["has space"][sym]'],
    [Array.from({ length: 20 }, (_, i) => `k${i}`), 'k0.k1.k2.k3.k4.k5.….k16.k17.k18.k19'],
  ] as [PropertyKey[], string][])('formatPath(%j) = %j', (path, expected) => {
    expect(formatPath(path)).toBe(expected);
  });

  it('truncates long keys in paths', () => {
    expect(formatPath(['x'.repeat(1000)])).toBe(`["${'x'.repeat(40)}…"]`);
  });

  it.each([
    ['s'.repeat(1000), `string "${'s'.repeat(60)}…"`],
    [1e308, 'number 1e+308'],
    [10n ** 100n, `bigint ${'1' + '0'.repeat(59)}…`],
    [undefined, 'nothing'],
    [null, 'null'],
    [[1, 2, 3], 'array of 3'],
    [{ a: 1 }, 'object'],
    [() => 1, 'function'],
  ] as [unknown, string][])('describeValue(%#)', (value, expected) => {
    expect(describeValue(value)).toBe(expected);
  });

  it('never echoes credential-looking fields, even with the wrong type', () => {
    const schema = z.object({ userIdentity: z.object({ accessKeyId: z.string(), securityToken: z.string(), name: z.string() }) });
    const r = schema.safeParse({ userIdentity: { accessKeyId: 123456789, securityToken: 987654321, name: 5 } }, { reportInput: true });
    const lines = formatZodIssues(r.error!.issues);
    expect(lines).toEqual([
      'userIdentity.accessKeyId: expected string (value hidden)',
      'userIdentity.securityToken: expected string (value hidden)',
      'userIdentity.name: expected string, got number 5',
    ]);
  });

  it('caps the number of issues and the length of the message', () => {
    const schema = z.array(z.string());
    const r = schema.safeParse(
      Array.from({ length: 500 }, (_, i) => i),
      { reportInput: true },
    );
    const lines = formatZodIssues(r.error!.issues, ['events']);
    expect(lines).toHaveLength(51);
    expect(lines[0]).toBe('events[0]: expected string, got number 0');
    expect(lines[50]).toBe('…and 450 more problems');
    const err = new EventValidationError('too many', lines);
    expect(err.message).toMatch(/^too many: events\[0\].*; …and 43 more$/);
    expect(err.message.length).toBeLessThan(1000);
    expect(err.name).toBe('EventValidationError');
  });

  it('does not throw on issues it cannot describe', () => {
    const deep: unknown[] = [];
    let cur = deep;
    for (let i = 0; i < 100_000; i++) {
      const next: unknown[] = [];
      cur.push(next);
      cur = next;
    }
    const weird = [
      { code: 'invalid_type', expected: 'string', path: [Symbol(), -0, ''], message: 'x', input: deep },
      { code: 'too_big', origin: 'weird', maximum: 10n ** 30n, path: [], message: 'y', input: 10n ** 100n },
      { code: 'custom', path: ['a'], message: 'z'.repeat(10_000) },
    ] as unknown as z.core.$ZodIssue[];
    const lines = formatZodIssues(weird);
    expect(lines[0]).toBe('[symbol][0][""]: expected string, got array of 1');
    expect(lines[1]).toBe(`event: must be <= ${10n ** 30n}, got bigint 1${'0'.repeat(59)}…`);
    expect(lines[2]!.length).toBeLessThanOrEqual(301);
  });
});

describe('decodeEvent', () => {
  it('parses bytes and text, passes parsed values through', () => {
    const obj = { a: [1, 'b'] };
    expect(decodeEvent(Buffer.from(JSON.stringify(obj)))).toEqual(obj);
    expect(decodeEvent(JSON.stringify(obj))).toEqual(obj);
    expect(decodeEvent(new TextEncoder().encode(JSON.stringify(obj)).buffer)).toEqual(obj);
    expect(decodeEvent(obj)).toBe(obj);
    expect(decodeEvent(null)).toBe(null);
  });

  it('decodes a Buffer view over a larger pool without reading past it', () => {
    const pool = Buffer.from('xx{"a":1}yy');
    expect(decodeEvent(pool.subarray(2, 9))).toEqual({ a: 1 });
  });

  it.each(['', '   ', '{', 'undefined', "{'a':1}", '{"a":1}}'])('rejects %j as not valid JSON', (text) => {
    const err = validationError(() => decodeEvent(Buffer.from(text)));
    expect(err.message).toMatch(/^event is not valid JSON: /);
    expect(err.issues).toEqual([err.message]);
  });
});

// --- property tests ---------------------------------------------------------------------

function expectWellFormed(records: ObjectEventRecord[]): void {
  expect(records.length).toBeGreaterThan(0);
  for (const r of records) {
    expect(isValidBucketName(r.bucket)).toBe(true);
    expect(objectKeyProblem(r.key)).toBeUndefined();
    expect(normalizeEtag(r.eTag)).toBe(r.eTag);
    expect(Number.isSafeInteger(r.size) && r.size >= 0).toBe(true);
    expect(typeof r.eventName).toBe('string');
    expect(r.eventName.startsWith('oss:')).toBe(false);
    for (const f of ['region', 'requestId', 'versionId'] as const) if (r[f] !== undefined) expect(typeof r[f]).toBe('string');
  }
}

/** Calls fn; it must return (checked by `check`) or throw EventValidationError with a bounded message. */
function returnsOrRefuses<T>(fn: () => T, check: (v: T) => void): void {
  let value: T;
  try {
    value = fn();
  } catch (err) {
    if (!(err instanceof EventValidationError)) throw err;
    expect(err.message.length).toBeLessThan(4000);
    expect(err.issues.length).toBeGreaterThan(0);
    for (const line of err.issues) expect(line.length).toBeLessThanOrEqual(301);
    return;
  }
  check(value);
}

const objectFixtureNames = objectFixtures.map(([n]) => n);

describe('property: parseObjectEvent / parseObjectEventRecords never throw anything but EventValidationError', () => {
  it('on arbitrary values', () => {
    fc.assert(
      fc.property(fc.oneof(anyValue, fc.jsonValue(), hugeNumbers, longStrings), (input) => {
        returnsOrRefuses(() => parseObjectEvent(input), expectWellFormed);
        returnsOrRefuses(
          () => parseObjectEventRecords(input),
          (r) => r.records.forEach((x) => ('record' in x ? expectWellFormed([x.record]) : expect(x.error.length).toBeGreaterThan(0))),
        );
      }),
      { numRuns: 3000 },
    );
  });

  it('on arbitrary JSON text as a Buffer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), fc.string()), (text) => {
        returnsOrRefuses(() => parseObjectEvent(Buffer.from(text)), expectWellFormed);
      }),
      { numRuns: 2000 },
    );
  });

  it('on fixtures with one field replaced or removed', () => {
    const cases = objectFixtureNames.flatMap((name) => pathsOf(fixture(name)).map((path) => [name, path] as const));
    fc.assert(
      fc.property(fc.constantFrom(...cases), replacement, fc.boolean(), ([name, path], value, remove) => {
        const input = mutate(fixture(name), path, value, remove);
        returnsOrRefuses(() => parseObjectEvent(input), expectWellFormed);
        returnsOrRefuses(
          () => parseObjectEventRecords(input),
          (r) => {
            expect(r.records.length).toBeGreaterThan(0);
            r.records.forEach((x, i) => {
              expect(x.index).toBe(i);
              if ('record' in x) expectWellFormed([x.record]);
              // A record failure always says where.
              else expect(x.error).toMatch(/^(events\[\d+\]|data|[A-Za-z])/);
            });
          },
        );
      }),
      { numRuns: 4000 },
    );
  });

  it('on deep nesting, also inside an otherwise valid record', () => {
    fc.assert(
      fc.property(deep, fc.constantFrom(...pathsOf(fixture('oss-trigger-template.json'))), (nested, path) => {
        returnsOrRefuses(() => parseObjectEvent(nested), expectWellFormed);
        returnsOrRefuses(() => parseObjectEvent(mutate(fixture('oss-trigger-template.json'), path, nested, false)), expectWellFormed);
      }),
      { numRuns: 300 },
    );
  });
});
