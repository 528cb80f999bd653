/** Which inventory rows may be copied without a HEAD, and how the self-copy probe reads its HEAD (issue 13). */
import { describe, expect, it } from 'vitest';
import { reportedCopyOf } from '../../shared/backfill/inventory';
import { PROBE_HEADERS, selfCopyVerdict } from '../../shared/backfill/self-copy-probe';
import type { ObjectHead } from '../../shared/oss/port';

const LIMIT = 1024 ** 3;
const plaintext = { encrypted: false, etag: 'ABC', size: 10, storageClass: 'Standard' } as const;

describe('reportedCopyOf', () => {
  it('a plaintext row with ETag, size and a readable storage class: copied as reported', () => {
    expect(reportedCopyOf(plaintext, LIMIT)).toEqual({ etag: 'ABC', size: 10, storageClass: 'Standard' });
    expect(reportedCopyOf({ ...plaintext, storageClass: 'IA', objectType: 'Multipart' }, LIMIT)).toEqual({
      etag: 'ABC',
      size: 10,
      storageClass: 'IA',
    });
    expect(reportedCopyOf({ ...plaintext, objectType: 'Normal', isLatest: true, isDeleteMarker: false }, LIMIT)).toBeDefined();
  });

  it.each([
    ['reported encrypted (exact mode may need its key checked)', { encrypted: true }],
    ['encryption status not understood', { encrypted: undefined }],
    ['no ETag to pin the copy to', { etag: undefined }],
    ['no size', { size: undefined }],
    ['no storage class to send back', { storageClass: undefined }],
    ['Archive: needs a restore', { storageClass: 'Archive' }],
    ['ColdArchive', { storageClass: 'ColdArchive' }],
    ['DeepColdArchive', { storageClass: 'DeepColdArchive' }],
    ['a storage class this code does not know', { storageClass: 'Hyper' }],
    ['a symlink (a copy copies the link)', { objectType: 'Symlink' }],
    ['an appendable object (cannot be copied)', { objectType: 'Appendable' }],
    ['an object type this code does not know', { objectType: 'Strange' }],
    ['above the CopyObject limit (multipart needs the metadata)', { size: LIMIT + 1 }],
    ['a noncurrent version', { isLatest: false }],
    ['a delete marker', { isDeleteMarker: true }],
    ['a row the report settles', { skip: 'delete-marker' as const }],
  ])('HEADed as before: %s', (_why, change) => {
    expect(reportedCopyOf({ ...plaintext, ...change }, LIMIT)).toBeUndefined();
  });

  it('exactly at the limit is still one CopyObject', () => {
    expect(reportedCopyOf({ ...plaintext, size: LIMIT }, LIMIT)).toBeDefined();
  });
});

function headWith(headers: Record<string, string>): ObjectHead {
  const contentHeaders: ObjectHead['contentHeaders'] = {};
  const userMeta: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith('x-oss-meta-')) userMeta[k] = v;
    else (contentHeaders as Record<string, string>)[k] = v;
  }
  return {
    bucket: 'b',
    key: 'k',
    etag: '"E"',
    size: 1,
    objectType: 'Normal',
    storageClass: 'IA',
    contentHeaders,
    userMeta,
    taggingCount: 0,
  };
}

describe('selfCopyVerdict', () => {
  it('keeps: every header sent is there as sent', () => {
    expect(selfCopyVerdict(headWith({ ...PROBE_HEADERS }))).toEqual({ verdict: 'keeps' });
  });

  it('replaces: no user metadata left (content headers back to defaults)', () => {
    const v = selfCopyVerdict(headWith({ 'content-type': 'application/octet-stream' }));
    expect(v.verdict).toBe('replaces');
    expect(v.reason).toContain('cache-control');
  });

  it('unknown: the metadata kept but a content header rewritten, or no object', () => {
    expect(selfCopyVerdict(headWith({ ...PROBE_HEADERS, expires: 'Fri, 01 Jan 2100 00:00:00 +0000' }))).toEqual({
      verdict: 'unknown',
      reason: 'not kept: expires',
    });
    expect(selfCopyVerdict(undefined).verdict).toBe('unknown');
  });
});
