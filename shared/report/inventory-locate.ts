/**
 * `--inventory`: which inventory report to read for a bucket, found through its inventory
 * rules (ListBucketInventory), then the newest dated report folder of the rule (the same
 * lookup as the backfill's, latestManifestKey). Only a rule over the whole bucket (no filter
 * prefix) whose reports carry EncryptionStatus can stand for the bucket; otherwise the bucket
 * is listed, and the report says why.
 */
import { latestManifestKey } from '../backfill/inventory';
import type { InventoryConfiguration, OssPort } from '../oss/port';
import type { InventoryLocation } from './gather';

async function allRules(oss: Pick<OssPort, 'listBucketInventory'>, bucket: string): Promise<InventoryConfiguration[]> {
  const rules: InventoryConfiguration[] = [];
  let token: string | undefined;
  do {
    const page = await oss.listBucketInventory(bucket, token ? { continuationToken: token } : {});
    rules.push(...page.configurations);
    token = page.nextContinuationToken;
  } while (token);
  return rules;
}

const carriesEncryption = (rule: InventoryConfiguration): boolean => rule.optionalFields.some((f) => f.toLowerCase() === 'encryptionstatus');

export async function locateLatestInventory(oss: Pick<OssPort, 'listBucketInventory' | 'listObjectsV2'>, bucket: string): Promise<InventoryLocation> {
  const rules = await allRules(oss, bucket);
  if (rules.length === 0) return { none: 'no inventory rule: listed instead' };
  const usable = rules.filter((r) => r.filterPrefix === '' && carriesEncryption(r));
  if (usable.length === 0) {
    return { none: 'no inventory rule covers the whole bucket with the EncryptionStatus field: listed instead' };
  }
  let best: { manifest: { bucket: string; manifestKey: string }; inventoryId: string } | undefined;
  for (const rule of usable) {
    const key = await latestManifestKey(oss, rule.destinationBucket, {
      prefix: rule.destinationPrefix,
      sourceBucket: bucket,
      inventoryId: rule.id,
    });
    // Keys end in the report's date folder: the newest report sorts last whatever the rule.
    const dated = (k: string): string => k.split('/').slice(-2, -1)[0] ?? '';
    if (key !== undefined && (best === undefined || dated(key) > dated(best.manifest.manifestKey))) {
      best = { manifest: { bucket: rule.destinationBucket, manifestKey: key }, inventoryId: rule.id };
    }
  }
  return best ?? { none: `inventory rule ${usable.map((r) => r.id).join(', ')} has written no report yet: listed instead` };
}
