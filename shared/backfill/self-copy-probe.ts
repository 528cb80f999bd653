/**
 * Does a CopyObject onto the same key, `x-oss-metadata-directive: COPY`, that rewrites the data
 * keep the source's user metadata and content headers? OSS does not settle it (an older
 * CopyObject page says a self-copy replaces the metadata whatever the directive;
 * docs/oss-behaviour.md "Metadata on a self-copy"), so a backfill asks OSS once per run, on a
 * scratch object of its own — never on a user's object — before it copies inventory rows without
 * a HEAD. Any doubt is `unknown`, and the run HEADs every object as before.
 *
 * The scratch object is written already encrypted as the policy demands (an object function
 * deployed on the bucket finds it compliant and leaves it alone) in Standard, then copied onto
 * itself to IA with the policy's SSE headers: a storage-class change makes OSS rewrite the data,
 * as an encryption change does (a copy that changes neither is a metadata-only update, which
 * tells nothing). Then it is HEADed and deleted: in a versioned bucket each version it made,
 * by id, so no version or delete marker is left.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log';
import { CONTENT_HEADER_NAMES, OssRequestError, type ObjectHead, type OssPort } from '../oss/port';
import { bucketSelected, sseRequestHeaders, type Policy } from '../policy';

export type SelfCopyVerdict = 'keeps' | 'replaces' | 'unknown';

export interface SelfCopyProbe {
  verdict: SelfCopyVerdict;
  /** OSS requests the probe sent (the PUT, copy, HEAD and deletes it got to). */
  requests: number;
  /** Why the verdict is not `keeps`: what differed, or the error that stopped the probe. */
  reason?: string;
  /** The scratch object could not be deleted (its key); it holds nothing but the probe's text. */
  leftBehind?: string;
}

/** Scratch objects' keys start with this. */
export const PROBE_PREFIX = '.oss-sse/probe/';

/** What the scratch object carries: every content header OSS stores, and user metadata. */
export const PROBE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/x-oss-sse-probe',
  'cache-control': 'no-store',
  'content-disposition': 'attachment; filename="oss-sse-probe.txt"',
  'content-encoding': 'identity',
  'content-language': 'en',
  expires: 'Fri, 01 Jan 2100 00:00:00 GMT',
  'x-oss-meta-oss-sse-probe': 'self-copy-keeps-metadata',
  'x-oss-meta-oss-sse-probe-b': 'second value',
};

/**
 * The verdict from the HEAD after the copy: `keeps` when every header sent is there as sent;
 * `replaces` when none of the user metadata is left; `unknown` for anything between (a value
 * OSS rewrote, say) or no object at all.
 */
export function selfCopyVerdict(after: ObjectHead | undefined): { verdict: SelfCopyVerdict; reason?: string } {
  if (!after) return { verdict: 'unknown', reason: 'the scratch object was gone after the copy' };
  const seen: Record<string, string | undefined> = { ...after.userMeta };
  for (const name of CONTENT_HEADER_NAMES) seen[name] = after.contentHeaders[name];
  const differing = Object.entries(PROBE_HEADERS)
    .filter(([name, value]) => seen[name] !== value)
    .map(([name]) => name);
  if (differing.length === 0) return { verdict: 'keeps' };
  const metaKept = Object.keys(PROBE_HEADERS).some((n) => n.startsWith('x-oss-meta-') && seen[n] !== undefined);
  return { verdict: metaKept ? 'unknown' : 'replaces', reason: `not kept: ${differing.join(', ')}` };
}

export async function probeSelfCopyMetadata(
  oss: OssPort,
  bucket: string,
  policy: Policy,
  log: Logger,
  resolvedKeyId?: string,
): Promise<SelfCopyProbe> {
  // A bucket the policy leaves alone gets nothing written to it, not even a scratch object.
  if (!bucketSelected(policy, bucket)) return { verdict: 'unknown', requests: 0, reason: 'the bucket is excluded by the policy' };
  const key = `${PROBE_PREFIX}${randomUUID()}`;
  const sse = sseRequestHeaders(policy.target, resolvedKeyId);
  let requests = 0;
  const count = <T>(p: Promise<T>): Promise<T> => {
    requests++;
    return p;
  };
  // Version ids the probe's writes made (versioned buckets); undefined entries: none.
  const versions: Array<string | undefined> = [];
  let written = false;
  let result: { verdict: SelfCopyVerdict; reason?: string };
  try {
    const put = await count(
      oss.putObject(bucket, key, Buffer.from('oss-sse self-copy probe: safe to delete\n'), {
        ...PROBE_HEADERS,
        ...sse,
        'x-oss-storage-class': 'Standard',
      }),
    );
    written = true;
    versions.push(put.versionId);
    const copy = await count(
      oss.copyObject({
        bucket,
        key,
        sourceBucket: bucket,
        sourceKey: key,
        ...(put.versionId !== undefined ? { sourceVersionId: put.versionId } : {}),
        headers: {
          ...sse,
          'x-oss-storage-class': 'IA',
          'x-oss-metadata-directive': 'COPY',
          'x-oss-copy-source-if-match': put.etag,
        },
      }),
    );
    versions.push(copy.versionId);
    result = selfCopyVerdict(await count(oss.headObject(bucket, key, copy.versionId)));
  } catch (e) {
    result = { verdict: 'unknown', reason: describe(e) };
  }
  let leftBehind: string | undefined;
  if (written) {
    try {
      const ids = [...new Set(versions.filter((v): v is string => v !== undefined))];
      if (ids.length === 0) await count(oss.deleteObject(bucket, key));
      for (const id of ids.reverse()) await count(oss.deleteObject(bucket, key, id));
    } catch (e) {
      leftBehind = key;
      log.warn('the self-copy probe could not delete its scratch object', { bucket, key, error: describe(e) });
    }
  }
  const probe: SelfCopyProbe = { ...result, requests, ...(leftBehind ? { leftBehind } : {}) };
  log.info('self-copy probe', { bucket, ...probe });
  return probe;
}

function describe(e: unknown): string {
  if (e instanceof OssRequestError) return `${e.code} (HTTP ${String(e.status)})${e.requestId ? ` [request ${e.requestId}]` : ''}`;
  return e instanceof Error ? e.message : String(e);
}
