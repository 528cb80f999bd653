/**
 * The `npm start` demo: each function at work on the local stack, arranged so every effect
 * is visibly caused by the function that owns it (not by a bucket default), then a
 * before/after table of each object's encryption, ETag and metadata.
 */
import OSS from 'ali-oss';
import type { LocalStack } from './stack';

interface Row {
  key: string;
  sseBefore: string;
  sseAfter: string;
  etagBefore: string;
  etagAfter: string;
  metaAfter: string;
  tagsAfter: string;
}

type Headers = Record<string, string | undefined>;
const sse = (h: Headers): string =>
  [h['x-oss-server-side-encryption'] ?? 'none', h['x-oss-server-side-encryption-key-id'], h['x-oss-server-side-data-encryption']]
    .filter(Boolean)
    .join('/');

async function rule(client: OSS, bucket: string): Promise<string> {
  try {
    // @types/ali-oss lacks the bucket-encryption methods. See docs/oss-behaviour.md#ali-oss-quirks.
    const res = (
      await (client as unknown as { getBucketEncryption(b: string): Promise<{ encryption: Record<string, string> }> }).getBucketEncryption(
        bucket,
      )
    ).encryption;
    return [res.SSEAlgorithm, res.KMSMasterKeyID, res.KMSDataEncryption].filter(Boolean).join('/');
  } catch (e) {
    return (e as { code?: string }).code === 'NoSuchServerSideEncryptionRule' ? 'none' : `error: ${(e as Error).message}`;
  }
}

function table(rows: Row[]): string {
  const cols: Array<[keyof Row, string]> = [
    ['key', 'object'],
    ['sseBefore', 'SSE before'],
    ['sseAfter', 'SSE after'],
    ['etagBefore', 'ETag before'],
    ['etagAfter', 'ETag after'],
    ['metaAfter', 'metadata after'],
    ['tagsAfter', 'tags after'],
  ];
  const width = cols.map(([k, title]) => Math.max(title.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i] ?? 0)).join('  ');
  return [line(cols.map(([, t]) => t)), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map(([k]) => r[k])))].join(
    '\n',
  );
}

export async function runDemo(stack: LocalStack, say: (line: string) => void): Promise<void> {
  const ready = JSON.parse(stack.readyLine()) as {
    oss: string;
    fc?: string;
    region: string;
    accountId: string;
    accessKeyId: string;
    accessKeySecret: string;
  };
  const client = (bucket?: string) =>
    new OSS({
      endpoint: ready.oss,
      region: `oss-${ready.region}`,
      accessKeyId: ready.accessKeyId,
      accessKeySecret: ready.accessKeySecret,
      ...(bucket ? { bucket } : {}),
    });
  const suffix = Date.now().toString(36);

  say('\n== 1. Objects uploaded in plaintext are re-encrypted in place by the object function');
  // This bucket stands for one created before oss-sse was deployed: no default rule, so
  // whatever encrypts its objects below is the object function.
  stack.triggers.bucket = false;
  const legacy = `legacy-${suffix}`;
  await client().putBucket(legacy);
  stack.triggers.bucket = true;
  say(`bucket ${legacy}: default encryption ${await rule(client(), legacy)}`);
  const c = client(legacy);
  const uploads: Array<{ key: string; body: string; meta: Record<string, string>; tags: string }> = [
    { key: 'reports/q3.csv', body: 'region,revenue\neast,100\n', meta: { owner: 'finance' }, tags: 'class=confidential' },
    { key: 'photos/cat 1.jpg', body: 'not really a jpeg', meta: { camera: 'x100' }, tags: 'team=design&year=2026' },
    { key: 'notes/todo.txt', body: 'encrypt everything', meta: {}, tags: '' },
  ];
  const rows: Row[] = [];
  for (const u of uploads) {
    const put = await c.put(u.key, Buffer.from(u.body), { meta: u.meta as never, headers: u.tags ? { 'x-oss-tagging': u.tags } : {} });
    const h = put.res.headers as Headers;
    rows.push({ key: u.key, sseBefore: sse(h), etagBefore: h.etag ?? '', sseAfter: '', etagAfter: '', metaAfter: '', tagsAfter: '' });
  }
  await stack.idle();
  for (const row of rows) {
    const h = (await c.head(row.key)).res.headers as Headers;
    const tags = (
      await (c as unknown as { getObjectTagging(k: string): Promise<{ tag: Record<string, string> }> }).getObjectTagging(row.key)
    ).tag;
    row.sseAfter = sse(h);
    row.etagAfter = h.etag ?? '';
    row.metaAfter =
      Object.entries(h)
        .filter(([k]) => k.startsWith('x-oss-meta-'))
        .map(([k, v]) => `${k.slice(11)}=${v}`)
        .join(',') || '-';
    row.tagsAfter =
      Object.entries(tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-';
  }
  say(table(rows));

  say('\n== 2. A new bucket gets its default encryption from the bucket function');
  const fresh = `new-${suffix}`;
  await client().putBucket(fresh);
  await stack.idle();
  say(`bucket ${fresh}: default encryption ${await rule(client(), fresh)}`);

  say('\n== 3. A deleted rule is restored by the bucket function (drift)');
  await (client() as unknown as { deleteBucketEncryption(b: string): Promise<unknown> }).deleteBucketEncryption(fresh);
  say(`someone deleted the rule of ${fresh}`);
  await stack.idle();
  say(`bucket ${fresh}: default encryption ${await rule(client(), fresh)}`);

  const failures = stack.runtime?.failures() ?? [];
  if (failures.length > 0)
    say(`\n${failures.length} function invocation(s) failed: ${failures.map((f) => f.error.errorMessage).join('; ')}`);
  say(
    `\nThe stack keeps serving OSS at ${ready.oss}` +
      (ready.fc === undefined ? '' : ` and FC at ${ready.fc} (account id ${ready.accountId})`) +
      ` with access key ${ready.accessKeyId}, secret ${ready.accessKeySecret}; press Ctrl-C to stop.` +
      ' The README\'s "The local stack" section shows how to invoke the backfill against it.',
  );
}
