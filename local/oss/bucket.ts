/** Bucket-level APIs of the local OSS server. */
import { isValidBucketName } from '../../shared/validation/names';
import { header, ownerXml, readSmallBody, send, sendXml, type RequestContext } from './context';
import { Errors, OssError } from './errors';
import { checkSse } from './object-headers';
import { STORAGE_CLASSES, type BucketAcl, type BucketRecord, type Sse, type StorageClass } from './model';
import { isoDate, parseXmlBody, textOf, toXml } from './xml';

const BUCKET_ACLS: readonly BucketAcl[] = ['private', 'public-read', 'public-read-write'];

function bucketAclFrom(ctx: RequestContext, fallback: BucketAcl): BucketAcl {
  const v = header(ctx, 'x-oss-acl');
  if (v === undefined) return fallback;
  if (!BUCKET_ACLS.includes(v as BucketAcl)) throw Errors.invalidArgument('no such bucket access control exists', 'x-oss-acl', v);
  return v as BucketAcl;
}

export async function listBuckets(ctx: RequestContext): Promise<void> {
  const prefix = ctx.oss.query.prefix ?? '';
  const marker = ctx.oss.query.marker ?? '';
  const maxKeys = Math.min(1000, Math.max(1, Number(ctx.oss.query['max-keys'] ?? 1000) || 1000));
  const all = ctx.store.listBuckets().filter((b) => b.name.startsWith(prefix) && b.name > marker);
  const page = all.slice(0, maxKeys);
  const truncated = all.length > page.length;
  sendXml(
    ctx,
    toXml('ListAllMyBucketsResult', {
      Prefix: prefix,
      Marker: marker,
      MaxKeys: maxKeys,
      IsTruncated: truncated,
      ...(truncated ? { NextMarker: page[page.length - 1]?.name } : {}),
      Owner: ownerXml(ctx.accessKeyId),
      Buckets: {
        Bucket: page.map((b) => ({
          CreationDate: isoDate(b.creationDate),
          ExtranetEndpoint: `oss-${b.region}.aliyuncs.com`,
          IntranetEndpoint: `oss-${b.region}-internal.aliyuncs.com`,
          Location: `oss-${b.region}`,
          Name: b.name,
          Region: b.region,
          StorageClass: b.storageClass,
        })),
      },
    }),
  );
}

export async function putBucket(ctx: RequestContext): Promise<void> {
  const name = ctx.oss.bucket;
  if (!isValidBucketName(name))
    throw new OssError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name }, '0015-00000204');
  const body = await readSmallBody(ctx, 64 * 1024);
  let storageClass: StorageClass = 'Standard';
  if (body.length > 0) {
    const conf = parseXmlBody(body, 'CreateBucketConfiguration');
    const sc = textOf(conf, 'StorageClass');
    if (sc !== undefined) {
      if (!STORAGE_CLASSES.includes(sc as StorageClass)) throw Errors.invalidArgument('Invalid storage class', 'StorageClass', sc);
      storageClass = sc as StorageClass;
    }
  }
  const acl = bucketAclFrom(ctx, 'private');
  if (ctx.store.hasBucket(name)) {
    throw new OssError(
      409,
      'BucketAlreadyExists',
      'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.',
      { BucketName: name },
      '0015-00000104',
    );
  }
  const record: BucketRecord = {
    name,
    region: ctx.settings.region,
    creationDate: Date.now(),
    storageClass,
    acl,
    owner: ctx.events.accountId,
  };
  await ctx.store.createBucket(record);
  send(ctx, 200, { location: `/${name}` });
  ctx.events.bucketEvent('oss:BucketCreated:PutBucket', 'acs.oss', name, {
    region: ctx.settings.region,
    eventName: 'PutBucket',
    requestParameters: { sourceIPAddress: ctx.req.socket.remoteAddress ?? '' },
    responseElements: { requestId: ctx.requestId },
    oss: { bucket: { name, arn: `acs:oss:${ctx.settings.region}:${ctx.events.accountId}:${name}`, ownerIdentity: ctx.events.accountId } },
    userIdentity: { principalId: ctx.events.accountId },
  });
}

export async function deleteBucket(ctx: RequestContext): Promise<void> {
  await ctx.store.deleteBucket(ctx.oss.bucket);
  send(ctx, 204, {});
}

function ruleXml(sse: Sse | undefined): Record<string, string> {
  if (!sse) return { SSEAlgorithm: 'None' };
  return {
    SSEAlgorithm: sse.algorithm,
    ...(sse.keyId ? { KMSMasterKeyID: sse.keyId } : {}),
    ...(sse.dataEncryption ? { KMSDataEncryption: sse.dataEncryption } : {}),
  };
}

export async function getBucketInfo(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  sendXml(
    ctx,
    toXml('BucketInfo', {
      Bucket: {
        AccessMonitor: 'Disabled',
        CreationDate: isoDate(b.creationDate),
        ExtranetEndpoint: `oss-${b.region}.aliyuncs.com`,
        IntranetEndpoint: `oss-${b.region}-internal.aliyuncs.com`,
        Location: `oss-${b.region}`,
        StorageClass: b.storageClass,
        TransferAcceleration: 'Disabled',
        CrossRegionReplication: 'Disabled',
        Name: b.name,
        Owner: ownerXml(b.owner),
        AccessControlList: { Grant: b.acl },
        ...(b.versioning ? { Versioning: b.versioning } : {}),
        ServerSideEncryptionRule: ruleXml(b.encryption),
      },
    }),
  );
}

export async function getBucketLocation(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  sendXml(ctx, toXml('LocationConstraint', { '#text': `oss-${b.region}` } as Record<string, unknown>));
}

export async function getBucketAcl(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  sendXml(ctx, toXml('AccessControlPolicy', { Owner: ownerXml(b.owner), AccessControlList: { Grant: b.acl } }));
}

export async function putBucketAcl(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const acl = bucketAclFrom(ctx, b.acl);
  await ctx.store.updateBucket(b.name, (r) => ({ ...r, acl }));
  send(ctx, 200, {});
}

/** OSS validates the rule's shape but not that a KMS key exists. See docs/oss-behaviour.md#bucket-encryption-api. */
export async function putBucketEncryption(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const rule = parseXmlBody(await readSmallBody(ctx, 64 * 1024), 'ServerSideEncryptionRule');
  const apply = rule.ApplyServerSideEncryptionByDefault;
  if (typeof apply !== 'object' || apply === null || Array.isArray(apply)) throw Errors.malformedXml();
  const node = apply as Record<string, unknown>;
  const algorithm = textOf(node, 'SSEAlgorithm');
  if (algorithm === undefined) throw Errors.malformedXml('SSEAlgorithm is required.');
  const keyId = textOf(node, 'KMSMasterKeyID') || undefined;
  const dataEncryption = textOf(node, 'KMSDataEncryption') || undefined;
  // The bucket rule keeps "no key id" as written: objects then get the default key.
  const sse = checkSse(algorithm, keyId, dataEncryption, '');
  const stored: Sse = {
    algorithm: sse.algorithm,
    ...(keyId ? { keyId } : {}),
    ...(sse.dataEncryption ? { dataEncryption: sse.dataEncryption } : {}),
  };
  await ctx.store.updateBucket(b.name, (r) => ({ ...r, encryption: stored }));
  send(ctx, 200, {});
  ctx.events.bucketEvent('acs.oss:ActionTrail:ApiCall', 'acs.oss', b.name, actionTrail(ctx, 'PutBucketEncryption'));
}

export async function getBucketEncryption(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  if (!b.encryption) {
    throw new OssError(
      404,
      'NoSuchServerSideEncryptionRule',
      'The server side encryption rule does not exist.',
      { BucketName: b.name },
      '0005-00000004',
    );
  }
  sendXml(ctx, toXml('ServerSideEncryptionRule', { ApplyServerSideEncryptionByDefault: ruleXml(b.encryption) }));
}

export async function deleteBucketEncryption(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const { encryption: _removed, ...rest } = b;
  await ctx.store.updateBucket(b.name, () => rest);
  send(ctx, 204, {});
  ctx.events.bucketEvent('acs.oss:ActionTrail:ApiCall', 'acs.oss', b.name, actionTrail(ctx, 'DeleteBucketEncryption'));
}

export async function putBucketVersioning(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const conf = parseXmlBody(await readSmallBody(ctx, 64 * 1024), 'VersioningConfiguration');
  const status = textOf(conf, 'Status');
  if (status !== 'Enabled' && status !== 'Suspended') throw Errors.malformedXml('Status must be Enabled or Suspended.');
  await ctx.store.updateBucket(b.name, (r) => ({ ...r, versioning: status }));
  send(ctx, 200, {});
}

export async function getBucketVersioning(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  sendXml(ctx, toXml('VersioningConfiguration', b.versioning ? { Status: b.versioning } : {}));
}

/** The ActionTrail record EventBridge carries for a bucket API call. See docs/oss-behaviour.md#bucket-creation-events. */
function actionTrail(ctx: RequestContext, eventName: string): Record<string, unknown> {
  const region = ctx.settings.region;
  return {
    eventId: ctx.requestId,
    eventName,
    eventSource: `${ctx.oss.bucket}.oss-${region}.aliyuncs.com`,
    eventType: 'ApiCall',
    eventTime: new Date().toISOString(),
    acsRegion: region,
    requestId: ctx.requestId,
    referencedResources: { 'ACS::OSS::Bucket': [ctx.oss.bucket] },
    requestParameters: { BucketName: ctx.oss.bucket },
    userIdentity: { accountId: ctx.events.accountId, principalId: ctx.events.accountId, type: 'root-account' },
  };
}
