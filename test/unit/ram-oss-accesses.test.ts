/** The accesses a local OSS request needs, from the one action table (shared/ram/actions.ts). */
import { describe, expect, it } from 'vitest';
import { OSS_OP_RAM, type OssApiName } from '../../shared/ram/actions';
import type { OssRequest } from '../../shared/signing';
import { ossAccesses, ossApiOf } from '../../local/oss/ram';
import * as bucketApi from '../../local/oss/bucket';
import * as objectApi from '../../local/oss/object';
import * as inventoryApi from '../../local/oss/inventory';
import * as listApi from '../../local/oss/list';
import * as multipartApi from '../../local/oss/multipart';

const scope = { region: 'cn-hangzhou', accountId: '1234567890123456' };
const arn = (resource: string) => `acs:oss:cn-hangzhou:1234567890123456:${resource}`;
const req = (over: Partial<OssRequest>): OssRequest => ({ method: 'GET', bucket: 'data', query: {}, headers: {}, ...over });

describe('ossAccesses', () => {
  it('object, bucket and account operations are asked on the object, the bucket and the account', () => {
    expect(ossAccesses('HeadObject', req({ key: 'a/b.txt' }), scope)).toEqual([{ action: 'oss:GetObject', resource: arn('data/a/b.txt') }]);
    expect(ossAccesses('PutBucketEncryption', req({ method: 'PUT' }), scope)).toEqual([
      { action: 'oss:PutBucketEncryption', resource: arn('data') },
    ]);
    expect(ossAccesses('ListBuckets', req({ bucket: '' }), scope)).toEqual([{ action: 'oss:ListBuckets', resource: arn('*') }]);
  });

  it('a request naming a version needs the …Version… action too', () => {
    expect(ossAccesses('GetObjectAcl', req({ key: 'k', query: { acl: '', versionId: 'v1' } }), scope).map((a) => a.action)).toEqual([
      'oss:GetObjectAcl',
      'oss:GetObjectVersionAcl',
    ]);
    expect(ossAccesses('GetObjectAcl', req({ key: 'k', query: { acl: '' } }), scope).map((a) => a.action)).toEqual(['oss:GetObjectAcl']);
  });

  it('a copy reads on the source (its version included) and writes on the target', () => {
    const copy = req({ method: 'PUT', key: 'dst.txt', headers: { 'x-oss-copy-source': '/src-bucket/dir%2Fsrc.txt?versionId=v9' } });
    expect(ossAccesses('CopyObject', copy, scope)).toEqual([
      { action: 'oss:GetObject', resource: arn('src-bucket/dir/src.txt') },
      { action: 'oss:PutObject', resource: arn('data/dst.txt') },
      { action: 'oss:GetObjectTagging', resource: arn('src-bucket/dir/src.txt') },
      { action: 'oss:PutObjectTagging', resource: arn('data/dst.txt') },
      { action: 'oss:GetObjectVersion', resource: arn('src-bucket/dir/src.txt') },
      { action: 'oss:GetObjectVersionTagging', resource: arn('src-bucket/dir/src.txt') },
    ]);
  });

  it('every handler the router can return has a row, and every row an action', () => {
    const handlers = [bucketApi, inventoryApi, objectApi, listApi, multipartApi].flatMap((m) => Object.values(m).filter((v) => typeof v === 'function'));
    const apis = handlers.map((h) => ossApiOf(h)).filter((a): a is OssApiName => a !== undefined);
    expect(new Set(apis)).toEqual(new Set(Object.keys(OSS_OP_RAM)));
    for (const row of Object.values(OSS_OP_RAM)) expect(row.actions.length).toBeGreaterThan(0);
  });
});
