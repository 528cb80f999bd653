/** OSS answers parsed into OssPort values: known values as their union members, unknown ones kept as sent. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Reply } from '../../shared/oss/failures';
import { asSent } from '../../shared/oss/port';
import { parseHead, parseListObjects, writeResult } from '../../shared/oss/responses';
import { child, parsePlainXml, parseXml, parseXmlByParser, plainLeafText, text } from '../../shared/oss/xml';

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
    // The local server writes an ETag's quotes as character references.
    const referenced = copyResult.replace('"5B3C', '&#34;5B3C').replace('A0FE"', 'A0FE&#34;');
    expect(plainLeafText(referenced, ['CopyObjectResult', 'ETag'])).toBe('"5B3C1A2E053D763E1B002CC607C5A0FE"');
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
    expect(plainLeafText('<R><E>a &#38; b</E></R>', ['R', 'E'])).toBe('a & b');
    expect(plainLeafText('<R><E>a &#0; b</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><E>a</E><E>b</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><E a="1">x</E></R>', ['R', 'E'])).toBeUndefined();
    expect(plainLeafText('<R><X><E>deep</E></X><E>top</E></R>', ['R', 'E'])).toBe('top');
  });
});

describe('parsePlainXml: the parser’s tree of a plain document, without the parser', () => {
  /** Answers as OSS writes them (its documentation's examples, compact as the local server writes them, and pretty-printed). */
  const listPage =
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>b</Name><Prefix>data%2F</Prefix><MaxKeys>1000</MaxKeys>' +
    '<Delimiter>%2F</Delimiter><EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>' +
    '<NextContinuationToken>AWRhdGEvMDAvb2Jq</NextContinuationToken><KeyCount>3</KeyCount>' +
    '<Contents><Key>data%2F00%2Fobj%20%E4%B8%AD</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified>' +
    '<ETag>&quot;5B3C1A2E053D763E1B002CC607C5A0FE&quot;</ETag><Type>Normal</Type><Size>256</Size><StorageClass>Standard</StorageClass></Contents>' +
    '<Contents><Key>data%2F01</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>"A-2"</ETag><Type>Multipart</Type>' +
    '<Size>0</Size><StorageClass>ColdArchive</StorageClass><RestoreInfo>ongoing-request="true"</RestoreInfo>' +
    '<Owner><ID>1</ID><DisplayName>1</DisplayName></Owner></Contents>' +
    '<CommonPrefixes><Prefix>data%2Fa%2F</Prefix></CommonPrefixes><CommonPrefixes><Prefix>data%2Fb%2F</Prefix></CommonPrefixes>' +
    '</ListBucketResult>';
  const pretty = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult>
  <Name>examplebucket</Name>
  <Prefix></Prefix>
  <MaxKeys>100</MaxKeys>
  <EncodingType>url</EncodingType>
  <IsTruncated>false</IsTruncated>
  <Contents>
    <Key>a%20b</Key>
    <ETag>"5B3C1A2E053D763E1B002CC607C5A0FE"</ETag>
    <Size>344606</Size>
    <StorageClass>Standard</StorageClass>
    <Owner>
      <ID>0022012****</ID>
      <DisplayName>user-example</DisplayName>
    </Owner>
  </Contents>
</ListBucketResult>
`;
  const answers = [
    listPage,
    pretty,
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated><KeyCount>0</KeyCount></ListBucketResult>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<Tagging><TagSet><Tag><Key>a</Key><Value>b &amp; c</Value></Tag><Tag><Key>e</Key><Value></Value></Tag></TagSet></Tagging>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<Tagging><TagSet/></Tagging>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult><Owner><ID>1</ID></Owner><Buckets><Bucket><Name>a</Name></Bucket></Buckets></ListAllMyBucketsResult>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>0004B9894A22E5B1888A1E29F823****</UploadId></InitiateMultipartUploadResult>',
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>5C3D9175B6FC201293AD****</RequestId><HostId>b.oss-cn-hangzhou.aliyuncs.com</HostId><Key>k</Key><EC>0026-00000001</EC></Error>',
    '<ListInventoryConfigurationsResult><InventoryConfiguration><Id>r</Id><IsEnabled>true</IsEnabled><Destination><OSSBucketDestination>' +
      '<Format>CSV</Format><Bucket>acs:oss:::d</Bucket><Prefix>p/</Prefix></OSSBucketDestination></Destination>' +
      '<OptionalFields><Field>Size</Field><Field>ETag</Field></OptionalFields></InventoryConfiguration><IsTruncated>false</IsTruncated></ListInventoryConfigurationsResult>',
  ];

  it('reads OSS’s answers, compact or pretty-printed, as the parser does', () => {
    for (const xml of answers) {
      const plain = parsePlainXml(xml);
      expect(plain).toBeDefined();
      expect([xml, plain]).toEqual([xml, parseXmlByParser(xml)]);
    }
    const page = parseListObjects(reply({}, listPage));
    expect(page.objects.map((o) => [o.key, o.etag, o.size, o.storageClass, o.type])).toEqual([
      ['data/00/obj 中', '"5B3C1A2E053D763E1B002CC607C5A0FE"', 256, 'Standard', 'Normal'],
      ['data/01', '"A-2"', 0, 'ColdArchive', 'Multipart'],
    ]);
    expect(page.commonPrefixes).toEqual(['data/a/', 'data/b/']);
    expect([page.isTruncated, page.nextContinuationToken]).toEqual([true, 'AWRhdGEvMDAvb2Jq']);
  });

  it('leaves everything that is not plain to the parser, and never reads a document otherwise', () => {
    const docs = [
      '<R><E>&nbsp;</E></R>', // an HTML entity
      '<R><E>&#0;</E></R>', // characters XML does not allow, or not as written
      '<R><E>&#x1;</E></R>',
      '<R><E>&#13;</E></R>',
      '<R><E>&#xD800;</E></R>',
      '<R><E>&#X41;</E></R>',
      '<R><E>&#12345678;</E></R>',
      '<R><E><![CDATA[x<y]]></E></R>',
      '<R><!-- c --><E>x</E></R>',
      '<!DOCTYPE R><R/>',
      '<R><E a="1">x</E></R>', // an attribute
      '<R xmlns="http://doc.oss-cn-hangzhou.aliyuncs.com"><E>x</E></R>',
      '<R><ns:E>x</ns:E></R>',
      '<R><E>x</F></R>', // not well-formed
      '<R><E>x</E>',
      '<R><E>x</E></R></S>',
      '<R><E>a\r\nb</E></R>',
      '<?xml version="1.0"?><?pi x?><R><E>x</E></R>',
      '<R><constructor>x</constructor></R>',
      '<R><toString>x</toString></R>',
      'text<R/>',
      '<R>a < b</R>',
      '<R><E/ ></R>',
    ];
    for (const xml of docs) {
      const plain = parsePlainXml(xml);
      if (plain !== undefined) expect([xml, plain]).toEqual([xml, parseXmlByParser(xml)]);
    }
    for (const xml of docs.slice(0, 19)) expect([xml, parsePlainXml(xml)]).toEqual([xml, undefined]);
  });

  it('agrees with the parser on generated plain documents: nesting, repeats, the always-array elements, entities, whitespace', () => {
    const names = fc.constantFrom('R', 'Key', 'Contents', 'CommonPrefixes', 'Prefix', 'Tag', 'Field', 'Bucket', 'E', 'a.b-c_d');
    const reference = fc
      .oneof(
        fc.integer({ min: 0x9, max: 0xa }),
        fc.integer({ min: 0x20, max: 0xd7ff }),
        fc.integer({ min: 0xe000, max: 0xfffd }),
        fc.integer({ min: 0x10000, max: 0x10ffff }),
      )
      .chain((c) =>
        fc.constantFrom(`&#${c};`, `&#x${c.toString(16)};`, `&#x${c.toString(16).toUpperCase()};`, `&#${String(c).padStart(7, '0')};`),
      );
    const textChar = fc.oneof(
      fc.constantFrom(
        'a',
        'Z',
        '0',
        ' ',
        '\n',
        '\t',
        '%2F',
        '中',
        '😀',
        '>',
        '&amp;',
        '&lt;',
        '&gt;',
        '&quot;',
        '&apos;',
        '&#34;',
        '"',
        "'",
        '/',
      ),
      reference,
    );
    const text = fc.array(textChar, { maxLength: 6 }).map((cs) => cs.join(''));
    const space = fc.constantFrom('', '', ' ', '\n  ');
    type Tree = { name: string; before: string; content: string | Tree[]; selfClose: boolean; openSpace: string };
    const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
      tree: fc.record({
        name: names,
        before: space,
        content: fc.oneof({ depthSize: 'small' }, text, fc.array(tie('tree'), { maxLength: 4 })),
        selfClose: fc.boolean(),
        openSpace: fc.constantFrom('', ' '),
      }),
    }));
    const render = (t: Tree): string => {
      const inner = typeof t.content === 'string' ? t.content : t.content.map(render).join('');
      if (inner === '' && t.selfClose) return `${t.before}<${t.name}${t.openSpace}/>`;
      return `${t.before}<${t.name}${t.openSpace}>${inner}</${t.name}${t.openSpace}>`;
    };
    fc.assert(
      fc.property(tree, fc.boolean(), space, (root, declaration, after) => {
        const xml = (declaration ? '<?xml version="1.0" encoding="UTF-8"?>\n' : '') + render(root) + after;
        const plain = parsePlainXml(xml);
        expect(plain).toBeDefined();
        expect(plain).toEqual(parseXmlByParser(xml));
      }),
      { numRuns: 2000 },
    );
  });
});
