/**
 * Listing APIs of the local OSS server: ListObjects (V1), ListObjectsV2 and ListObjectVersions.
 *
 * All three walk the bucket's keys in OSS order (UTF-8 byte order, shared/key-order.ts) through
 * Store.keysFrom, starting at a binary-searched position and stopping one entry after the page,
 * so a page costs O(page size · log n) whatever the bucket size. A delimiter roll-up seeks past
 * the whole common prefix in one step (prefixEnd) instead of walking the keys under it.
 *
 * The one unavoidable linear cost: keys that have versions but nothing to list (a delete marker
 * on top, for V1/V2) must be stepped over one by one, as on real OSS.
 */
import { compareKeys } from '../../shared/key-order';
import { encoder, intParam, ownerXml, sendXml, type RequestContext } from './context';
import { Errors, xmlEscape } from './errors';
import type { ObjectVersion } from './model';
import { restoreHeader } from './object-headers';
import type { KeyPosition, Store } from './store';
import { isoDate } from './xml';

// ---- key-order helpers ----------------------------------------------------------------------

/**
 * compareKeys orders UTF-16 code units through this monotone bijection (surrogates, i.e. code
 * points above U+FFFF, after U+E000–U+FFFF). Doing arithmetic on the mapped value keeps prefixEnd
 * exact in that order, including for emoji and private-use characters.
 */
const toRank = (u: number): number => (u < 0xd800 ? u : u <= 0xdfff ? u + 0x2000 : u - 0x800);
const fromRank = (r: number): number => (r < 0xd800 ? r : r < 0xf800 ? r + 0x800 : r - 0x2000);

/**
 * The smallest string, in OSS key order, that is greater than every string starting with
 * `prefix`; undefined when no string is (the prefix is empty or made only of the last unit).
 * Keys starting with `prefix` are exactly those k with prefix ≤ k < prefixEnd(prefix).
 * The result may end in a lone surrogate: it is a seek position, never a key.
 */
export function prefixEnd(prefix: string): string | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const rank = toRank(prefix.charCodeAt(i));
    // The highest rank has no successor: drop it and carry into the unit before it.
    if (rank < 0xffff) return prefix.slice(0, i) + String.fromCharCode(fromRank(rank + 1));
  }
  return undefined;
}

/**
 * The first position to list for a marker (V1 marker, V2 start-after or continuation position,
 * versions key-marker). A marker that is itself a common prefix under this prefix and
 * delimiter (the NextMarker of a page that ended on one) resumes after every key under it, so
 * the prefix is not listed twice. Undefined: nothing can follow.
 */
function startPosition(prefix: string, delimiter: string, from: KeyPosition): KeyPosition | undefined {
  const marker = from.key;
  if (marker === '' || compareKeys(marker, prefix) < 0) return { key: prefix, inclusive: true };
  if (delimiter !== '' && marker.startsWith(prefix)) {
    const d = marker.indexOf(delimiter, prefix.length);
    if (d >= 0 && d + delimiter.length === marker.length) {
      const end = prefixEnd(marker);
      return end === undefined ? undefined : { key: end, inclusive: true };
    }
  }
  return from;
}

type Entry<T> = { kind: 'item'; key: string; item: T } | { kind: 'prefix'; prefix: string };

/**
 * Listing entries in order from `start`: the items of each key under `prefix`, or one common
 * prefix for all keys that share `prefix` + text + `delimiter`. A common prefix appears only if
 * some key under it has an item (for V1/V2: a current object, not only delete markers).
 */
function* walk<T>(
  store: Store,
  bucket: string,
  prefix: string,
  delimiter: string,
  start: KeyPosition | undefined,
  itemsOf: (key: string) => readonly T[],
): Generator<Entry<T>> {
  let pos = start;
  while (pos !== undefined) {
    let next: KeyPosition | undefined;
    for (const key of store.keysFrom(bucket, pos)) {
      // Keys with the prefix are contiguous and the walk starts at or after the prefix.
      if (!key.startsWith(prefix)) return;
      const d = delimiter === '' ? -1 : key.indexOf(delimiter, prefix.length);
      if (d >= 0) {
        if (itemsOf(key).length === 0) continue;
        const common = key.slice(0, d + delimiter.length);
        yield { kind: 'prefix', prefix: common };
        const end = prefixEnd(common);
        if (end === undefined) return;
        next = { key: end, inclusive: true };
        break; // re-seek past the whole common prefix
      }
      for (const item of itemsOf(key)) yield { kind: 'item', key, item };
    }
    pos = next;
  }
}

/** Up to `max` entries, and whether at least one more exists. */
function takePage<T>(entries: Iterable<Entry<T>>, max: number): { page: Entry<T>[]; truncated: boolean } {
  const page: Entry<T>[] = [];
  for (const e of entries) {
    if (page.length === max) return { page, truncated: true };
    page.push(e);
  }
  return { page, truncated: false };
}

const entryName = (e: Entry<unknown>): string => (e.kind === 'item' ? e.key : e.prefix);

// ---- XML --------------------------------------------------------------------------------------

/**
 * An element and its content. Listings need strict element order (Version and DeleteMarker
 * interleaved in version order), which the object-shaped toXml cannot express.
 */
type Node = readonly [name: string, content: string | number | boolean | readonly (Node | undefined)[]];

function render(node: Node): string {
  const [name, content] = node;
  const inner = Array.isArray(content)
    ? (content as readonly (Node | undefined)[]).map((n) => (n === undefined ? '' : render(n))).join('')
    : xmlEscape(String(content));
  return `<${name}>${inner}</${name}>`;
}

function sendDocument(ctx: RequestContext, root: Node): void {
  sendXml(ctx, `<?xml version="1.0" encoding="UTF-8"?>\n${render(root)}`);
}

const ownerNode = (v: ObjectVersion): Node => {
  const o = ownerXml(v.owner);
  return [
    'Owner',
    [
      ['ID', o.ID],
      ['DisplayName', o.DisplayName],
    ],
  ];
};

/** Key, LastModified, ETag, Type, Size, StorageClass (and RestoreInfo for a restored archive). */
function objectFields(v: ObjectVersion, key: string): Node[] {
  const restore = restoreHeader(v);
  return [
    ['Key', key],
    ['LastModified', isoDate(v.lastModified)],
    ['ETag', v.etag],
    ['Type', v.objectType],
    ['Size', v.size],
    ['StorageClass', v.storageClass],
    ...(restore === undefined ? [] : [['RestoreInfo', restore] as Node]),
  ];
}

const commonPrefixNodes = (page: Entry<unknown>[], enc: (s: string) => string): Node[] =>
  page.flatMap((e) => (e.kind === 'prefix' ? [['CommonPrefixes', [['Prefix', enc(e.prefix)]]] as Node] : []));

// ---- request parameters -------------------------------------------------------------------------

function param(ctx: RequestContext, name: string): string {
  return ctx.oss.query[name] ?? '';
}

/** The current, non-delete-marker version of a key as a 0- or 1-element list (walk's items). */
function currentOf(ctx: RequestContext): (key: string) => readonly ObjectVersion[] {
  const bucket = ctx.oss.bucket;
  return (key) => {
    const v = ctx.store.current(bucket, key);
    return v === undefined ? [] : [v];
  };
}

// ---- ListObjects (V1) -----------------------------------------------------------------------------

export async function listObjects(ctx: RequestContext): Promise<void> {
  const bucket = ctx.store.bucket(ctx.oss.bucket).name;
  const enc = encoder(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1, 1000, 100);
  const prefix = param(ctx, 'prefix');
  const marker = param(ctx, 'marker');
  const delimiter = param(ctx, 'delimiter');
  const start = startPosition(prefix, delimiter, { key: marker, inclusive: false });
  const { page, truncated } = takePage(walk(ctx.store, bucket, prefix, delimiter, start, currentOf(ctx)), maxKeys);
  const last = page[page.length - 1];
  sendDocument(ctx, [
    'ListBucketResult',
    [
      ['Name', bucket],
      ['Prefix', enc(prefix)],
      ['Marker', enc(marker)],
      ['MaxKeys', maxKeys],
      ['Delimiter', enc(delimiter)],
      ctx.oss.query['encoding-type'] ? ['EncodingType', 'url'] : undefined,
      ['IsTruncated', truncated],
      truncated && last ? ['NextMarker', enc(entryName(last))] : undefined,
      ...page.flatMap((e): Node[] => (e.kind === 'item' ? [['Contents', [...objectFields(e.item, enc(e.key)), ownerNode(e.item)]]] : [])),
      ...commonPrefixNodes(page, enc),
    ],
  ]);
}

// ---- ListObjectsV2 ----------------------------------------------------------------------------------

/** Continuation tokens: base64url of a format byte and the last listed key or common prefix. */
const TOKEN_FORMAT = 1;

function encodeToken(lastEntry: string): string {
  return Buffer.concat([Buffer.from([TOKEN_FORMAT]), Buffer.from(lastEntry, 'utf8')]).toString('base64url');
}

function decodeToken(token: string): string {
  const invalid = () => Errors.invalidArgument('The continuation token provided is incorrect', 'continuation-token', token);
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw invalid();
  const raw = Buffer.from(token, 'base64url');
  // Re-encoding must give the token back: rejects truncated or otherwise altered tokens.
  if (raw.length === 0 || raw[0] !== TOKEN_FORMAT || raw.toString('base64url') !== token) throw invalid();
  const key = raw.subarray(1).toString('utf8');
  if (!Buffer.from(key, 'utf8').equals(raw.subarray(1))) throw invalid(); // not UTF-8
  return key;
}

export async function listObjectsV2(ctx: RequestContext): Promise<void> {
  const bucket = ctx.store.bucket(ctx.oss.bucket).name;
  const enc = encoder(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1, 1000, 100);
  const prefix = param(ctx, 'prefix');
  const delimiter = param(ctx, 'delimiter');
  const startAfter = ctx.oss.query['start-after'];
  const token = ctx.oss.query['continuation-token'];
  const fetchOwner = ctx.oss.query['fetch-owner'];
  // Stricter reading (unconfirmed on OSS): only true/false are accepted.
  if (fetchOwner !== undefined && fetchOwner !== 'true' && fetchOwner !== 'false') {
    throw Errors.invalidArgument('fetch-owner must be true or false', 'fetch-owner', fetchOwner);
  }
  // The token, when present, carries the position; start-after is then only echoed (as on S3).
  const resumeAfter = token !== undefined ? decodeToken(token) : (startAfter ?? '');
  const start = startPosition(prefix, delimiter, { key: resumeAfter, inclusive: false });
  const { page, truncated } = takePage(walk(ctx.store, bucket, prefix, delimiter, start, currentOf(ctx)), maxKeys);
  const last = page[page.length - 1];
  sendDocument(ctx, [
    'ListBucketResult',
    [
      ['Name', bucket],
      ['Prefix', enc(prefix)],
      startAfter !== undefined && startAfter !== '' ? ['StartAfter', enc(startAfter)] : undefined,
      token !== undefined ? ['ContinuationToken', token] : undefined,
      ['MaxKeys', maxKeys],
      ['Delimiter', enc(delimiter)],
      ctx.oss.query['encoding-type'] ? ['EncodingType', 'url'] : undefined,
      ['IsTruncated', truncated],
      truncated && last ? ['NextContinuationToken', encodeToken(entryName(last))] : undefined,
      ['KeyCount', page.length],
      ...page.flatMap((e): Node[] =>
        e.kind === 'item'
          ? [['Contents', [...objectFields(e.item, enc(e.key)), ...(fetchOwner === 'true' ? [ownerNode(e.item)] : [])]]]
          : [],
      ),
      ...commonPrefixNodes(page, enc),
    ],
  ]);
}

// ---- ListObjectVersions ----------------------------------------------------------------------------

interface ListedVersion {
  v: ObjectVersion;
  latest: boolean;
}

export async function listObjectVersions(ctx: RequestContext): Promise<void> {
  const bucket = ctx.store.bucket(ctx.oss.bucket).name;
  const enc = encoder(ctx);
  const maxKeys = intParam(ctx, 'max-keys', 1, 1000, 100);
  const prefix = param(ctx, 'prefix');
  const delimiter = param(ctx, 'delimiter');
  const keyMarker = param(ctx, 'key-marker');
  const versionIdMarker = param(ctx, 'version-id-marker');
  if (versionIdMarker !== '' && keyMarker === '') {
    throw Errors.invalidArgument('A version-id marker cannot be specified without a key marker.', 'version-id-marker', versionIdMarker);
  }
  // With a version-id marker the listing resumes inside the key-marker's versions (older ones).
  const start = startPosition(prefix, delimiter, { key: keyMarker, inclusive: versionIdMarker !== '' });
  const itemsOf = (key: string): readonly ListedVersion[] => {
    const versions = ctx.store.versionsOf(bucket, key);
    const listed = versions.map((v, i) => ({ v, latest: i === 0 }));
    if (versionIdMarker === '' || key !== keyMarker || versions.length === 0) return listed;
    const at = versions.findIndex((v) => v.versionId === versionIdMarker);
    // Version ids carry no order, so an unknown marker cannot be placed: refuse it (stricter
    // reading; a key with no versions left simply has nothing more to list).
    if (at < 0) throw Errors.invalidArgument('Invalid version id specified', 'version-id-marker', versionIdMarker);
    return listed.slice(at + 1);
  };
  const { page, truncated } = takePage(walk(ctx.store, bucket, prefix, delimiter, start, itemsOf), maxKeys);
  const last = page[page.length - 1];
  sendDocument(ctx, [
    'ListVersionsResult',
    [
      ['Name', bucket],
      ['Prefix', enc(prefix)],
      ['KeyMarker', enc(keyMarker)],
      ['VersionIdMarker', versionIdMarker],
      ['MaxKeys', maxKeys],
      ['Delimiter', enc(delimiter)],
      ctx.oss.query['encoding-type'] ? ['EncodingType', 'url'] : undefined,
      ['IsTruncated', truncated],
      truncated && last ? ['NextKeyMarker', enc(entryName(last))] : undefined,
      // After a common prefix there is no version to resume from: the key marker alone suffices.
      truncated && last?.kind === 'item' ? ['NextVersionIdMarker', last.item.v.versionId] : undefined,
      ...page.flatMap((e): Node[] => {
        if (e.kind !== 'item') return [];
        const { v, latest } = e.item;
        if (v.isDeleteMarker) {
          return [
            [
              'DeleteMarker',
              [
                ['Key', enc(e.key)],
                ['VersionId', v.versionId],
                ['IsLatest', latest],
                ['LastModified', isoDate(v.lastModified)],
                ownerNode(v),
              ],
            ],
          ];
        }
        const [keyNode, ...rest] = objectFields(v, enc(e.key));
        return [['Version', [keyNode, ['VersionId', v.versionId], ['IsLatest', latest], ...rest, ownerNode(v)]]];
      }),
      ...commonPrefixNodes(page, enc),
    ],
  ]);
}
