/** decorateOssPort over the project's OSS client against the local OSS server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decorateOssPort, OSS_PORT_METHODS, type OssMethod } from '../../shared/backfill/oss-hooks';
import type { OssHttpClient } from '../../shared/oss/http-client';
import { OssRequestError, type ObjectHead } from '../../shared/oss/port';
import { startTestOss, type TestOss } from '../helpers/oss';

let t: TestOss;
let oss: OssHttpClient;
beforeAll(async () => {
  t = await startTestOss();
  oss = t.httpClient();
  const c = t.client({ bucket: 'hooks' });
  await c.putBucket('hooks');
  await c.put('a', Buffer.from('a'));
});
afterAll(async () => {
  oss.destroy();
  await t.close();
});

describe('decorateOssPort', () => {
  it('has every OssPort method, and passes calls, results and errors through the hooks', async () => {
    const before: OssMethod[] = [];
    const heads: Array<[string | undefined, string, string | undefined]> = [];
    const port = decorateOssPort(oss, {
      before: async (method) => void before.push(method),
      after: { headObject: (head, [, key, versionId]) => void heads.push([head?.etag, key, versionId]) },
    });
    for (const method of OSS_PORT_METHODS) expect([method, typeof port[method]]).toEqual([method, 'function']);

    const head = (await port.headObject('hooks', 'a')) as ObjectHead;
    const { requestId: _ignored, ...direct } = (await oss.headObject('hooks', 'a')) as ObjectHead;
    expect(head).toMatchObject(direct);
    expect(head.requestId).toBeDefined();
    expect(await port.headObject('hooks', 'missing')).toBeUndefined();
    expect((await port.getObject('hooks', 'a'))?.toString()).toBe('a');
    const err = await port.getObjectAcl('no-such-bucket-hooks', 'a').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OssRequestError);
    expect((err as OssRequestError).code).toBe('NoSuchBucket');

    expect(before).toEqual(['headObject', 'headObject', 'getObject', 'getObjectAcl']);
    expect(heads).toEqual([
      [head.etag, 'a', undefined],
      [undefined, 'missing', undefined],
    ]);
  });
});
