/** The report's pure parts: the sample's draw and interval, key prefixes, escaping, rule descriptions. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { escapeHtml, escapeMarkdown } from '../../shared/report/format';
import { describeRule } from '../../shared/report/gather';
import { Reservoir, shareInterval } from '../../shared/report/interval';
import { reportJsonSchema } from '../../shared/report/schema';
import { keyPrefixes } from '../../shared/report/tally';

describe('shareInterval (Wilson, 95%)', () => {
  it('matches the published Wilson interval', () => {
    // 30 of 100: Wilson 95% interval 0.2189–0.3958 (Newcombe 1998, method 3).
    const i = shareInterval(30, 100, 10_000);
    expect(i.estimate).toBe(0.3);
    expect(i.low).toBeCloseTo(0.2189, 4);
    expect(i.high).toBeCloseTo(0.3958, 4);
    expect(i.method).toBe('wilson');
  });

  it('is not degenerate at none or all drawn, stays in [0, 1], and is exact for the whole population', () => {
    const none = shareInterval(0, 50, 1000);
    expect(none.low).toBe(0);
    expect(none.high).toBeGreaterThan(0.05);
    const all = shareInterval(50, 50, 1000);
    expect(all.high).toBe(1);
    expect(all.low).toBeLessThan(0.95);
    expect(shareInterval(7, 20, 20)).toMatchObject({ estimate: 0.35, low: 0.35, high: 0.35, method: 'exact' });
    expect(shareInterval(0, 0, 0)).toMatchObject({ low: 0, high: 1 });
  });
});

describe('Reservoir', () => {
  it('keeps min(size, n) items, the same ones for the same seed, another set for another seed', () => {
    const draw = (seed: number) => {
      const r = new Reservoir<number>(10, seed);
      for (let i = 0; i < 1000; i++) r.offer(i);
      return r;
    };
    const a = draw(1);
    expect(a.items).toHaveLength(10);
    expect(new Set(a.items).size).toBe(10);
    expect(a.population).toBe(1000);
    expect(draw(1).items).toEqual(a.items);
    expect(draw(2).items).not.toEqual(a.items);
    const small = new Reservoir<number>(10, 1);
    [1, 2, 3].forEach((i) => small.offer(i));
    expect(small.items).toEqual([1, 2, 3]);
  });

  it('draws uniformly: every item is kept about size/n of the time', () => {
    const kept = new Array<number>(100).fill(0);
    for (let seed = 0; seed < 400; seed++) {
      const r = new Reservoir<number>(10, seed);
      for (let i = 0; i < 100; i++) r.offer(i);
      for (const i of r.items) kept[i] = (kept[i] ?? 0) + 1;
    }
    // 400 draws × 10/100: 40 expected per item; the first ten items (kept first) and the last alike.
    expect(Math.min(...kept)).toBeGreaterThan(15);
    expect(Math.max(...kept)).toBeLessThan(70);
    const firstTen = kept.slice(0, 10).reduce((a, b) => a + b, 0);
    const lastTen = kept.slice(90).reduce((a, b) => a + b, 0);
    expect(Math.abs(firstTen - lastTen)).toBeLessThan(120);
  });
});

describe('keyPrefixes', () => {
  it('gives the first and second "/" levels, "" at the root', () => {
    expect(keyPrefixes('a/b/c/d.txt')).toEqual(['a/', 'a/b/']);
    expect(keyPrefixes('a/b.txt')).toEqual(['a/']);
    expect(keyPrefixes('b.txt')).toEqual(['']);
    expect(keyPrefixes('/lead')).toEqual(['/']);
  });
});

describe('escaping', () => {
  it('HTML: markup, quotes and control characters become text', () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&`)).toBe('&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;');
    expect(escapeHtml('line\nbreak\u0000')).toBe('line\\u{a}break\\u{0}');
  });

  it('Markdown: nothing can open a link, code, emphasis or a tag, or end the table cell', () => {
    expect(escapeMarkdown('a|b*c_d`e[f](g)<h>&i~\\')).toBe('a\\|b\\*c\\_d\\`e\\[f\\](g)\\<h\\>\\&i\\~\\\\');
    expect(escapeMarkdown('x\ny')).toBe('x\\\\u{a}y');
  });
});

describe('describeRule', () => {
  it('names the algorithm, key and data encryption', () => {
    expect(describeRule({ algorithm: null, kmsKeyId: null, dataEncryption: null })).toBe('none');
    expect(describeRule({ algorithm: 'KMS', kmsKeyId: 'k1', dataEncryption: 'SM4' })).toBe('KMS/k1/SM4');
    expect(describeRule({ algorithm: 'AES256', kmsKeyId: null, dataEncryption: null })).toBe('AES256');
  });
});

describe('docs/report.schema.json', () => {
  it('is the JSON Schema generated from the zod schema (npx tsx scripts/report-schema.ts refreshes it)', () => {
    const onDisk = JSON.parse(readFileSync(join(__dirname, '..', '..', 'docs', 'report.schema.json'), 'utf8')) as unknown;
    expect(onDisk).toEqual(reportJsonSchema());
  });
});
