/** The local OSS server's on-disk mode: restarts keep everything; encrypted objects are ciphertext on disk. */
import { mkdtemp, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestOss, type TestOss } from '../helpers/oss';

async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

const open: TestOss[] = [];
afterAll(async () => {
  for (const t of open) await t.close().catch(() => undefined);
});

describe('disk storage', () => {
  it('survives a restart with buckets, objects, metadata, versions, tags and uploads intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-disk-'));
    const first = await startTestOss({ storage: { kind: 'disk', dir } });
    open.push(first);
    const c1 = first.client({ bucket: 'keep' });
    await c1.putBucket('keep');
    await c1.putBucketEncryption('keep', { SSEAlgorithm: 'AES256' });
    await c1.put('a/one.txt', Buffer.from('one'), { meta: { k: 'v' } as never, headers: { 'x-oss-tagging': 't=1' } });
    await c1.put('b/two.txt', Buffer.from('two'), { headers: { 'x-oss-server-side-encryption': 'SM4' } });
    const upload = await c1.initMultipartUpload('mp.bin');
    await first.close();

    const second = await startTestOss({ storage: { kind: 'disk', dir } });
    open.push(second);
    const c2 = second.client({ bucket: 'keep' });
    expect((await c2.getBucketEncryption('keep')).encryption).toEqual({ SSEAlgorithm: 'AES256' });
    expect((await c2.get('a/one.txt')).content.toString()).toBe('one');
    const h = (await c2.head('a/one.txt')).res.headers;
    expect(h['x-oss-meta-k']).toBe('v');
    expect(h['x-oss-tagging-count']).toBe('1');
    expect((await c2.get('b/two.txt')).content.toString()).toBe('two');
    expect((await c2.head('b/two.txt')).res.headers['x-oss-server-side-encryption']).toBe('SM4');
    expect((await c2.listParts('mp.bin', upload.uploadId)).parts).toEqual([]);
    await second.close();
  });

  it('keeps encrypted objects as ciphertext on disk and plaintext ones as plaintext', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-disk-'));
    const t = await startTestOss({ storage: { kind: 'disk', dir } });
    open.push(t);
    const c = t.client({ bucket: 'cipher' });
    await c.putBucket('cipher');
    const secret = Buffer.from('TOP-SECRET-PAYLOAD-'.repeat(100));
    const visible = Buffer.from('VISIBLE-PLAINTEXT-'.repeat(100));
    await c.put('secret', secret, { headers: { 'x-oss-server-side-encryption': 'AES256' } });
    await c.put('visible', visible);
    const contents = await Promise.all((await allFiles(dir)).map((f) => readFile(f)));
    expect(contents.some((b) => b.includes('TOP-SECRET-PAYLOAD-'))).toBe(false);
    expect(contents.some((b) => b.includes('VISIBLE-PLAINTEXT-'))).toBe(true);
    expect((await c.get('secret')).content.equals(secret)).toBe(true);
    await t.close();
  });

  it('drops what a crash left half-written: temp files and blobs no object points to', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oss-sse-disk-'));
    const t = await startTestOss({ storage: { kind: 'disk', dir } });
    open.push(t);
    const c = t.client({ bucket: 'crash' });
    await c.putBucket('crash');
    await c.put('k', Buffer.from('committed'));
    await t.close();
    // Simulate a crash mid-write: a torn temp blob, an orphan blob, a torn metadata temp file.
    await writeFile(join(dir, 'blobs', '.tmp', 'torn'), 'half');
    await mkdir(join(dir, 'blobs', 'ff'), { recursive: true });
    await writeFile(join(dir, 'blobs', 'ff', 'ff00orphan'), 'orphan');
    const objectsDir = join(dir, 'meta', 'buckets', 'crash', 'objects');
    await writeFile(join(objectsDir, 'x.json.123.tmp'), '{"torn":');
    const again = await startTestOss({ storage: { kind: 'disk', dir } });
    open.push(again);
    expect((await again.client({ bucket: 'crash' }).get('k')).content.toString()).toBe('committed');
    const files = await allFiles(dir);
    expect(files.some((f) => f.endsWith('torn') || f.endsWith('ff00orphan') || f.endsWith('.tmp'))).toBe(false);
    await again.close();
  });
});
