/** Which inventory rows may be copied without a HEAD, and how the self-copy probe reads its HEAD (issue 13). */
import { describe, expect, it } from 'vitest';
import { reportedCopyOf, reportedHttpDate } from '../../shared/backfill/inventory';
import { PROBE_HEADERS, selfCopyVerdict } from '../../shared/backfill/self-copy-probe';
import type { ObjectHead } from '../../shared/oss/port';

const LIMIT = 1024 ** 3;
const plaintext = { encrypted: false, etag: 'ABC', size: 10, storageClass: 'Standard', lastModified: '2024-05-17T08:00:07.250Z' } as const;
const HTTP_TIME = 'Fri, 17 May 2024 08:00:07 GMT';

describe('reportedCopyOf', () => {
  it('a plaintext row with ETag, size, a readable storage class and its LastModifiedDate: copied as reported', () => {
    expect(reportedCopyOf(plaintext, LIMIT)).toEqual({ etag: 'ABC', size: 10, storageClass: 'Standard', unmodifiedSince: HTTP_TIME });
    expect(reportedCopyOf({ ...plaintext, storageClass: 'IA', objectType: 'Multipart' }, LIMIT)).toEqual({
      etag: 'ABC',
      size: 10,
      storageClass: 'IA',
      unmodifiedSince: HTTP_TIME,
    });
    expect(reportedCopyOf({ ...plaintext, objectType: 'Normal', isLatest: true, isDeleteMarker: false }, LIMIT)).toBeDefined();
  });

  it('the version the report names goes with it (compared with the version the copy replaced)', () => {
    expect(reportedCopyOf({ ...plaintext, versionId: 'v1', isLatest: true }, LIMIT)).toMatchObject({ versionId: 'v1' });
  });

  it.each([
    ['reported encrypted (exact mode may need its key checked)', { encrypted: true }],
    ['encryption status not understood', { encrypted: undefined }],
    ['no ETag to pin the copy to', { etag: undefined }],
    ['no LastModifiedDate to pin the copy in time to', { lastModified: undefined }],
    ['a LastModifiedDate that is not a UTC time', { lastModified: '2024-05-17 08:00:07' }],
    ['a LastModifiedDate that is not a real time', { lastModified: '2024-02-30T08:00:07Z' }],
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

describe('reportedHttpDate', () => {
  it('reads ISO 8601 UTC, with or without a fraction, and hyphens in the time; the fraction is dropped', () => {
    expect(reportedHttpDate('2024-05-17T08:00:07.250Z')).toBe(HTTP_TIME);
    expect(reportedHttpDate('2024-05-17T08:00:07Z')).toBe(HTTP_TIME);
    expect(reportedHttpDate('2024-05-17T08-00-07Z')).toBe(HTTP_TIME);
    expect(reportedHttpDate(' 2024-05-17T08:00:07.999Z ')).toBe(HTTP_TIME);
  });
  it('anything else is not read (the row is HEADed)', () => {
    for (const t of [
      '',
      '2024-05-17',
      '2024-05-17T08:00:07',
      '2024-05-17T08:00:07+08:00',
      '1715932807',
      '2024-13-01T00:00:00Z',
      '2024-05-17T24:00:00Z',
    ])
      expect(reportedHttpDate(t)).toBeUndefined();
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
