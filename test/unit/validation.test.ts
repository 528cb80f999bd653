import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import {
  BucketNameSchema,
  ConfigError,
  ConfigSchema,
  defineEnvConfig,
  isEndpoint,
  isValidBucketName,
  loadConfig,
  ObjectKeySchema,
  objectKeyProblem,
  onlyWhen,
  secret,
} from '../../shared/validation';

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** What an empty environment configures. */
const DEFAULTS = {
  SSE_ALGORITHM: 'AES256',
  COMPLIANCE: 'any',
  BUCKET_INCLUDE: [],
  BUCKET_EXCLUDE: [],
  KEY_EXCLUDE_PREFIXES: [],
  OVERRIDE_BUCKET_RULE: false,
  MULTIPART_THRESHOLD_BYTES: 1073741824,
  PART_SIZE_BYTES: 64 * 1024 * 1024,
  PART_CONCURRENCY: 8,
  PRESERVE_ACL: true,
  DELETE_PLAINTEXT_VERSIONS: false,
  OBJECT_EVENTS: ['PutObject', 'PostObject', 'CompleteMultipartUpload', 'AppendObject'],
  BUCKET_REENCRYPT_LIMIT: 1000,
  STATE_PREFIX: 'oss-sse/jobs/',
};

describe('bucket names', () => {
  const valid = ['abc', 'a'.repeat(63), 'my-bucket-01', '0bucket9', 'a-b', '123'];
  const invalid = [
    ['ab', '2 chars'],
    ['a'.repeat(64), '64 chars'],
    ['', 'empty'],
    ['-abc', 'leading hyphen'],
    ['abc-', 'trailing hyphen'],
    ['Abc', 'upper case'],
    ['ab_c', 'underscore'],
    ['ab.c', 'dot'],
    ['ab c', 'space'],
    ['abc\n', 'trailing newline'],
  ] as const;

  it.each(valid)('accepts %j', (name) => {
    expect(isValidBucketName(name)).toBe(true);
    expect(BucketNameSchema.safeParse(name).success).toBe(true);
  });

  it.each(invalid)('rejects %j (%s)', (name) => {
    expect(isValidBucketName(name)).toBe(false);
    const r = BucketNameSchema.safeParse(name);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toMatch(/3-63 characters of lower-case letters, digits and hyphens/);
  });

  it('boundaries are exactly 3 and 63', () => {
    expect(isValidBucketName('a'.repeat(3))).toBe(true);
    expect(isValidBucketName('a'.repeat(2))).toBe(false);
    expect(isValidBucketName('a'.repeat(63))).toBe(true);
    expect(isValidBucketName('a'.repeat(64))).toBe(false);
  });
});

describe('object keys', () => {
  // 'é' is 2 bytes, '€' 3 bytes, '😀' 4 bytes (a surrogate pair): JS length differs from bytes.
  const key1023 = '€'.repeat(341); // 1023 bytes, 341 chars
  const key1024 = '€'.repeat(341) + 'a';
  const emoji1023 = '😀'.repeat(255) + '€'; // 1020 + 3
  const emoji1024 = '😀'.repeat(256);

  it('counts UTF-8 bytes, not characters', () => {
    expect(utf8Bytes(key1023)).toBe(1023);
    expect(utf8Bytes(key1024)).toBe(1024);
    expect(utf8Bytes(emoji1023)).toBe(1023);
    expect(utf8Bytes(emoji1024)).toBe(1024);
    expect(objectKeyProblem(key1023)).toBeUndefined();
    expect(objectKeyProblem(emoji1023)).toBeUndefined();
    expect(objectKeyProblem(key1024)).toBe('it is 1024 bytes in UTF-8, more than 1023');
    expect(objectKeyProblem(emoji1024)).toBe('it is 1024 bytes in UTF-8, more than 1023');
    expect(objectKeyProblem('é'.repeat(512))).toMatch(/1024 bytes/);
    expect(objectKeyProblem('a'.repeat(1023))).toBeUndefined();
    expect(objectKeyProblem('a'.repeat(1024))).toMatch(/longer than 1023 bytes/);
  });

  it('accepts what OSS accepts', () => {
    for (const key of ['a', 'dir/sub/file.txt', 'a/', 'a//b', ' leading space', 'tab\there', 'ctl\u0001x', 'x\\y', '%2F', '..']) {
      expect(objectKeyProblem(key), key).toBeUndefined();
      expect(ObjectKeySchema.safeParse(key).success).toBe(true);
    }
  });

  it('rejects empty, leading slash and leading backslash', () => {
    expect(objectKeyProblem('')).toBe('it is empty');
    expect(objectKeyProblem('/a')).toBe("it starts with '/'");
    expect(objectKeyProblem('\\a')).toBe("it starts with '\\'");
  });

  it('rejects lone surrogates anywhere', () => {
    expect(objectKeyProblem('a\ud800')).toMatch(/lone surrogate U\+D800 at index 1/);
    expect(objectKeyProblem('a\udc00b')).toMatch(/lone surrogate U\+DC00 at index 1/);
    expect(objectKeyProblem('\ude00\ud83d')).toMatch(/lone surrogate U\+DE00 at index 0/); // reversed pair
    expect(objectKeyProblem('ok\ud83d\ude00')).toBeUndefined();
  });

  it('the schema reports the same problem', () => {
    const r = ObjectKeySchema.safeParse('/x');
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe("invalid object key: it starts with '/'");
    expect(ObjectKeySchema.safeParse(key1024).success).toBe(false);
    expect(ObjectKeySchema.safeParse(key1023).data).toBe(key1023);
  });
});

describe('endpoints', () => {
  it.each([
    'http://127.0.0.1:9000',
    'https://oss-cn-hangzhou-internal.aliyuncs.com',
    'https://oss-cn-hangzhou.aliyuncs.com/',
    'oss-cn-hangzhou.aliyuncs.com',
    'kms.cn-hangzhou.aliyuncs.com:443',
    '127.0.0.1:8080',
    'localhost',
    '[::1]:9000',
    'http://[::1]:9000',
  ])('accepts %j', (e) => expect(isEndpoint(e)).toBe(true));

  it.each([
    'ftp://host',
    'http://host/path',
    'http://host?x=1',
    'http://user:pw@host',
    'http://host:99999',
    'host:0',
    'host:70000',
    'host:',
    'host/path',
    'http//host',
    'ho st',
    '-host',
    ' http://host',
  ])('rejects %j', (e) => expect(isEndpoint(e)).toBe(false));
});

function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected loadConfig to throw');
}

describe('configuration', () => {
  it('applies defaults and ignores unrelated variables', () => {
    expect(loadConfig({ PATH: '/usr/bin', HOME: '/root' })).toEqual(DEFAULTS);
  });

  it('treats empty strings as unset', () => {
    expect(
      loadConfig({
        SSE_ALGORITHM: '',
        KMS_KEY_ID: '',
        KMS_DATA_ENCRYPTION: '',
        OSS_ENDPOINT: '',
        KMS_ENDPOINT: '',
        FC_ENDPOINT: '',
        MULTIPART_THRESHOLD_BYTES: '',
      }),
    ).toEqual(DEFAULTS);
  });

  it('parses a full KMS configuration', () => {
    expect(
      loadConfig({
        SSE_ALGORITHM: 'KMS',
        KMS_KEY_ID: 'acs:kms:cn-hangzhou:1234567890:key/key-hzz62f1cb66fa42qo1234',
        KMS_DATA_ENCRYPTION: 'SM4',
        OSS_ENDPOINT: 'http://127.0.0.1:9000',
        KMS_ENDPOINT: '127.0.0.1:9001',
        FC_ENDPOINT: 'https://123.cn-hangzhou.fc.aliyuncs.com',
        MULTIPART_THRESHOLD_BYTES: '102400',
      }),
    ).toEqual({
      ...DEFAULTS,
      SSE_ALGORITHM: 'KMS',
      KMS_KEY_ID: 'acs:kms:cn-hangzhou:1234567890:key/key-hzz62f1cb66fa42qo1234',
      KMS_DATA_ENCRYPTION: 'SM4',
      OSS_ENDPOINT: 'http://127.0.0.1:9000',
      KMS_ENDPOINT: '127.0.0.1:9001',
      FC_ENDPOINT: 'https://123.cn-hangzhou.fc.aliyuncs.com',
      MULTIPART_THRESHOLD_BYTES: 102400,
    });
  });

  it.each(['AES256', 'KMS', 'SM4'])('accepts SSE_ALGORITHM=%s', (alg) => {
    expect(loadConfig({ SSE_ALGORITHM: alg }).SSE_ALGORITHM).toBe(alg);
  });

  it.each(['aes', 'kms', 'AES-256', 'None', ' KMS'])('rejects SSE_ALGORITHM=%j naming the allowed values', (alg) => {
    const e = configError({ SSE_ALGORITHM: alg });
    expect(e.name).toBe('ConfigError');
    expect(e.message).toBe(`Invalid configuration: SSE_ALGORITHM=${JSON.stringify(alg)} must be one of AES256, KMS, SM4`);
    expect(e.variables).toEqual(['SSE_ALGORITHM']);
  });

  it.each([
    '1234abcd-12ab-34cd-56ef-1234567890ab',
    'key-hzz62f1cb66fa42qo1234',
    'alias/my-key',
    'alias/team/app_key-1',
    'acs:kms:cn-hangzhou:1234567890:key/key-hzz62f1cb66fa42qo1234',
    'acs:kms:cn-hangzhou:1234567890:alias/my-key',
  ])('accepts KMS_KEY_ID=%s with SSE_ALGORITHM=KMS', (id) => {
    expect(loadConfig({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: id }).KMS_KEY_ID).toBe(id);
  });

  it('KMS without a key id is valid (OSS-managed CMK)', () => {
    expect(loadConfig({ SSE_ALGORITHM: 'KMS' })).toEqual({ ...DEFAULTS, SSE_ALGORITHM: 'KMS' });
  });

  it.each([
    'alias/',
    'alias/has space',
    'key id',
    'acs:kms:cn-hangzhou:acct:key/x',
    'acs:oss:cn-hangzhou:123:key/x',
    'arn:aws:kms:x',
    '-key',
  ])('rejects malformed KMS_KEY_ID=%j naming the accepted forms', (id) => {
    const e = configError({ SSE_ALGORITHM: 'KMS', KMS_KEY_ID: id });
    expect(e.message).toBe(
      `Invalid configuration: KMS_KEY_ID=${JSON.stringify(id)} must be a key id, alias/<name>, ` +
        'acs:kms:<region>:<account>:key/<id> or acs:kms:<region>:<account>:alias/<name>',
    );
  });

  it.each([undefined, 'AES256', 'SM4'])('KMS_KEY_ID is only allowed when SSE_ALGORITHM=KMS (SSE_ALGORITHM=%s)', (alg) => {
    const e = configError({ SSE_ALGORITHM: alg, KMS_KEY_ID: 'alias/my-key' });
    expect(e.message).toBe('Invalid configuration: KMS_KEY_ID is only allowed when SSE_ALGORITHM=KMS');
    expect(e.variables).toEqual(['KMS_KEY_ID']);
  });

  it('KMS_DATA_ENCRYPTION accepts only SM4, only with KMS', () => {
    expect(loadConfig({ SSE_ALGORITHM: 'KMS', KMS_DATA_ENCRYPTION: 'SM4' }).KMS_DATA_ENCRYPTION).toBe('SM4');
    expect(configError({ SSE_ALGORITHM: 'KMS', KMS_DATA_ENCRYPTION: 'AES256' }).message).toBe(
      'Invalid configuration: KMS_DATA_ENCRYPTION="AES256" must be one of SM4',
    );
    expect(configError({ SSE_ALGORITHM: 'SM4', KMS_DATA_ENCRYPTION: 'SM4' }).message).toBe(
      'Invalid configuration: KMS_DATA_ENCRYPTION is only allowed when SSE_ALGORITHM=KMS',
    );
    expect(configError({ KMS_DATA_ENCRYPTION: 'SM4' }).message).toBe(
      'Invalid configuration: KMS_DATA_ENCRYPTION is only allowed when SSE_ALGORITHM=KMS',
    );
  });

  it.each(['OSS_ENDPOINT', 'KMS_ENDPOINT', 'FC_ENDPOINT'])('%s must be an http(s) URL or host[:port]', (name) => {
    expect(loadConfig({ [name]: 'https://example.aliyuncs.com' })[name as 'OSS_ENDPOINT']).toBe('https://example.aliyuncs.com');
    expect(loadConfig({ [name]: 'example.aliyuncs.com:8080' })[name as 'OSS_ENDPOINT']).toBe('example.aliyuncs.com:8080');
    expect(configError({ [name]: 'ftp://example.com' }).message).toBe(
      `Invalid configuration: ${name}="ftp://example.com" must be an http(s) URL without a path, or host[:port]`,
    );
  });

  describe('MULTIPART_THRESHOLD_BYTES', () => {
    it.each([
      ['102400', 102400],
      ['1073741824', 1073741824],
      ['5242880', 5242880],
    ])('accepts %s', (v, n) => {
      expect(loadConfig({ MULTIPART_THRESHOLD_BYTES: v }).MULTIPART_THRESHOLD_BYTES).toBe(n);
    });

    it.each(['102399', '1073741825', '0', '-1', '1.5', '1e9', 'abc', '1GiB', ' 102400', '99999999999999999999'])('rejects %j', (v) => {
      expect(configError({ MULTIPART_THRESHOLD_BYTES: v }).message).toBe(
        `Invalid configuration: MULTIPART_THRESHOLD_BYTES=${JSON.stringify(v)} must be an integer from 102400 to 1073741824`,
      );
    });
  });

  it('reports several errors together, in declaration order', () => {
    const e = configError({ SSE_ALGORITHM: 'aes', KMS_DATA_ENCRYPTION: 'SM4' });
    expect(e.message).toBe(
      'Invalid configuration: SSE_ALGORITHM="aes" must be one of AES256, KMS, SM4; KMS_DATA_ENCRYPTION is only allowed when SSE_ALGORITHM=KMS',
    );

    const all = configError({
      MULTIPART_THRESHOLD_BYTES: '1',
      FC_ENDPOINT: 'http://x/y',
      KMS_KEY_ID: 'bad key',
      SSE_ALGORITHM: 'none',
      KMS_ENDPOINT: 'a b',
    });
    expect(all.variables).toEqual(['SSE_ALGORITHM', 'KMS_KEY_ID', 'KMS_ENDPOINT', 'FC_ENDPOINT', 'MULTIPART_THRESHOLD_BYTES']);
    expect(all.problems).toEqual([
      'SSE_ALGORITHM="none" must be one of AES256, KMS, SM4',
      'KMS_KEY_ID="bad key" must be a key id, alias/<name>, acs:kms:<region>:<account>:key/<id> or acs:kms:<region>:<account>:alias/<name>',
      'KMS_KEY_ID is only allowed when SSE_ALGORITHM=KMS',
      'KMS_ENDPOINT="a b" must be an http(s) URL without a path, or host[:port]',
      'FC_ENDPOINT="http://x/y" must be an http(s) URL without a path, or host[:port]',
      'MULTIPART_THRESHOLD_BYTES="1" must be an integer from 102400 to 1073741824',
    ]);
    expect(all.message).toBe(`Invalid configuration: ${all.problems.join('; ')}`);
  });

  it('ConfigSchema is a plain zod schema over the environment', () => {
    expect(ConfigSchema.parse({ SSE_ALGORITHM: 'SM4', OTHER: 'x' })).toEqual({ ...DEFAULTS, SSE_ALGORITHM: 'SM4' });
    expect(ConfigSchema.safeParse({ SSE_ALGORITHM: 'x' }).success).toBe(false);
  });

  it('never echoes a secret value, wherever secret() wraps the schema', () => {
    const { load } = defineEnvConfig(
      {
        MODE: z.enum(['a', 'b']).default('a'),
        TOKEN: secret(z.string().regex(/^tok-/, { error: 'must start with tok-' })).optional(),
        PASSWORD: secret(z.string().min(8, { error: 'must be at least 8 characters' }).optional()),
      },
      [onlyWhen('TOKEN', 'MODE', 'b')],
    );
    expect(load({ MODE: 'b', TOKEN: 'tok-1' })).toEqual({ MODE: 'b', TOKEN: 'tok-1' });
    let err: unknown;
    try {
      load({ TOKEN: 'hunter2', PASSWORD: 'short' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as ConfigError).message;
    expect(message).toBe(
      'Invalid configuration: TOKEN (value hidden) must start with tok-; TOKEN is only allowed when MODE=b; PASSWORD (value hidden) must be at least 8 characters',
    );
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('short');
  });

  it('truncates very long values in the message', () => {
    const e = configError({ SSE_ALGORITHM: 'x'.repeat(1000) });
    expect(e.message.length).toBeLessThan(300);
    expect(e.message).toContain('…');
    expect(e.message).toContain('must be one of AES256, KMS, SM4');
  });
});

describe('policy variables', () => {
  it('parses lists, flags and bounded integers', () => {
    const c = loadConfig({
      COMPLIANCE: 'exact',
      BUCKET_INCLUDE: 'prod-*, logs-??',
      BUCKET_EXCLUDE: 'prod-tmp',
      KEY_EXCLUDE_PREFIXES: 'tmp/, cache/,',
      OVERRIDE_BUCKET_RULE: 'true',
      PART_SIZE_BYTES: '1048576',
      PART_CONCURRENCY: '16',
      PRESERVE_ACL: 'false',
      DELETE_PLAINTEXT_VERSIONS: 'true',
      OBJECT_EVENTS: 'PutObject,CompleteMultipartUpload',
    });
    expect(c).toMatchObject({
      COMPLIANCE: 'exact',
      BUCKET_INCLUDE: ['prod-*', 'logs-??'],
      BUCKET_EXCLUDE: ['prod-tmp'],
      KEY_EXCLUDE_PREFIXES: ['tmp/', 'cache/'],
      OVERRIDE_BUCKET_RULE: true,
      PART_SIZE_BYTES: 1048576,
      PART_CONCURRENCY: 16,
      PRESERVE_ACL: false,
      DELETE_PLAINTEXT_VERSIONS: true,
      OBJECT_EVENTS: ['PutObject', 'CompleteMultipartUpload'],
    });
  });

  it.each([
    [{ COMPLIANCE: 'strict' }, 'COMPLIANCE="strict" must be one of any, exact'],
    [{ PRESERVE_ACL: 'yes' }, 'PRESERVE_ACL="yes" must be true or false'],
    [{ PART_CONCURRENCY: '0' }, 'PART_CONCURRENCY="0" must be an integer from 1 to 64'],
    [{ PART_SIZE_BYTES: '1000' }, 'PART_SIZE_BYTES="1000" must be an integer from 102400 to 5368709120'],
    [{ BUCKET_INCLUDE: 'Prod_*' }, 'BUCKET_INCLUDE'],
    [{ OBJECT_EVENTS: 'PutObject,CopyObject' }, 'OBJECT_EVENTS'],
    [{ STATE_BUCKET: 'Bad_Bucket' }, 'STATE_BUCKET'],
    [{ STATE_PREFIX: 'jobs' }, 'STATE_PREFIX="jobs" must be empty or end with "/"'],
  ])('rejects %j naming the variable', (env, text) => {
    expect(() => loadConfig(env)).toThrow(text);
  });
});
