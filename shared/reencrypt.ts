/**
 * The one re-encryption routine (DESIGN.md): HEAD → decide → (ACL, tags) → copy the object
 * onto itself with SSE headers, pinned to the ETag it saw → verify, from the copy's own
 * answer where it carries the encryption and CRC-64, else with a HEAD (for a sample when the
 * answer merely lacks a field, always when it disagrees). Called by the object function, the
 * bucket function, the backfill and the CLI.
 *
 * Nothing here may lose data: every copy is conditional on the ETag (and version) that was
 * read, a 412 means the object changed and is decided again from a fresh HEAD, and nothing
 * is deleted unless the new copy verified (and then only the exact plaintext version copied).
 */
import {
  bucketSelected,
  decideObject,
  keyExcluded,
  sseRequestHeaders,
  sseShortfall,
  type Decision,
  type Policy,
  type ReencryptReason,
  type SkipReason,
} from './policy';
import {
  asSent,
  CONTENT_HEADER_NAMES,
  OssRequestError,
  type CompletedPart,
  type ObjectHead,
  type OssNoAnswer,
  type OssPort,
  type SseSpec,
  type WriteResult,
} from './oss/port';
import { normalizeEtag } from './etag';
import { isTransientOssError } from './retry';
import type { Logger } from './log';

export type Action = 'compliant' | 'reencrypted' | 'would-reencrypt' | 'skipped' | 'failed';

export interface ObjectOutcome {
  bucket: string;
  key: string;
  versionId?: string;
  action: Action;
  /** Why: the skip reason, what was wrong with the old encryption, or the failure code. */
  reason?: SkipReason | ReencryptReason | string;
  bytes: number;
  durationMs: number;
  requestIds: string[];
  /** Versioned buckets: the new encrypted version. */
  newVersionId?: string;
  /** Versioned buckets: the plaintext version left behind, or deleted when so configured. */
  plaintextVersion?: { versionId: string; deleted: boolean };
  error?: { code: string; message: string; requestId?: string; status?: number | OssNoAnswer };
  /** True when the failure is transient (throttling, 5xx, network): worth retrying later. */
  retryable?: boolean;
  /** The ETag of the object our copy wrote (also when it did not verify), so its own event can be recognised. */
  writtenEtag?: string;
  /** Re-encrypted objects: how the copy was verified. */
  verifiedBy?: VerifiedBy;
}

/**
 * How a copy was verified: `answer` — its own answer showed the demanded encryption and the
 * source's CRC-64; `head` — a HEAD after the copy (the answer disagreed, had no ETag, or lacked
 * a field and the copy was in the sample); `unsampled` — the answer lacked a field (it agreed
 * on everything it carried; for a copy decided on a report, only the source's CRC-64, which no
 * HEAD read) and the copy was not in the HEAD sample.
 */
export type VerifiedBy = 'answer' | 'head' | 'unsampled';
/** Re-encrypted copies by how they were verified. */
export type VerificationCounts = Record<VerifiedBy, number>;

/**
 * Which copies whose answer lacks a field get a verifying HEAD: the first one and then every
 * `every`-th; and apart, of the copies decided on a report whose answer proves the encryption
 * but whose source CRC-64 no HEAD read, the first and then every `everyFromReport`-th. One
 * sampler per run (the backfill) or per process (the object function).
 */
export class VerificationSampler {
  private partialAnswers = 0;
  private reportAnswers = 0;
  constructor(
    readonly every = DEFAULT_VERIFY_SAMPLE_EVERY,
    readonly everyFromReport = REPORT_COPY_VERIFY_SAMPLE_EVERY,
  ) {
    for (const [name, n] of [
      ['every', every],
      ['everyFromReport', everyFromReport],
    ] as const) {
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`VerificationSampler: ${name} must be a positive integer, not ${n}`);
    }
  }
  /** Called once per copy whose answer lacked a field: true when this one is to be HEADed. */
  takeSample(): boolean {
    return this.partialAnswers++ % this.every === 0;
  }
  /** Called once per report-based copy whose answer lacked only the source's CRC-64: true when this one is to be HEADed. */
  takeReportSample(): boolean {
    return this.reportAnswers++ % this.everyFromReport === 0;
  }
}

/** One in this many copies with an incomplete answer is verified with a HEAD (the first always). */
export const DEFAULT_VERIFY_SAMPLE_EVERY = 100;
/**
 * Copies decided on a report (no HEAD, so no source CRC-64) whose answer proves the encryption:
 * one in this many gets a verifying HEAD (the first always) — pinned to the report's ETag and
 * time, and the run's probe already checked such a copy end to end on this bucket.
 */
export const REPORT_COPY_VERIFY_SAMPLE_EVERY = 1000;
/** For callers that keep no sampler of their own (the object function): one per process. */
const processSampler = new VerificationSampler();

export interface ReencryptOptions {
  dryRun?: boolean;
  /** The resolved KMS key id (from DescribeKey) when the policy names an alias or ARN. */
  resolvedKeyId?: string;
  /** Event keys may arrive URL-encoded (UNCONFIRMED: the documented key is plain): on 404 try the decoded form once. See docs/oss-behaviour.md#oss-trigger-events. */
  tryDecodedKey?: boolean;
  /** An already-read HEAD (inventory/backfill) saves one request; it is re-read after a 412. */
  head?: ObjectHead;
  /** Which copies with an incomplete answer get a verifying HEAD; default one sampler per process. */
  verification?: VerificationSampler;
  /**
   * Inventory mode, when this run's probe showed that a self-copy keeps the metadata: the
   * report's word that the object is plaintext, and what it says of it. The object is copied
   * with no HEAD (copyAsReported); if it changed since the report, it is decided from a HEAD.
   */
  reported?: ReportedObject;
}

/** What an inventory report says of a plaintext object that may be copied without a HEAD (see reportedCopyOf). */
export interface ReportedObject {
  /** As the report wrote it, normalised (unquoted upper-case). */
  etag: string;
  size: number;
  storageClass: 'Standard' | 'IA';
  /** The report's LastModifiedDate as an HTTP date: the copy's `x-oss-copy-source-if-unmodified-since`. */
  unmodifiedSince: string;
  /** The version the report describes, when the report has a VersionId column (versions: All). */
  versionId?: string;
}

/** How many times an object that keeps changing under us is decided again. */
const MAX_ATTEMPTS_ON_CHANGE = 3;

/** The object was overwritten by someone else right after our copy: decide again on the newer one. */
class ObjectChangedError extends Error {
  override readonly name = 'ObjectChangedError';
}

class VerificationError extends Error {
  override readonly name = 'VerificationError';
  constructor(
    message: string,
    /** The ETag of what our copy left in place, when there is an object. */
    readonly writtenEtag?: string,
  ) {
    super(message);
  }
}

export async function reencryptObject(
  oss: OssPort,
  policy: Policy,
  log: Logger,
  target: { bucket: string; key: string },
  opts: ReencryptOptions = {},
): Promise<ObjectOutcome> {
  const started = Date.now();
  const requestIds: string[] = [];
  let key = target.key;
  const outcome = (o: Omit<ObjectOutcome, 'bucket' | 'key' | 'durationMs' | 'requestIds'>): ObjectOutcome => {
    const result: ObjectOutcome = { bucket: target.bucket, key, ...o, durationMs: Date.now() - started, requestIds };
    const level = o.action === 'failed' ? 'error' : 'info';
    log.log(level, 'object decision', {
      bucket: result.bucket,
      key: result.key,
      versionId: result.versionId,
      action: result.action,
      reason: result.reason,
      bytes: result.bytes,
      durationMs: result.durationMs,
      requestIds,
      ...(result.newVersionId ? { newVersionId: result.newVersionId } : {}),
      ...(result.plaintextVersion ? { plaintextVersion: result.plaintextVersion } : {}),
      ...(result.error ? { error: result.error } : {}),
    });
    return result;
  };

  // Excluded buckets and prefixes are never even looked at.
  if (!bucketSelected(policy, target.bucket)) return outcome({ action: 'skipped', reason: 'excluded-bucket', bytes: 0 });
  if (keyExcluded(policy, key)) return outcome({ action: 'skipped', reason: 'excluded-prefix', bytes: 0 });
  try {
    if (opts.reported && !opts.dryRun && !opts.head) {
      const copied = await copyAsReported(oss, policy, { bucket: target.bucket, key }, opts.reported, opts.resolvedKeyId, requestIds);
      try {
        if (copied) {
          const { current, written } = copied;
          if (written.versionId !== undefined && current.versionId === undefined) {
            // OSS documents x-oss-copy-source-version-id on this answer; without it the version replaced is unknown and stays.
            log.warn('the copy named no source version: the version it replaced is kept', { bucket: target.bucket, key });
          }
          return outcome(
            await finishCopy(oss, policy, current, written, 'unencrypted', opts.resolvedKeyId, opts.verification, requestIds, log, {
              reportedVersionId: opts.reported.versionId ?? null,
            }),
          );
        }
      } catch (err) {
        // Someone else's write replaced our copy at once: decided below on what is there now.
        if (!(err instanceof ObjectChangedError)) throw err;
      }
      // Changed since the report (or not what it says): decided below on a HEAD, as without a report.
    }
    let head = opts.head ?? (await headAndRecord(oss, target.bucket, key, requestIds));
    if (!head && opts.tryDecodedKey && /[%+]/.test(key)) {
      const decoded = safeDecode(key);
      if (decoded !== undefined && decoded !== key) {
        head = await headAndRecord(oss, target.bucket, decoded, requestIds);
        if (head) key = decoded;
      }
    }
    for (let attempt = 1; ; attempt++) {
      const decision: Decision = decideObject(policy, target.bucket, key, head, opts.resolvedKeyId);
      const versionId = head?.versionId;
      if (decision.action === 'compliant') return outcome({ action: 'compliant', versionId, bytes: 0 });
      if (decision.action === 'skip') return outcome({ action: 'skipped', reason: decision.reason, versionId, bytes: 0 });
      const current = head as ObjectHead;
      if (opts.dryRun) return outcome({ action: 'would-reencrypt', reason: decision.reason, versionId, bytes: current.size });
      try {
        const written = await copyInPlace(oss, policy, current, opts.resolvedKeyId, requestIds);
        return outcome(
          await finishCopy(oss, policy, current, written, decision.reason, opts.resolvedKeyId, opts.verification, requestIds, log),
        );
      } catch (err) {
        // 412, or a HEAD after our copy showing someone else's newer write: the object changed
        // under us. Never overwrite newer data: look again and decide on what is there now.
        const changed = (err instanceof OssRequestError && err.status === 412) || err instanceof ObjectChangedError;
        if (changed && attempt < MAX_ATTEMPTS_ON_CHANGE) {
          head = await headAndRecord(oss, target.bucket, key, requestIds);
          continue;
        }
        throw err;
      }
    }
  } catch (err) {
    if (err instanceof VerificationError) {
      return outcome({
        action: 'failed',
        reason: 'verification-failed',
        bytes: 0,
        error: { code: 'VerificationFailed', message: err.message },
        retryable: false,
        ...(err.writtenEtag ? { writtenEtag: err.writtenEtag } : {}),
      });
    }
    const e = err instanceof OssRequestError ? err : undefined;
    const code = e?.code ?? (err instanceof Error ? err.name : 'Error');
    return outcome({
      action: 'failed',
      reason: code,
      bytes: 0,
      error: {
        code,
        message: err instanceof Error ? err.message : String(err),
        ...(e?.requestId ? { requestId: e.requestId } : {}),
        ...(e ? { status: e.status } : {}),
      },
      retryable: isTransientOssError(err),
    });
  }
}

function safeDecode(key: string): string | undefined {
  try {
    return decodeURIComponent(key.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

async function headAndRecord(
  oss: OssPort,
  bucket: string,
  key: string,
  requestIds: string[],
  versionId?: string,
): Promise<ObjectHead | undefined> {
  const head = await oss.headObject(bucket, key, versionId);
  if (head?.requestId) requestIds.push(head.requestId);
  return head;
}

/**
 * After a copy: verify it (from its answer, else a HEAD — see answerVerdict and the sampler),
 * then, in a versioned bucket, report the plaintext version it left behind and delete exactly
 * that one when asked to (only now that the copy verified). Throws VerificationError or
 * ObjectChangedError as verify does.
 */
async function finishCopy(
  oss: OssPort,
  policy: Policy,
  current: ObjectHead,
  written: Written,
  reason: ReencryptReason,
  resolvedKeyId: string | undefined,
  sampler: VerificationSampler | undefined,
  requestIds: string[],
  log: Logger,
  /**
   * Set when the copy was decided on a report, not a HEAD (copyAsReported): the version the
   * report describes as plaintext (null when the report has no VersionId column). Such a copy
   * has no source CRC-64 to compare (see answerVerdict's fromReport), and the version it
   * replaced is deleted as plaintext with no further look only when it is that version.
   */
  { reportedVersionId }: { reportedVersionId?: string | null } = {},
): Promise<Omit<ObjectOutcome, 'bucket' | 'key' | 'durationMs' | 'requestIds'>> {
  const fromReport = reportedVersionId !== undefined;
  const answer = answerVerdict(policy, current, written, resolvedKeyId, { fromReport });
  const s = sampler ?? processSampler;
  let verifiedBy: VerifiedBy = 'answer';
  let newVersionId = written.versionId;
  if (answer === 'needs-head' || (answer === 'partial' && s.takeSample()) || (answer === 'encryption-only' && s.takeReportSample())) {
    newVersionId = (await verify(oss, policy, current, written, resolvedKeyId, requestIds, log)).versionId;
    verifiedBy = 'head';
  } else if (answer === 'partial' || answer === 'encryption-only') verifiedBy = 'unsampled';
  let plaintextVersion: ObjectOutcome['plaintextVersion'];
  let replacedIsPlaintext = true;
  if (
    fromReport &&
    policy.deletePlaintextVersions &&
    current.versionId !== undefined &&
    current.versionId !== newVersionId &&
    current.versionId !== reportedVersionId
  ) {
    // The copy was pinned to the report's ETag and time, which a plaintext version the report
    // named (versions are immutable) passes; but when the report names no version, or another
    // one, the version copied may be an older one made current again by deleting the reported
    // version after the report: same ETag, older time, and maybe encrypted. Look before deleting.
    const replaced = await headAndRecord(oss, current.bucket, current.key, requestIds, current.versionId);
    replacedIsPlaintext = replaced !== undefined && replaced.sse === undefined;
  }
  if (current.versionId !== undefined && current.versionId !== newVersionId && replacedIsPlaintext) {
    // The copy made a new current version; the plaintext one is still there.
    let deleted = false;
    if (policy.deletePlaintextVersions) {
      await oss.deleteObject(current.bucket, current.key, current.versionId);
      deleted = true;
    }
    plaintextVersion = { versionId: current.versionId, deleted };
  }
  return {
    action: 'reencrypted',
    reason,
    ...(current.versionId !== undefined ? { versionId: current.versionId } : {}),
    bytes: current.size,
    ...(written.etag ? { writtenEtag: written.etag } : {}),
    ...(newVersionId !== undefined ? { newVersionId } : {}),
    ...(plaintextVersion ? { plaintextVersion } : {}),
    verifiedBy,
  };
}

/**
 * Answers of the report-based copy that mean "the object is not what the report says" — gone
 * or overwritten (404, 412), archived since (InvalidObjectState), or of a type that cannot be
 * copied (OperationNotSupported: an appendable object the report did not type): decided again
 * from a HEAD, which knows what to do with each.
 */
function changedSinceReport(err: unknown): boolean {
  if (!(err instanceof OssRequestError)) return false;
  return err.status === 412 || err.status === 404 || err.code === 'InvalidObjectState' || err.code === 'OperationNotSupported';
}

/**
 * Inventory mode with no HEAD (issue 13): GetObjectAcl, then CopyObject onto itself with
 * `x-oss-metadata-directive: COPY` (the run's probe showed that a self-copy which rewrites the
 * data keeps metadata and content headers), tags copied, the storage class from the report, the
 * ACL sent again unless `default`, pinned to the report's ETag and LastModifiedDate. The
 * current version is copied (never a version id from the report: that one may no longer be
 * current, and copying it would put older data over a newer write); the answer names the version
 * it copied: the reported plaintext one, unless an older version was made current again since
 * (finishCopy looks before deleting). Undefined when the object changed since the report:
 * decide from a HEAD.
 */
async function copyAsReported(
  oss: OssPort,
  policy: Policy,
  target: { bucket: string; key: string },
  reported: ReportedObject,
  resolvedKeyId: string | undefined,
  requestIds: string[],
): Promise<{ current: ObjectHead; written: Written } | undefined> {
  const etag = `"${reported.etag}"`;
  try {
    const headers: Record<string, string> = {
      'x-oss-storage-class': reported.storageClass,
      ...sseRequestHeaders(policy.target, resolvedKeyId),
      // Both pins: a self-copy since the report (the object function, an earlier run, a user's
      // own SSE-KMS) may keep the ETag, but any write moves Last-Modified (an ACL change does not).
      'x-oss-copy-source-if-match': etag,
      'x-oss-copy-source-if-unmodified-since': reported.unmodifiedSince,
      'x-oss-metadata-directive': 'COPY',
      'x-oss-tagging-directive': 'Copy',
    };
    if (policy.preserveAcl) {
      const acl = await oss.getObjectAcl(target.bucket, target.key);
      // 'default' means "inherit the bucket's": sending nothing keeps it that way.
      if (acl !== 'default') headers['x-oss-object-acl'] = acl;
    }
    const res = await oss.copyObject({
      bucket: target.bucket,
      key: target.key,
      sourceBucket: target.bucket,
      sourceKey: target.key,
      headers,
    });
    if (res.requestId) requestIds.push(res.requestId);
    // What is known of the plaintext object: enough for the verification (size) and the version step.
    const current: ObjectHead = {
      bucket: target.bucket,
      key: target.key,
      ...(res.sourceVersionId !== undefined ? { versionId: res.sourceVersionId } : {}),
      etag,
      size: reported.size,
      objectType: 'Normal',
      storageClass: reported.storageClass,
      contentHeaders: {},
      userMeta: {},
      taggingCount: 0,
    };
    return { current, written: writtenFrom(res) };
  } catch (err) {
    if (changedSinceReport(err)) return undefined;
    throw err;
  }
}

/**
 * Every header the new copy must carry so that nothing but its encryption changes:
 * content headers, user metadata, storage class, the object ACL, and the SSE headers.
 */
async function preservedHeaders(
  oss: OssPort,
  policy: Policy,
  head: ObjectHead,
  resolvedKeyId: string | undefined,
): Promise<Record<string, string>> {
  const h: Record<string, string> = {};
  for (const name of CONTENT_HEADER_NAMES) {
    const v = head.contentHeaders[name];
    if (v !== undefined) h[name] = v;
  }
  Object.assign(h, head.userMeta);
  h['x-oss-storage-class'] = asSent(head.storageClass);
  if (policy.preserveAcl) {
    const acl = await oss.getObjectAcl(head.bucket, head.key, head.versionId);
    // 'default' means "inherit the bucket's": sending nothing keeps it that way.
    if (acl !== 'default') h['x-oss-object-acl'] = acl;
  }
  return { ...h, ...sseRequestHeaders(policy.target, resolvedKeyId) };
}

async function copyInPlace(
  oss: OssPort,
  policy: Policy,
  head: ObjectHead,
  resolvedKeyId: string | undefined,
  requestIds: string[],
): Promise<Written> {
  const headers = await preservedHeaders(oss, policy, head, resolvedKeyId);
  const source = {
    sourceBucket: head.bucket,
    sourceKey: head.key,
    // Pin to the exact version we read, so a newer version is never copied over by an older one.
    ...(head.versionId !== undefined ? { sourceVersionId: head.versionId } : {}),
  };
  if (head.size <= policy.multipartThresholdBytes) {
    const res = await oss.copyObject({
      bucket: head.bucket,
      key: head.key,
      ...source,
      headers: {
        ...headers,
        'x-oss-copy-source-if-match': head.etag,
        'x-oss-metadata-directive': 'REPLACE',
        'x-oss-tagging-directive': 'Copy',
      },
    });
    if (res.requestId) requestIds.push(res.requestId);
    return writtenFrom(res);
  }
  return multipartCopy(oss, policy, head, headers, source, requestIds);
}

/**
 * What our copy wrote, as far as its answer said (a lost Complete answer says nothing): the
 * ETag and version, and the encryption and CRC-64 when the answer carries them.
 */
interface Written {
  etag?: string;
  versionId?: string;
  crc64?: string;
  sse?: SseSpec;
}

function writtenFrom(res: WriteResult): Written {
  return {
    etag: res.etag,
    ...(res.versionId !== undefined ? { versionId: res.versionId } : {}),
    ...(res.crc64 !== undefined ? { crc64: res.crc64 } : {}),
    ...(res.sse !== undefined ? { sse: res.sse } : {}),
  };
}

/**
 * What the copy's own answer proves: `answer` — the demanded encryption (exactly, whatever the
 * compliance mode) and the source's CRC-64; `needs-head` — it shows something else or no
 * encryption, there is no answer at all (a lost Complete), or a versioned bucket's answer has no
 * new version id (needed to tell the plaintext version apart); `partial` — it agrees with what it
 * carries but lacks the KMS key id or a CRC-64; `encryption-only` (only `fromReport`: the copy was
 * decided on a report, so no HEAD read the source's CRC-64) — it proves the demanded encryption
 * exactly and lacks nothing but the CRC-64 comparison.
 */
export function answerVerdict(
  policy: Policy,
  before: ObjectHead,
  written: Written,
  resolvedKeyId: string | undefined,
  { fromReport = false }: { fromReport?: boolean } = {},
): 'answer' | 'needs-head' | 'partial' | 'encryption-only' {
  if (written.etag === undefined) return 'needs-head';
  if (before.versionId !== undefined && written.versionId === undefined) return 'needs-head';
  // OSS documents the encryption header on the answer of a copy that asked for SSE: its absence
  // is not a field merely lacking but an answer to distrust.
  if (written.sse === undefined) return 'needs-head';
  let partial = false;
  {
    const exact: Policy = { ...policy, compliance: 'exact' };
    if (sseShortfall(exact, written.sse, resolvedKeyId) !== undefined) {
      // A KMS answer without the key id, when the policy names a key: lacking, not wrong.
      const demandedKeyId = resolvedKeyId ?? policy.target.keyId;
      const lacksOnlyTheKey =
        written.sse.keyId === undefined && sseShortfall(exact, { ...written.sse, keyId: demandedKeyId }, resolvedKeyId) === undefined;
      if (!lacksOnlyTheKey) return 'needs-head';
      partial = true;
    }
  }
  if (fromReport && before.crc64 === undefined) return partial ? 'partial' : 'encryption-only';
  if (written.crc64 === undefined || before.crc64 === undefined) partial = true;
  else if (written.crc64 !== before.crc64) return 'needs-head';
  return partial ? 'partial' : 'answer';
}

/**
 * Above the CopyObject limit: Initiate (SSE, metadata, storage class, ACL and tags go here)
 * → UploadPartCopy in parallel, each part pinned to the ETag → Complete. Any failure aborts
 * the upload so no orphaned parts are left behind.
 */
async function multipartCopy(
  oss: OssPort,
  policy: Policy,
  head: ObjectHead,
  headers: Record<string, string>,
  source: { sourceBucket: string; sourceKey: string; sourceVersionId?: string },
  requestIds: string[],
): Promise<Written> {
  const initiateHeaders = { ...headers };
  if (head.taggingCount > 0) {
    const tags = await oss.getObjectTagging(head.bucket, head.key, head.versionId);
    initiateHeaders['x-oss-tagging'] = tags.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  }
  const { uploadId, requestId } = await oss.initiateMultipartUpload(head.bucket, head.key, initiateHeaders);
  if (requestId) requestIds.push(requestId);
  try {
    const ranges = partRanges(head.size, policy.partSizeBytes);
    const parts: CompletedPart[] = new Array(ranges.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ranges.length) {
        const i = next++;
        parts[i] = await oss.uploadPartCopy({
          bucket: head.bucket,
          key: head.key,
          uploadId,
          partNumber: i + 1,
          ...source,
          range: ranges[i] as [number, number],
          ifMatch: head.etag,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(policy.partConcurrency, ranges.length) }, worker));
    // CompleteMultipartUpload cannot be made conditional: a write landing after the last part
    // copy would be replaced by our (older) bytes. Look once more right before completing, so
    // that window is as small as OSS allows (versioned buckets keep the newer version anyway).
    const latest = await oss.headObject(head.bucket, head.key);
    if (latest?.requestId) requestIds.push(latest.requestId);
    if (!latest || latest.etag !== head.etag || (head.versionId !== undefined && latest.versionId !== head.versionId)) {
      throw new OssRequestError(412, 'PreconditionFailed', 'the object changed during the multipart copy');
    }
    let done;
    try {
      done = await oss.completeMultipartUpload(head.bucket, head.key, uploadId, parts);
    } catch (err) {
      // A retried Complete whose first answer was lost finds the upload already completed:
      // the copy is in place; verification will tell.
      if (err instanceof OssRequestError && err.code === 'NoSuchUpload') return {};
      throw err;
    }
    if (done.requestId) requestIds.push(done.requestId);
    return writtenFrom(done);
  } catch (err) {
    await oss.abortMultipartUpload(head.bucket, head.key, uploadId).catch(() => undefined);
    throw err;
  }
}

/** Inclusive byte ranges of at most 10,000 parts, each ≥ partSize except the last. */
export function partRanges(size: number, partSize: number): Array<[number, number]> {
  const effective = Math.max(partSize, Math.ceil(size / 10_000));
  const ranges: Array<[number, number]> = [];
  for (let start = 0; start < size; start += effective) ranges.push([start, Math.min(size, start + effective) - 1]);
  return ranges;
}

/**
 * HEAD again: the object must now carry the demanded SSE, with the same size and CRC-64 as
 * the plaintext we copied. A mismatch is an error with both values; nothing is deleted.
 */
async function verify(
  oss: OssPort,
  policy: Policy,
  before: ObjectHead,
  written: Written,
  resolvedKeyId: string | undefined,
  requestIds: string[],
  log: Logger,
): Promise<ObjectHead> {
  const after = await oss.headObject(before.bucket, before.key, written.versionId);
  if (after?.requestId) requestIds.push(after.requestId);
  // Someone else's write already replaced our copy (unversioned bucket): not a failed copy.
  if (after && written.etag !== undefined && written.versionId === undefined && normalizeEtag(after.etag) !== normalizeEtag(written.etag)) {
    throw new ObjectChangedError(`${before.key} was overwritten right after the re-encrypted copy`);
  }
  const exact: Policy = { ...policy, compliance: 'exact' };
  const problems: string[] = [];
  if (!after) problems.push('the object is gone after the copy');
  else {
    const shortfall = sseShortfall(exact, after.sse, resolvedKeyId);
    if (shortfall) problems.push(`encryption ${JSON.stringify(after.sse ?? null)} (${shortfall})`);
    if (after.size !== before.size) problems.push(`size ${after.size} != ${before.size}`);
    if (after.crc64 !== undefined && before.crc64 !== undefined && after.crc64 !== before.crc64) {
      problems.push(`crc64 ${after.crc64} != ${before.crc64}`);
    }
  }
  if (problems.length > 0) {
    log.error('verification failed', {
      bucket: before.bucket,
      key: before.key,
      expected: { sse: sseRequestHeaders(policy.target, resolvedKeyId), size: before.size, crc64: before.crc64 },
      actual: after ? { sse: after.sse, size: after.size, crc64: after.crc64, etag: after.etag } : null,
    });
    throw new VerificationError(`re-encrypted copy of ${before.key} did not verify: ${problems.join('; ')}`, written.etag ?? after?.etag);
  }
  return after as ObjectHead;
}
