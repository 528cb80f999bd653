/**
 * Bucket inventory rules of the local OSS server: PutBucketInventory, GetBucketInventory,
 * ListBucketInventory and DeleteBucketInventory (`?inventory[&inventoryId=]`), in the XML
 * ali-oss sends and parses. The rules are stored with the bucket; the server never writes a
 * report itself (tests write reports in the real layout, test/helpers/inventory.ts).
 * See docs/oss-behaviour.md#bucket-inventory.
 */
import { readSmallBody, send, sendXml, type RequestContext } from './context';
import { Errors, OssError } from './errors';
import type { InventoryRule } from './model';
import { parseXmlBody, toXml } from './xml';

/** OSS allows 1,000 rules per bucket; ListBucketInventory answers 100 at a time. */
const MAX_RULES = 1000;
const PAGE = 100;

const textIn = (node: unknown, name: string): string | undefined => {
  if (typeof node !== 'object' || node === null) return undefined;
  const v = (node as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : undefined;
};
const nodeIn = (node: unknown, name: string): unknown =>
  typeof node === 'object' && node !== null ? (node as Record<string, unknown>)[name] : undefined;

function noSuchInventory(id: string): OssError {
  return new OssError(404, 'NoSuchInventory', 'The specified inventory does not exist.', { InventoryId: id });
}

function inventoryIdOf(ctx: RequestContext): string {
  const id = ctx.oss.query.inventoryId;
  if (id === undefined || id === '') throw Errors.invalidArgument('inventoryId is required', 'inventoryId', '');
  return id;
}

function ruleFromXml(conf: Record<string, unknown>, id: string): InventoryRule {
  if (textIn(conf, 'Id') !== id) throw Errors.invalidArgument('Id must equal the inventoryId parameter', 'Id', textIn(conf, 'Id') ?? '');
  const dest = nodeIn(nodeIn(conf, 'Destination'), 'OSSBucketDestination');
  const bucketArn = textIn(dest, 'Bucket');
  if (!bucketArn) throw Errors.malformedXml('Destination.OSSBucketDestination.Bucket is required.');
  const format = textIn(dest, 'Format');
  if (format !== 'CSV') throw Errors.invalidArgument('Format must be CSV', 'Format', format ?? '');
  const frequency = textIn(nodeIn(conf, 'Schedule'), 'Frequency');
  if (frequency !== 'Daily' && frequency !== 'Weekly') throw Errors.invalidArgument('Frequency must be Daily or Weekly', 'Frequency', frequency ?? '');
  const versions = textIn(conf, 'IncludedObjectVersions');
  if (versions !== 'All' && versions !== 'Current') {
    throw Errors.invalidArgument('IncludedObjectVersions must be All or Current', 'IncludedObjectVersions', versions ?? '');
  }
  const fields = nodeIn(nodeIn(conf, 'OptionalFields'), 'Field');
  return {
    id,
    enabled: textIn(conf, 'IsEnabled') === 'true',
    filterPrefix: textIn(nodeIn(conf, 'Filter'), 'Prefix') ?? '',
    destination: {
      bucketArn,
      prefix: textIn(dest, 'Prefix') ?? '',
      accountId: textIn(dest, 'AccountId') ?? '',
      roleArn: textIn(dest, 'RoleArn') ?? '',
    },
    frequency,
    includedObjectVersions: versions,
    optionalFields: (Array.isArray(fields) ? fields : fields === undefined ? [] : [fields]).filter((f): f is string => typeof f === 'string'),
  };
}

function ruleXml(rule: InventoryRule): Record<string, unknown> {
  return {
    Id: rule.id,
    IsEnabled: rule.enabled ? 'true' : 'false',
    Filter: { Prefix: rule.filterPrefix },
    Destination: {
      OSSBucketDestination: {
        Format: 'CSV',
        AccountId: rule.destination.accountId,
        RoleArn: rule.destination.roleArn,
        Bucket: rule.destination.bucketArn,
        Prefix: rule.destination.prefix,
      },
    },
    Schedule: { Frequency: rule.frequency },
    IncludedObjectVersions: rule.includedObjectVersions,
    OptionalFields: { Field: rule.optionalFields },
  };
}

export async function putBucketInventory(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const id = inventoryIdOf(ctx);
  const rule = ruleFromXml(parseXmlBody(await readSmallBody(ctx, 64 * 1024), 'InventoryConfiguration'), id);
  const others = (b.inventory ?? []).filter((r) => r.id !== id);
  if (others.length >= MAX_RULES) throw new OssError(400, 'TooManyInventory', 'The bucket has too many inventory rules.', {});
  await ctx.store.updateBucket(b.name, (r) => ({ ...r, inventory: [...others, rule].sort((x, y) => (x.id < y.id ? -1 : 1)) }));
  send(ctx, 200, {});
}

export async function getBucketInventory(ctx: RequestContext): Promise<void> {
  const id = inventoryIdOf(ctx);
  const rule = (ctx.store.bucket(ctx.oss.bucket).inventory ?? []).find((r) => r.id === id);
  if (!rule) throw noSuchInventory(id);
  sendXml(ctx, toXml('InventoryConfiguration', ruleXml(rule)));
}

/** Rules in Id order, 100 a page; the continuation token is the last Id of the page before. */
export async function listBucketInventory(ctx: RequestContext): Promise<void> {
  const after = ctx.oss.query['continuation-token'] ?? '';
  const rules = (ctx.store.bucket(ctx.oss.bucket).inventory ?? []).filter((r) => r.id > after);
  const page = rules.slice(0, PAGE);
  const truncated = rules.length > page.length;
  sendXml(
    ctx,
    toXml('ListInventoryConfigurationsResult', {
      InventoryConfiguration: page.map(ruleXml),
      IsTruncated: truncated ? 'true' : 'false',
      ...(truncated ? { NextContinuationToken: page[page.length - 1]?.id } : {}),
    }),
  );
}

export async function deleteBucketInventory(ctx: RequestContext): Promise<void> {
  const b = ctx.store.bucket(ctx.oss.bucket);
  const id = inventoryIdOf(ctx);
  if (!(b.inventory ?? []).some((r) => r.id === id)) throw noSuchInventory(id);
  await ctx.store.updateBucket(b.name, (r) => ({ ...r, inventory: (r.inventory ?? []).filter((x) => x.id !== id) }));
  send(ctx, 204, {});
}
