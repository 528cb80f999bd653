/**
 * Harmless requests that show whether the caller may do what the functions do on a bucket.
 * Each probe sends one OSS API of the client's operation table in a form that cannot change
 * anything — a key that does not exist, an upload id that does not exist, a rule OSS refuses
 * — so OSS answers 403 when authorization fails and otherwise the refusal the probe expects
 * (docs/oss-behaviour.md#permission-probes). The RAM actions a probe exercises are its API's
 * row in shared/ram/actions.ts, the table the policies are generated from and the local stack evaluates.
 */
import { OSS_OP_RAM } from '../ram/actions';
import type { OssOperationName } from '../oss/operations';
import { OssRequestError, type OssPort } from '../oss/port';

export interface PermissionProbe {
  op: OssOperationName;
  /** Names a version (`versionId=null`, which OSS knows in every bucket): the API's versioned actions too. */
  versioned: boolean;
  /** The refusal that means OSS authorized the request; without it, only a 2xx answer does. */
  allowedWhen?: { status: number; codes: readonly string[] };
  send(oss: OssPort, bucket: string, key: string): Promise<unknown>;
}

const NOT_FOUND = { status: 404, codes: ['NoSuchKey', 'NoSuchVersion'] } as const;
const NO_SUCH_UPLOAD = { status: 404, codes: ['NoSuchUpload'] } as const;
/** An upload id no upload has: Complete and Abort can only answer NoSuchUpload. */
const PROBE_UPLOAD_ID = 'oss-sse-doctor-no-such-upload';

export const PERMISSION_PROBES: readonly PermissionProbe[] = [
  { op: 'HeadObject', versioned: false, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.headObject(b, k) },
  { op: 'HeadObject', versioned: true, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.headObject(b, k, 'null') },
  { op: 'GetObjectAcl', versioned: false, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.getObjectAcl(b, k) },
  { op: 'GetObjectAcl', versioned: true, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.getObjectAcl(b, k, 'null') },
  { op: 'GetObjectTagging', versioned: false, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.getObjectTagging(b, k) },
  { op: 'GetObjectTagging', versioned: true, allowedWhen: NOT_FOUND, send: (oss, b, k) => oss.getObjectTagging(b, k, 'null') },
  // Completing an upload that does not exist: oss:PutObject, nothing written.
  {
    op: 'CompleteMultipartUpload',
    versioned: false,
    allowedWhen: NO_SUCH_UPLOAD,
    send: (oss, b, k) => oss.completeMultipartUpload(b, k, PROBE_UPLOAD_ID, [{ partNumber: 1, etag: '"0"' }]),
  },
  {
    op: 'AbortMultipartUpload',
    versioned: false,
    allowedWhen: NO_SUCH_UPLOAD,
    send: (oss, b, k) => oss.abortMultipartUpload(b, k, PROBE_UPLOAD_ID),
  },
  // A copy from a source that does not exist, replacing tags as the functions' copies of tagged objects do.
  {
    op: 'CopyObject',
    versioned: false,
    allowedWhen: NOT_FOUND,
    send: (oss, b, k) =>
      oss.copyObject({
        bucket: b,
        key: k,
        sourceBucket: b,
        sourceKey: `${k}.source`,
        headers: { 'x-oss-tagging': 'oss-sse-doctor=probe', 'x-oss-tagging-directive': 'Replace' },
      }),
  },
  // A version that does not exist: deleting it removes nothing and, unlike a plain DELETE in a
  // versioned bucket, leaves no delete marker.
  { op: 'DeleteObject', versioned: true, send: (oss, b, k) => oss.deleteObject(b, k, 'null') },
  // A key id with AES256 is a rule OSS refuses (400 InvalidArgument): the bucket's rule stays as it is.
  {
    op: 'PutBucketEncryption',
    versioned: false,
    allowedWhen: { status: 400, codes: ['InvalidArgument'] },
    send: (oss, b) => oss.putBucketEncryption(b, { algorithm: 'AES256', keyId: 'oss-sse-doctor-probe' }),
  },
];

/** The RAM actions a probe's request needs (shared/ram/actions.ts). */
export function probeActions(probe: Pick<PermissionProbe, 'op' | 'versioned'>): string[] {
  const row = OSS_OP_RAM[probe.op];
  if (!row) return [];
  return [...row.actions, ...(probe.versioned ? (row.versioned ?? []) : [])];
}

/** OSS actions granted on the account, not a bucket (ListBuckets): the credentials check covers them. */
export const SERVICE_LEVEL_ACTIONS: ReadonlySet<string> = new Set(
  Object.values(OSS_OP_RAM)
    .filter((row) => row.level === 'service')
    .flatMap((row) => row.actions),
);

export type ProbeOutcome =
  | { kind: 'allowed'; requestId?: string }
  | { kind: 'denied'; code: string; requestId?: string }
  | { kind: 'inconclusive'; answer: string; requestId?: string };

/** Sends a probe and reads OSS's answer: authorized, refused (403), or something the probe did not expect. */
export async function sendProbe(
  probe: PermissionProbe,
  oss: OssPort,
  where: { bucket: string; key: string; lastRequestId: () => string | undefined },
): Promise<ProbeOutcome> {
  try {
    await probe.send(oss, where.bucket, where.key);
    const requestId = where.lastRequestId();
    return { kind: 'allowed', ...(requestId ? { requestId } : {}) };
  } catch (e) {
    if (!(e instanceof OssRequestError)) throw e;
    const requestId = e.requestId ? { requestId: e.requestId } : {};
    if (e.status === 403) return { kind: 'denied', code: e.code, ...requestId };
    if (probe.allowedWhen && e.status === probe.allowedWhen.status && probe.allowedWhen.codes.includes(e.code))
      return { kind: 'allowed', ...requestId };
    return { kind: 'inconclusive', answer: `${e.status} ${e.code}`, ...requestId };
  }
}

export interface ActionVerdict {
  action: string;
  /**
   * `masked`: every probe that needs it was refused, each explained by another action shown
   * denied — fix that one first, then this is probed again.
   */
  verdict: 'allowed' | 'denied' | 'masked' | 'inconclusive' | 'not-probed';
  /** The probe's answer behind the verdict. */
  via?: { op: string; answer: string; requestId?: string };
  /** A denied probe that needs other actions too, none of them shown allowed: any of these may be the missing one. */
  alsoSuspect?: string[];
}

type ProbeResult = { probe: PermissionProbe; outcome: ProbeOutcome };

const viaOf = (r: ProbeResult, answer: string): NonNullable<ActionVerdict['via']> => ({
  op: r.probe.op,
  answer,
  ...(r.outcome.requestId ? { requestId: r.outcome.requestId } : {}),
});

/**
 * Which of `needed` the probes show allowed or denied. An authorized probe shows every action
 * it needs allowed. A refused one blames the actions no authorized probe covers; when that is
 * one action, it is shown denied, and it explains every other refused probe that needs it.
 */
export function judgeActions(needed: readonly string[], results: readonly ProbeResult[]): ActionVerdict[] {
  const allowed = new Map<string, ProbeResult>();
  for (const r of results) {
    if (r.outcome.kind !== 'allowed') continue;
    for (const action of probeActions(r.probe)) if (!allowed.has(action)) allowed.set(action, r);
  }
  const unproven = (r: ProbeResult): string[] => probeActions(r.probe).filter((a) => !allowed.has(a));
  const refused = results.filter((r) => r.outcome.kind === 'denied');
  const shownDenied = new Set(refused.map(unproven).flatMap((u) => (u.length === 1 ? u : [])));
  return needed.map((action): ActionVerdict => {
    const byProbe = allowed.get(action);
    if (byProbe) return { action, verdict: 'allowed', via: viaOf(byProbe, 'authorized') };
    const against = refused.filter((r) => probeActions(r.probe).includes(action));
    const answer = (r: ProbeResult) => (r.outcome.kind === 'denied' ? `403 ${r.outcome.code}` : '');
    const unexplained = against.find((r) => !unproven(r).some((a) => a !== action && shownDenied.has(a)));
    if (unexplained) {
      const suspects = unproven(unexplained).filter((a) => a !== action);
      return {
        action,
        verdict: 'denied',
        via: viaOf(unexplained, answer(unexplained)),
        ...(suspects.length > 0 ? { alsoSuspect: suspects } : {}),
      };
    }
    const first = against[0];
    if (first) return { action, verdict: 'masked', via: viaOf(first, answer(first)) };
    const odd = results.find((r) => r.outcome.kind === 'inconclusive' && probeActions(r.probe).includes(action));
    if (odd && odd.outcome.kind === 'inconclusive') return { action, verdict: 'inconclusive', via: viaOf(odd, odd.outcome.answer) };
    return { action, verdict: 'not-probed' };
  });
}
