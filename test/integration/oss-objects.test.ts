/** Object APIs of the local OSS server, through the real ali-oss client. */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { crc64 } from '../../shared/crc64';
import { startTestOss, type TestOss } from '../helpers/oss';

let t: TestOss;
beforeAll(async () => {
  t = await startTestOss({ settings: { copyObjectLimitBytes: 64 * 1024, restoreDelayMs: 200 } });
});
afterAll(async () => t.close());

// Every operation, with each way the functions may sign: V1 or V4, with or without an STS token.
const flavours = [
  { name: 'V1', bucket: 'objects-v1', opts: {} },
  { name: 'V4', bucket: 'objects-v4', opts: { v4: true } },
  { name: 'V1 + STS', bucket: 'objects-v1-sts', opts: { stsToken: 'sts-token' } },
  { name: 'V4 + STS', bucket: 'objects-v4-sts', opts: { v4: true, stsToken: 'sts-token' } },
] as const;

describe.each(flavours)('objects with $name signing', ({ bucket, opts }) => {
  const c = () => t.client({ bucket, ...opts });
  beforeAll(async () => {
    await c().putBucket(bucket);
  });

  async function ossError(
    p: Promise<unknown>,
  ): Promise<{ code: string; name: string; status: number; requestId?: string; message: string }> {
    try {
      await p;
    } catch (e) {
      return e as { code: string; name: string; status: number; requestId?: string; message: string };
    }
    throw new Error('expected the request to fail');
  }

  const md5Etag = (b: Buffer) => `"${createHash('md5').update(b).digest('hex').toUpperCase()}"`;

  describe('PutObject / GetObject / HeadObject', () => {
    const body = Buffer.from('hello, encrypted world');

    it('stores the bytes and answers with a quoted upper-case MD5 ETag and the CRC-64 OSS computes', async () => {
      const put = await c().put('greeting.txt', body);
      expect(put.res.headers.etag).toBe(md5Etag(body));
      expect(put.res.headers['x-oss-hash-crc64ecma']).toBe(crc64(body));
      expect(put.res.headers['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
      expect((await c().get('greeting.txt')).content.equals(body)).toBe(true);
    });

    // See docs/oss-behaviour.md#objects-and-re-encryption.
    it('HEAD returns every header OSS documents for an object', async () => {
      await c().put('full-headers.bin', body, {
        mime: 'text/plain',
        meta: { owner: 'team-a', note: 'x y' } as never,
        headers: {
          'Content-Encoding': 'identity',
          'Content-Disposition': 'attachment; filename="a.txt"',
          'Content-Language': 'en',
          'Cache-Control': 'no-cache',
          Expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
          'x-oss-storage-class': 'IA',
          'x-oss-server-side-encryption': 'KMS',
          'x-oss-server-side-encryption-key-id': 'my-key',
          'x-oss-server-side-data-encryption': 'SM4',
          'x-oss-tagging': 'a=1&b=two%20words',
        },
      });
      const h = (await c().head('full-headers.bin')).res.headers as Record<string, string>;
      expect(h).toMatchObject({
        'content-type': 'text/plain',
        'content-length': String(body.length),
        'content-encoding': 'identity',
        'content-disposition': 'attachment; filename="a.txt"',
        'content-language': 'en',
        'cache-control': 'no-cache',
        expires: 'Wed, 21 Oct 2037 07:28:00 GMT',
        etag: md5Etag(body),
        'x-oss-object-type': 'Normal',
        'x-oss-storage-class': 'IA',
        'x-oss-hash-crc64ecma': crc64(body),
        'x-oss-meta-owner': 'team-a',
        'x-oss-meta-note': 'x y',
        'x-oss-server-side-encryption': 'KMS',
        'x-oss-server-side-encryption-key-id': 'my-key',
        'x-oss-server-side-data-encryption': 'SM4',
        'x-oss-tagging-count': '2',
      });
      expect(h['x-oss-version-id']).toBeUndefined(); // unversioned bucket
      expect(Date.parse(h['last-modified'] as string)).toBeGreaterThan(Date.now() - 60_000);
    });

    it('answers HEAD errors without a body, with the error document base64 in x-oss-err', async () => {
      const err = await ossError(c().head('no/such/key'));
      expect([err.status, err.code]).toEqual([404, 'NoSuchKey']);
      // ali-oss maps a bodiless 404 itself; check the header directly too.
      const raw = await new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const url = new URL(t.server.url);
        const req = request({ host: url.hostname, port: url.port, method: 'HEAD', path: `/${bucket}/nope` }, (res) => {
          let b = '';
          res.on('data', (d: Buffer) => (b += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(raw.status).toBe(403); // unsigned
      expect(raw.body).toBe('');
      expect(Buffer.from(raw.headers['x-oss-err'] as string, 'base64').toString()).toContain('<Code>AccessDenied</Code>');
    });

    it('serves ranges: a-b inclusive, a-, -n; unsatisfiable is 416; malformed is ignored (whole object)', async () => {
      const data = Buffer.from('0123456789');
      await c().put('range.txt', data);
      const get = async (range: string) => c().get('range.txt', { headers: { Range: range } });
      const r1 = await get('bytes=2-4');
      expect([r1.res.status, r1.content.toString(), r1.res.headers['content-range']]).toEqual([206, '234', 'bytes 2-4/10']);
      expect((await get('bytes=7-')).content.toString()).toBe('789');
      expect((await get('bytes=-3')).content.toString()).toBe('789');
      expect((await get('bytes=5-100')).content.toString()).toBe('56789');
      const bad = await ossError(get('bytes=10-12'));
      expect([bad.status, bad.code]).toEqual([416, 'InvalidRange']);
      const whole = await get('bytes=x-y');
      expect([whole.res.status, whole.content.toString()]).toEqual([200, '0123456789']);
    });

    it('honours If-Match (412), If-None-Match (304) and If-Modified-Since', async () => {
      const put = await c().put('cond.txt', Buffer.from('c'));
      const etag = put.res.headers.etag as string;
      expect((await ossError(c().head('cond.txt', { headers: { 'If-Match': '"0000"' } }))).status).toBe(412);
      const ok = await c().head('cond.txt', { headers: { 'If-Match': etag } });
      expect(ok.status).toBe(200);
      const notModified = await c().get('cond.txt', { headers: { 'If-None-Match': etag } });
      expect(notModified.res.status).toBe(304);
      const future = new Date(Date.now() + 3_600_000).toUTCString();
      expect((await c().get('cond.txt', { headers: { 'If-Modified-Since': future } })).res.status).toBe(304);
    });

    it('refuses a Content-MD5 mismatch with 400 InvalidDigest and stores nothing', async () => {
      const err = await ossError(
        c().put('digest.txt', Buffer.from('abc'), { headers: { 'Content-MD5': createHash('md5').update('abd').digest('base64') } }),
      );
      expect([err.status, err.code]).toEqual([400, 'InvalidDigest']);
      expect((await ossError(c().head('digest.txt'))).status).toBe(404);
    });

    it('validates SSE headers: unknown algorithm, key id without KMS, SM4 data encryption without KMS', async () => {
      const put = (headers: Record<string, string>) => ossError(c().put('sse-bad', Buffer.from('x'), { headers }));
      expect((await put({ 'x-oss-server-side-encryption': 'RSA' })).code).toBe('InvalidEncryptionAlgorithmError');
      expect((await put({ 'x-oss-server-side-encryption': 'AES256', 'x-oss-server-side-encryption-key-id': 'k' })).code).toBe(
        'InvalidArgument',
      );
      expect((await put({ 'x-oss-server-side-encryption': 'SM4', 'x-oss-server-side-data-encryption': 'SM4' })).code).toBe(
        'InvalidArgument',
      );
      expect((await ossError(c().head('sse-bad'))).status).toBe(404);
    });

    it('honours x-oss-forbid-overwrite', async () => {
      await c().put('once', Buffer.from('1'));
      const err = await ossError(c().put('once', Buffer.from('2'), { headers: { 'x-oss-forbid-overwrite': 'true' } }));
      expect([err.status, err.code, (err as { ecCode?: string }).ecCode]).toEqual([409, 'FileAlreadyExists', '0026-00000002']);
      expect((await c().get('once')).content.toString()).toBe('1');
    });

    // See docs/oss-behaviour.md#objects-and-re-encryption (Go SDK TestPutObjectWithForbidOverWrite).
    it('x-oss-forbid-overwrite has no effect once versioning is enabled or suspended', async () => {
      const vb = `${bucket}-forbid-versioned`;
      const vc = t.client({ bucket: vb, ...opts });
      await vc.putBucket(vb);
      for (const status of ['Enabled', 'Suspended'] as const) {
        await vc.putBucketVersioning(vb, status);
        await vc.put('once', Buffer.from('1'));
        await vc.put('once', Buffer.from(status), { headers: { 'x-oss-forbid-overwrite': 'true' } });
        expect((await vc.get('once')).content.toString()).toBe(status);
      }
    });

    it('takes keys with spaces, +, %, unicode and 1023 bytes; refuses 1024 bytes', async () => {
      for (const key of ['a b+c%20d', '中文/ü/😀.txt', 'x'.repeat(1023), 'trailing/']) {
        await c().put(key, Buffer.from(key));
        expect((await c().get(key)).content.toString()).toBe(key);
      }
      const err = await ossError(c().put('y'.repeat(1024), Buffer.from('x')));
      expect([err.status, err.code]).toEqual([400, 'InvalidObjectName']);
    });
  });

  describe('DeleteObject / DeleteMultipleObjects', () => {
    it('deletes single and multiple objects; deleting a missing key is still 204', async () => {
      await c().put('del/a', Buffer.from('a'));
      await c().put('del/b', Buffer.from('b'));
      await c().put('del/c', Buffer.from('c'));
      expect((await c().delete('del/a')).res.status).toBe(204);
      expect((await c().delete('del/never')).res.status).toBe(204);
      const multi = await c().deleteMulti(['del/b', 'del/c', 'del/missing'], { quiet: false });
      expect([...multi.deleted].map((d) => (typeof d === 'string' ? d : (d as { Key: string }).Key)).sort()).toEqual([
        'del/b',
        'del/c',
        'del/missing',
      ]);
      for (const k of ['del/a', 'del/b', 'del/c']) expect((await ossError(c().head(k))).status).toBe(404);
    });

    it('deletes exactly the keys sent in DeleteMultipleObjects, leading and trailing spaces included', async () => {
      // ali-oss test/node/object.test.js "object key encoding should encode variant object keys".
      const keys = ['sp/ trailing ', 'sp/a<b&c>d +', 'sp/\x01\n\f\x07Pc'];
      await c().put('sp/ trailing', Buffer.from('no spaces'));
      for (const k of keys) await c().put(k, Buffer.from(k));
      const multi = await c().deleteMulti(keys, { quiet: false });
      expect((multi.deleted as unknown as Array<{ Key: string }>).map((d) => d.Key)).toEqual(keys);
      for (const k of keys) expect((await ossError(c().head(k))).status).toBe(404);
      expect((await c().get('sp/ trailing')).content.toString()).toBe('no spaces');
    });
  });

  describe('CopyObject', () => {
    it('COPY directive keeps metadata; SSE is never inherited from the source', async () => {
      await c().put('copy/src', Buffer.from('source'), {
        mime: 'text/csv',
        meta: { m: '1' } as never,
        headers: { 'x-oss-server-side-encryption': 'AES256', 'x-oss-tagging': 't=1' },
      });
      const res = await c().copy('copy/dst', 'copy/src');
      expect(res.res.status).toBe(200);
      const h = (await c().head('copy/dst')).res.headers as Record<string, string>;
      expect(h['content-type']).toBe('text/csv');
      expect(h['x-oss-meta-m']).toBe('1');
      expect(h['x-oss-tagging-count']).toBe('1');
      expect(h['x-oss-server-side-encryption']).toBeUndefined();
      expect((await c().get('copy/dst')).content.toString()).toBe('source');
    });

    it('REPLACE directive takes metadata from the request; SSE headers encrypt the copy; storage class and ACL are not carried over unless sent', async () => {
      await c().put('copy/self', Buffer.from('self'), {
        meta: { old: 'x' } as never,
        headers: { 'x-oss-storage-class': 'IA', 'x-oss-object-acl': 'private' },
      });
      await c().copy('copy/self', 'copy/self', {
        meta: { fresh: 'y' } as never,
        headers: { 'x-oss-server-side-encryption': 'AES256', 'x-oss-metadata-directive': 'REPLACE' },
      });
      const h = (await c().head('copy/self')).res.headers as Record<string, string>;
      expect(h['x-oss-meta-fresh']).toBe('y');
      expect(h['x-oss-meta-old']).toBeUndefined();
      expect(h['x-oss-server-side-encryption']).toBe('AES256');
      expect(h['x-oss-storage-class']).toBe('Standard');
      expect((await c().getACL('copy/self')).acl).toBe('default');
      expect((await c().get('copy/self')).content.toString()).toBe('self');
    });

    // See docs/oss-behaviour.md#objects-and-re-encryption (ossutil TestSetObjectMetaBasic; Go SDK TestCopyObject).
    it('a self-copy that changes neither encryption nor storage class keeps the object ACL; a copy to another key does not', async () => {
      await c().put('copy/meta-only', Buffer.from('m'), { headers: { 'x-oss-object-acl': 'private' } });
      await c().copy('copy/meta-only', 'copy/meta-only', {
        meta: { fresh: 'y' } as never,
        headers: { 'x-oss-metadata-directive': 'REPLACE' },
      });
      expect(((await c().head('copy/meta-only')).res.headers as Record<string, string>)['x-oss-meta-fresh']).toBe('y');
      expect((await c().getACL('copy/meta-only')).acl).toBe('private');
      await c().copy('copy/meta-only-elsewhere', 'copy/meta-only');
      expect((await c().getACL('copy/meta-only-elsewhere')).acl).toBe('default');
    });

    it('x-oss-copy-source-if-match pins the source: a changed object is 412 and nothing is written', async () => {
      const first = await c().put('copy/pinned', Buffer.from('v1'));
      await c().put('copy/pinned', Buffer.from('v2'));
      const err = await ossError(
        c().copy('copy/pinned', 'copy/pinned', { headers: { 'x-oss-copy-source-if-match': first.res.headers.etag as string } } as never),
      );
      expect([err.status, err.code]).toEqual([412, 'PreconditionFailed']);
      const h = (await c().head('copy/pinned')).res.headers;
      expect(h['x-oss-server-side-encryption']).toBeUndefined();
      expect((await c().get('copy/pinned')).content.toString()).toBe('v2');
    });

    it('names a failed source condition by its HTTP header in the 412 message, as OSS does', async () => {
      // ali-oss test/node/object.test.js copy() "should throw PreconditionFailedError when If-Match not equal
      // source object etag" / "... If-Unmodified-Since < source object modified time".
      await c().put('copy/cond', Buffer.from('c'));
      const lastYear = new Date(Date.now() - 365 * 24 * 3600 * 1000).toUTCString();
      const ifMatch = await ossError(c().copy('copy/cond-out', 'copy/cond', { headers: { 'If-Match': 'foo-bar' } }));
      expect([ifMatch.status, ifMatch.name, ifMatch.message]).toEqual([
        412,
        'PreconditionFailedError',
        'At least one of the pre-conditions you specified did not hold. (condition: If-Match)',
      ]);
      const unmodified = await ossError(c().copy('copy/cond-out', 'copy/cond', { headers: { 'If-Unmodified-Since': lastYear } }));
      expect(unmodified.message).toBe('At least one of the pre-conditions you specified did not hold. (condition: If-Unmodified-Since)');
      expect((await ossError(c().head('copy/cond-out'))).status).toBe(404);
    });

    it('x-oss-copy-source-if-unmodified-since holds on its own next to a matching if-match: a source modified since is 412', async () => {
      // The CopyObject page states each condition on its own ("only if"), with no rule letting a
      // matching If-Match override If-Unmodified-Since (S3 has one). See docs/oss-behaviour.md "Pinning the copy".
      const put = await c().put('copy/both', Buffer.from('b'));
      const etag = put.res.headers.etag as string;
      const lm = (await c().head('copy/both')).res.headers['last-modified'] as string;
      const before = new Date(Date.parse(lm) - 1000).toUTCString();
      const refused = await ossError(
        c().copy('copy/both', 'copy/both', {
          headers: {
            'x-oss-copy-source-if-match': etag,
            'x-oss-copy-source-if-unmodified-since': before,
            'x-oss-server-side-encryption': 'AES256',
          },
        } as never),
      );
      expect([refused.status, refused.code, refused.message]).toEqual([
        412,
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold. (condition: If-Unmodified-Since)',
      ]);
      expect((await c().head('copy/both')).res.headers['x-oss-server-side-encryption']).toBeUndefined();
      // Its own Last-Modified (the same second) passes, with the ETag.
      await c().copy('copy/both', 'copy/both', {
        headers: {
          'x-oss-copy-source-if-match': etag,
          'x-oss-copy-source-if-unmodified-since': lm,
          'x-oss-server-side-encryption': 'AES256',
        },
      } as never);
      expect((await c().head('copy/both')).res.headers['x-oss-server-side-encryption']).toBe('AES256');
    });

    it('refuses appendable sources, unknown sources, and (when encryption changes) sources above the CopyObject limit', async () => {
      await c().append('copy/appendable', Buffer.from('a'));
      expect((await ossError(c().copy('copy/x', 'copy/appendable'))).status).toBe(400);
      expect((await ossError(c().copy('copy/x', 'copy/none'))).code).toBe('NoSuchKey');
      await c().put('copy/big', Buffer.alloc(64 * 1024 + 1, 1));
      const big = await ossError(c().copy('copy/big', 'copy/big', { headers: { 'x-oss-server-side-encryption': 'AES256' } } as never));
      expect([big.status, big.code]).toEqual([400, 'EntityTooLarge']);
    });

    it('copies a given source version in a versioned bucket', async () => {
      const vb = `${bucket}-versions`;
      const vc = t.client({ bucket: vb, ...opts });
      await vc.putBucket(vb);
      await vc.putBucketVersioning(vb, 'Enabled');
      const v1 = (await vc.put('k', Buffer.from('old'))).res.headers['x-oss-version-id'] as string;
      await vc.put('k', Buffer.from('new'));
      const res = await vc.copy('k-restored', 'k', { versionId: v1 } as never);
      expect(res.res.headers['x-oss-copy-source-version-id']).toBe(v1);
      expect((await vc.get('k-restored')).content.toString()).toBe('old');
    });
  });

  describe('AppendObject, symlinks, ACL, tagging, restore', () => {
    it('appends at the right position and reports the next one; a wrong position is 409 PositionNotEqualToLength', async () => {
      const a = await c().append('log.txt', Buffer.from('abc'));
      expect(a.nextAppendPosition).toBe('3');
      await c().append('log.txt', Buffer.from('de'), { position: '3' });
      const err = await ossError(c().append('log.txt', Buffer.from('z'), { position: '1' }));
      expect([err.status, err.code]).toEqual([409, 'PositionNotEqualToLength']);
      // ali-oss test/node/object.test.js append() "should error when positio not match"; EC from OSS's error page.
      expect([err.name, err.message, (err as { ecCode?: string }).ecCode]).toEqual([
        'PositionNotEqualToLengthError',
        'Position is not equal to file length',
        '0026-00000016',
      ]);
      const h = (await c().head('log.txt')).res.headers;
      expect(h['x-oss-object-type']).toBe('Appendable');
      expect(h['x-oss-hash-crc64ecma']).toBe(crc64(Buffer.from('abcde')));
      expect((await c().get('log.txt')).content.toString()).toBe('abcde');
      expect((await ossError(c().append('greeting.txt', Buffer.from('x'), { position: '22' }))).code).toBe('ObjectNotAppendable');
    });

    it('creates symlinks that read through to the target and report type Symlink', async () => {
      await c().put('target file.txt', Buffer.from('target'));
      await c().putSymlink('link', 'target file.txt');
      expect((await c().getSymlink('link')).targetName).toBe('target file.txt');
      expect((await c().head('link')).res.headers['x-oss-object-type']).toBe('Symlink');
      expect((await c().get('link')).content.toString()).toBe('target');
    });

    it('refuses reads through a link to a link with InvalidTargetType, told in x-oss-err on HEAD', async () => {
      // ali-oss test/node/object.test.js head() "error detail from header".
      await c().put('chain/target', Buffer.from('t'));
      await c().putSymlink('chain/one', 'chain/target');
      await c().putSymlink('chain/two', 'chain/one');
      const head = await ossError(c().head('chain/two'));
      expect(head.code).toBe('InvalidTargetType');
      expect([404, 412]).not.toContain(head.status);
      expect((await ossError(c().get('chain/two'))).code).toBe('InvalidTargetType');
      expect((await c().get('chain/one')).content.toString()).toBe('t');
    });

    it('answers GetObjectMeta (HEAD ?objectMeta) with ETag, Content-Length and Last-Modified only', async () => {
      // ali-oss test/node/object.test.js getObjectMeta() "should return Etag and Content-Length".
      const body = Buffer.from('object meta');
      const put = await c().put('meta/one', body, { meta: { owner: 'x' }, headers: { 'x-oss-server-side-encryption': 'AES256' } } as never);
      const info = await c().getObjectMeta('meta/one');
      expect(info.status).toBe(200);
      const h = info.res.headers as Record<string, string>;
      expect([h.etag, h['content-length']]).toEqual([put.res.headers.etag, String(body.length)]);
      expect(Date.parse(h['last-modified']!)).toBeGreaterThan(Date.now() - 60_000);
      expect(h['x-oss-meta-owner']).toBeUndefined();
      expect(h['x-oss-server-side-encryption']).toBeUndefined();
      expect((await ossError(c().getObjectMeta('meta/none'))).status).toBe(404);
    });

    it('reads and writes object ACLs', async () => {
      await c().put('acl.txt', Buffer.from('x'));
      expect((await c().getACL('acl.txt')).acl).toBe('default');
      await c().putACL('acl.txt', 'public-read');
      expect((await c().getACL('acl.txt')).acl).toBe('public-read');
      expect((await ossError(c().putACL('acl.txt', 'everyone' as never))).code).toBe('InvalidArgument');
    });

    it('reads, replaces and deletes object tags; more than 10 tags is 400 InvalidTag', async () => {
      await c().put('tags.txt', Buffer.from('x'), { headers: { 'x-oss-tagging': 'k1=v1' } });
      expect((await c().getObjectTagging('tags.txt')).tag).toEqual({ k1: 'v1' });
      await c().putObjectTagging('tags.txt', { a: '1', 'b c': 'd e' });
      expect((await c().getObjectTagging('tags.txt')).tag).toEqual({ a: '1', 'b c': 'd e' });
      // ali-oss refuses 11 tags itself, so send the document through its signed request path.
      const raw = c() as unknown as {
        request(p: Record<string, unknown>): Promise<unknown>;
        _objectRequestParams(m: string, k: string, o: Record<string, unknown>): Record<string, unknown>;
      };
      const tagXml = `<Tagging><TagSet>${Array.from({ length: 11 }, (_, i) => `<Tag><Key>k${i}</Key><Value>v</Value></Tag>`).join('')}</TagSet></Tagging>`;
      const params = raw._objectRequestParams('PUT', 'tags.txt', { subres: { tagging: '' } });
      const tooMany = await ossError(raw.request({ ...params, content: tagXml, mime: 'xml', successStatuses: [200] }));
      expect([tooMany.status, tooMany.code]).toEqual([400, 'InvalidTag']);
      expect((await c().getObjectTagging('tags.txt')).tag).toEqual({ a: '1', 'b c': 'd e' });
      await c().deleteObjectTagging('tags.txt');
      expect((await c().getObjectTagging('tags.txt')).tag).toEqual({});
    });

    it('refuses reads and copies of an unrestored Archive object until RestoreObject completes', async () => {
      // The server runs in this process: with Date faked (timers stay real), the restore's
      // 200 ms pass exactly when the test moves the clock, however slow the machine.
      vi.useFakeTimers({ toFake: ['Date'] });
      try {
        await c().put('cold.bin', Buffer.from('frozen'), { headers: { 'x-oss-storage-class': 'Archive' } });
        expect((await ossError(c().get('cold.bin'))).code).toBe('InvalidObjectState');
        expect((await ossError(c().copy('cold-copy', 'cold.bin'))).code).toBe('InvalidObjectState');
        expect((await c().restore('cold.bin')).res.status).toBe(202);
        vi.setSystemTime(Date.now() + 199);
        expect((await c().head('cold.bin')).res.headers['x-oss-restore']).toBe('ongoing-request="true"');
        expect((await ossError(c().get('cold.bin'))).code).toBe('InvalidObjectState');
        expect((await ossError(c().restore('cold.bin'))).code).toBe('RestoreAlreadyInProgress');
        vi.setSystemTime(Date.now() + 1);
        expect((await c().head('cold.bin')).res.headers['x-oss-restore']).toMatch(/^ongoing-request="false", expiry-date=/);
        expect((await c().get('cold.bin')).content.toString()).toBe('frozen');
      } finally {
        vi.useRealTimers();
      }
    });

    it('restores Cold and Deep Cold Archive objects at the requested Tier and refuses a Tier for Archive', async () => {
      // ali-oss test/node/object.test.js restore() "Restore Cold Archive object with settings of Days and
      // JobParameters", "... Deep Cold Archive ...", "Should not set JobParameters when restore Archive object".
      const restore = (key: string, opts: Record<string, unknown>) => c().restore(key, opts as never);
      const priority = (r: { res: { headers: unknown } }) => (r.res.headers as Record<string, string>)['x-oss-object-restore-priority'];
      for (const [storageClass, tiers] of [
        ['ColdArchive', ['Standard', 'Expedited', 'Bulk']],
        ['DeepColdArchive', ['Standard', 'Expedited']],
      ] as const) {
        for (const tier of tiers) {
          const key = `tiers/${storageClass}-${tier}`;
          await c().put(key, Buffer.from('t'), { headers: { 'x-oss-storage-class': storageClass } });
          const r = await restore(key, { type: storageClass, Days: 3, JobParameters: tier });
          expect([r.res.status, priority(r)]).toEqual([202, tier]);
        }
      }
      await c().put('tiers/archive', Buffer.from('a'), { headers: { 'x-oss-storage-class': 'Archive' } });
      expect((await ossError(restore('tiers/archive', { type: 'ColdArchive' }))).code).toBe('MalformedXML');
      const plain = await restore('tiers/archive', { Days: 1 });
      expect([plain.res.status, priority(plain)]).toEqual([202, undefined]);
      await c().put('tiers/bad', Buffer.from('b'), { headers: { 'x-oss-storage-class': 'ColdArchive' } });
      expect((await ossError(restore('tiers/bad', { type: 'ColdArchive', JobParameters: 'Fast' }))).status).toBe(400);
    });
  });

  describe('malformed requests', () => {
    it('answers bad XML, unknown sub-resources and bad parameters with an OSS error document and a 4xx', async () => {
      const raw = c() as unknown as {
        request(p: Record<string, unknown>): Promise<unknown>;
        _objectRequestParams(m: string, k: string, o: Record<string, unknown>): Record<string, unknown>;
      };
      const badXml = raw._objectRequestParams('PUT', 'acl.txt', { subres: { tagging: '' } });
      const e1 = await ossError(raw.request({ ...badXml, content: '<Tagging><TagSet>', mime: 'xml', successStatuses: [200] }));
      expect([e1.status, e1.code]).toEqual([400, 'MalformedXML']);
      const lifecycle = raw._objectRequestParams('PUT', 'acl.txt', { subres: { lifecycle: '' } });
      const e2 = await ossError(raw.request({ ...lifecycle, content: 'x', successStatuses: [200] }));
      expect(e2.status).toBe(400);
      expect((await c().get('acl.txt')).content.toString()).toBe('x');
      const append = raw._objectRequestParams('POST', 'never-appended', { subres: { append: '', position: '-1' } });
      const e3 = await ossError(raw.request({ ...append, content: 'x', successStatuses: [200] }));
      expect([e3.status, e3.code]).toEqual([400, 'InvalidArgument']);
    });
  });
});
