/** OSS answers parsed into OssPort values: known values as their union members, unknown ones kept as sent. */
import { describe, expect, it } from 'vitest';
import type { Reply } from '../../shared/oss/failures';
import { asSent } from '../../shared/oss/port';
import { parseHead, parseListObjects, writeResult } from '../../shared/oss/responses';
import { child, parseXml, plainLeafText, text } from '../../shared/oss/xml';

const reply = (headers: Record<string, string>, body = ''): Reply => ({ status: 200, headers, body: Buffer.from(body, 'utf8') });

describe('parseHead', () => {
  it('known object types and storage classes are union members; absent ones default to Normal / Standard', () => {
    const h = parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-object-type': 'Appendable', 'x-oss-storage-class': 'ColdArchive' }));
    expect([h.objectType, h.storageClass]).toEqual(['Appendable', 'ColdArchive']);
    const d = parseHead('b', 'k', reply({ etag: '"E"' }));
    expect([d.objectType, d.storageClass]).toEqual(['Normal', 'Standard']);
  });

  it('a value the code does not know is Unrecognised, kept as sent (a copy sends it back unchanged)', () => {
    const h = parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-object-type': 'Hologram', 'x-oss-storage-class': 'FrozenArchive' }));
    expect(h.objectType).toEqual({ unrecognised: 'Hologram' });
    expect(h.storageClass).toEqual({ unrecognised: 'FrozenArchive' });
    expect(asSent(h.storageClass)).toBe('FrozenArchive');
    expect(asSent(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-storage-class': 'IA' })).storageClass)).toBe('IA');
  });

  it('an SSE algorithm the code does not know is left out (the policy then re-encrypts)', () => {
    expect(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-server-side-encryption': 'ROT13' })).sse).toBeUndefined();
    expect(parseHead('b', 'k', reply({ etag: '"E"', 'x-oss-server-side-encryption': 'SM4' })).sse).toEqual({ algorithm: 'SM4' });
  });
});

describe('writeResult', () => {
  it('a copy’s answer: ETag, version, source version, CRC-64 and encryption as the headers give them', () => {
    const r = reply({
      'x-oss-version-id': 'v2',
      'x-oss-copy-source-version-id': 'v1',
      'x-oss-hash-crc64ecma': '1234',
      'x-oss-server-side-encryption': 'KMS',
      'x-oss-server-side-encryption-key-id': 'key-1',
      'x-oss-server-side-data-encryption': 'SM4',
    });
    expect(writeResult('"E"', { ...r, requestId: 'R' })).toEqual({
      etag: '"E"',
      versionId: 'v2',
      sourceVersionId: 'v1',
      crc64: '1234',
      sse: { algorithm: 'KMS', keyId: 'key-1', dataEncryption: 'SM4' },
      requestId: 'R',
    });
    expect(writeResult('"E"', reply({}))).toEqual({ etag: '"E"' });
  });
});

describe('parseListObjects', () => {
  it('listed storage classes and types: known as members, unknown kept as sent', () => {
    const xml =
      '<ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>' +
      '<Contents><Key>a%2Bb</Key><StorageClass>IA</StorageClass><Type>Multipart</Type></Contents>' +
      '<Contents><Key>c</Key><StorageClass>Glacier</StorageClass><Type>Hologram</Type></Contents>' +
      '<Contents><Key>d</Key></Contents></ListBucketResult>';
    const page = parseListObjects(reply({}, xml));
    expect(page.objects.map((o) => [o.key, o.storageClass, o.type])).toEqual([
      ['a+b', 'IA', 'Multipart'],
      ['c', { unrecognised: 'Glacier' }, { unrecognised: 'Hologram' }],
      ['d', 'Standard', 'Normal'],
    ]);
  });
});

describe('plainLeafText: the parser’s reading of a plain document, without the parser', () => {
  const viaParser = (xml: string, path: readonly string[]): string | undefined => {
    let node: unknown = parseXml(xml);
    for (const name of path.slice(0, -1)) node = child(node, name);
    return text(node, path[path.length - 1] as string);
  };
  const copyResult =
    '<?xml version="1.0" encoding="UTF-8"?>\n<CopyObjectResult><ETag>"5B3C1A2E053D763E1B002CC607C5A0FE"</ETag><LastModified>2024-01-01T00:00:00.000Z</LastModified></CopyObjectResult>';
  const acl =
    '<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy><Owner><ID>1</ID><DisplayName>1</DisplayName></Owner><AccessControlList><Grant>public-read</Grant></AccessControlList></AccessControlPolicy>';
  it('reads the answers oss-sse reads most: CopyObjectResult’s ETag, an object ACL’s Grant', () => {
    expect(plainLeafText(copyResult, ['CopyObjectResult', 'ETag'])).toBe('"5B3C1A2E053D763E1B002CC607C5A0FE"');
    expect(plainLeafText(acl, ['AccessControlPolicy', 'AccessControlList', 'Grant'])).toBe('public-read');
  });
  it('gives the parser’s answer wherever it gives one, and leaves everything unusual to the parser', () => {
    const docs: Array<[string, string[]]> = [
      [copyResult, ['CopyObjectResult', 'ETag']],
      [copyResult, ['Other', 'ETag']],
      [copyResult, ['CopyObjectResult', 'Missing']],
      [acl, ['AccessControlPolicy', 'Owner', 'ID']],
      [acl, ['AccessControlPolicy', 'AccessControlList']], // not a leaf
      ['<R><E> spaced </E></R>', ['R', 'E']],
      ['<R><E></E></R>', ['R', 'E']],
      ['<R><E/></R>', ['R', 'E']],
      ['<R><E>a</E><E>b</E></R>', ['R', 'E']], // repeated
      ['<R><E>a &amp; b &quot;c&quot; &lt;&gt;&apos;</E></R>', ['R', 'E']], // the named entities
      ['<R><E>a &#38; b</E></R>', ['R', 'E']], // a character reference
      ['<R><E><![CDATA[x<y]]></E></R>', ['R', 'E']],
      ['<R><!-- c --><E>x</E></R>', ['R', 'E']],
      ['<R><E a="1">x</E></R>', ['R', 'E']], // an attribute
      ['<R><X><E>deep</E></X><E>top</E></R>', ['R', 'E']],
      ['<R\n><E\n>x</E\n></R>', ['R', 'E']],
      ['<R><E>x</F></R>', ['R', 'E']], // not well-formed
      ['<?xml version="1.0"?><?pi x?><R><E>x</E></R>', ['R', 'E']],
    ];
    for (const [xml, path] of docs) {
      const fast = plainLeafText(xml, path);
      if (fast !== undefined) expect([xml, fast]).toEqual([xml, viaParser(xml, path)]);
    }
    expect(plainLeafText('<R><E>&quot;ETAG&quot; &amp;</E></R>', ['R', 'E'])).toBe('"ETAG" &');
    expect(plainLeafText('<R><E>a &#38; b</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><E>a</E><E>b</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><E a="1">x</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><X><E>deep</E></X><E>top</E></R>', ['R', 'E'])).toBe('top');
  });
});
