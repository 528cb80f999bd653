/**
 * `oss-sse report` as a user runs it — the built CLI, against the local stack seeded with every
 * kind of bucket — and its page opened in headless Chromium (Debian's `chromium`, driven by
 * playwright-core): the page makes no request beyond its own file, both charts are drawn as
 * SVG with the expected series, the table lists every bucket and sorts, and names with
 * characters HTML acts on show as text. A screenshot is taken into the test's directory;
 * `UPDATE_REPORT_SCREENSHOT=1` (npm run report:screenshot) copies it to docs/report.png.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack } from '../../local/stack';
import { PostureReportSchema, type PostureReport } from '../../shared/report';
import { ODD_PREFIX, seedReportBuckets, SEED_BUCKETS, truthOf, type Seeded } from '../helpers/report-seed';

const root = join(__dirname, '..', '..');
const cliPath = join(root, 'dist', 'cli', 'oss-sse.js');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The flags the brief's CI runs Chromium with: nothing in the background may reach the network. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const credentials = { accessKeyId: 'LTAI5tReportPageKey', accessKeySecret: 'ReportPageSecretNeverPrinted0042' };

let stack: LocalStack;
let work: string;
let seeded: Seeded;
const outputs: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The built CLI with only our cloud and policy variables (none of the host's). */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(ALIBABA_CLOUD_|OSS_|KMS_|SSE_|COMPLIANCE|BUCKET_|KEY_EXCLUDE)/.test(k)));
  const child = spawn(process.execPath, [cliPath, 'report', ...args], {
    cwd: work,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...base,
      ALIBABA_CLOUD_ACCESS_KEY_ID: credentials.accessKeyId,
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: credentials.accessKeySecret,
      ALIBABA_CLOUD_REGION_ID: 'cn-hangzhou',
      OSS_ENDPOINT: stack.oss.url,
      KMS_ENDPOINT: stack.kms.url,
      ...env,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      outputs.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'oss-sse-report-'));
  stack = await startLocalStack({ region: 'cn-hangzhou', ...credentials, enforce: false });
  seeded = await seedReportBuckets(stack, credentials);
}, 120_000);
afterAll(async () => {
  await stack?.close();
  if (work) await rm(work, { recursive: true, force: true });
  for (const o of outputs) expect(o).not.toContain(credentials.accessKeySecret);
});

describe('the CLI', () => {
  let report: PostureReport;
  let run: Run;
  beforeAll(async () => {
    run = await cli(['--bucket', 'rpt-*', '--out', 'posture', '--json']);
    report = PostureReportSchema.parse(JSON.parse(run.stdout));
  }, 120_000);

  it('exits 3 when something falls short; --json prints report.json, which is the file written', () => {
    expect(run.code, run.stderr).toBe(3);
    expect(JSON.parse(readFileSync(join(work, 'posture', 'report.json'), 'utf8'))).toEqual(report);
    expect(report.buckets.map((b) => b.name).sort()).toEqual([...seeded.buckets].sort());
    const none = report.buckets.find((b) => b.name === SEED_BUCKETS.none);
    expect(none?.objects.plaintext).toBe(truthOf(stack, SEED_BUCKETS.none).plaintext);
  });

  it('report.md holds every bucket, and the odd key prefix escaped', () => {
    const md = readFileSync(join(work, 'posture', 'report.md'), 'utf8');
    for (const name of seeded.buckets) expect(md).toContain(name);
    expect(md).not.toContain('<script>');
    expect(md).toContain('\\<script\\>alert("x")\\</script\\>\\|\\*\\_\\[a\\](b)\\&amp;/');
  });

  it('exits 0 when every selected bucket satisfies the policy', async () => {
    const compliant = report.buckets.filter((b) => b.compliant).map((b) => b.name);
    expect(compliant.length).toBeGreaterThan(0);
    const r = await cli(['--bucket', compliant[0] as string, '--out', 'compliant']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 of 1 buckets satisfy the policy');
  });

  it('--previous: the change since an earlier report.json; a bad file is an error naming it', async () => {
    const previous: PostureReport = {
      ...report,
      generatedAt: '2026-11-01T00:00:00.000Z',
      buckets: report.buckets.filter((b) => b.name !== SEED_BUCKETS.sample),
    };
    writeFileSync(join(work, 'previous.json'), JSON.stringify(previous));
    const r = await cli(['--bucket', 'rpt-*', '--out', 'posture', '--previous', 'previous.json', '--json']);
    expect(r.code, r.stderr).toBe(3);
    const withChange = PostureReportSchema.parse(JSON.parse(r.stdout));
    expect(withChange.change).toMatchObject({ previousGeneratedAt: '2026-11-01T00:00:00.000Z', bucketsAdded: [SEED_BUCKETS.sample], bucketsRemoved: [] });

    writeFileSync(join(work, 'bad.json'), JSON.stringify({ ...report, buckets: 'none' }));
    const bad = await cli(['--previous', 'bad.json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--previous bad.json is not an oss-sse report.json');
    expect(bad.stderr).toContain('buckets');
    const notJson = await cli(['--previous', 'missing.json']);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toContain('--previous missing.json: cannot be read');
  }, 60_000);

  it('refuses --inventory with --sample, and --seed without --sample', async () => {
    const both = await cli(['--inventory', '--sample', '10']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--inventory and --sample cannot be used together');
    const seed = await cli(['--seed', '3']);
    expect(seed.code).toBe(2);
    expect(seed.stderr).toContain('--seed needs --sample');
  });
});

describe('the page in headless Chromium', () => {
  let context: BrowserContext;
  let page: Page;
  const requests: string[] = [];
  const dialogs: string[] = [];
  let fileUrl: string;
  let screenshot: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `${CHROMIUM} is missing: the page test needs Debian's chromium package (apt-get install -y chromium; .ci/run installs it), or CHROMIUM_PATH`,
      );
    }
    // An earlier state to compare with: no sample bucket yet, no rule on the KMS+SM4 bucket, more plaintext in the no-rule bucket.
    const posture = PostureReportSchema.parse(JSON.parse(readFileSync(join(work, 'posture', 'report.json'), 'utf8')));
    const earlier: PostureReport = {
      ...posture,
      generatedAt: '2026-11-02T09:00:00.000Z',
      buckets: posture.buckets
        .filter((b) => b.name !== SEED_BUCKETS.sample)
        .map((b) =>
          b.name === SEED_BUCKETS.kmsSm4
            ? { ...b, rule: { algorithm: null, kmsKeyId: null, dataEncryption: null, compliant: false, decision: 'missing' } }
            : b.name === SEED_BUCKETS.none
              ? { ...b, objects: { ...b.objects, plaintext: b.objects.plaintext + 5, plaintextBytes: b.objects.plaintextBytes + 4096 } }
              : b,
        ),
    };
    writeFileSync(join(work, 'earlier.json'), JSON.stringify(earlier));
    // --inventory: the inventory bucket is read from its report, the others are listed (each saying why).
    const r = await cli(['--bucket', 'rpt-*', '--inventory', '--out', 'page', '--previous', 'earlier.json']);
    expect(r.code, r.stderr).toBe(3);
    fileUrl = pathToFileURL(join(work, 'page', 'report.html')).href;
    context = await chromium.launchPersistentContext(await mkdtemp(join(work, 'chromium-profile-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1200, height: 900 },
    });
    context.on('request', (req) => void requests.push(req.url()));
    page = await context.newPage();
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(fileUrl, { waitUntil: 'load' });
    screenshot = join(work, 'report.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    if (process.env.UPDATE_REPORT_SCREENSHOT === '1') copyFileSync(screenshot, join(root, 'docs', 'report.png'));
  }, 120_000);
  afterAll(async () => {
    await context?.close();
  });

  it('loads with no request but its own file, and runs no script from the data', () => {
    expect(requests).toEqual([fileUrl]);
    expect(dialogs).toEqual([]);
  });

  it('draws both charts as SVG with the expected series', async () => {
    const share = page.locator('#chart-share svg');
    await expect(share.count()).resolves.toBe(1);
    const shareText = await share.textContent();
    for (const series of ['encrypted', 'plaintext', 'unknown']) expect(shareText).toContain(series);
    // One bar per bucket and series with a share above zero: at least one per bucket.
    expect(await page.locator('#chart-share svg path').count()).toBeGreaterThan(seeded.buckets.length);
    const algorithms = await page.locator('#chart-algorithms svg').textContent();
    for (const label of ['AES256', 'SM4', 'none (plaintext)', `KMS ${seeded.keyIds.dflt}`, `KMS ${seeded.keyIds.sm4} +SM4`, 'encrypted (algorithm not reported)']) {
      expect(algorithms).toContain(label);
    }
    const box = await page.locator('#chart-share svg').boundingBox();
    expect(box?.width).toBeGreaterThan(400);
  });

  it('the table lists every bucket and sorts by a column', async () => {
    const names = await page.locator('#buckets tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-bucket')));
    expect([...names].sort()).toEqual([...seeded.buckets].sort());
    await page.locator('#buckets th', { hasText: /^objects$/ }).click();
    const totals = await page.locator('#buckets tbody tr td:nth-child(5)').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-sort'))));
    expect(totals).toEqual([...totals].sort((a, b) => a - b));
    await page.locator('#buckets th', { hasText: /^objects/ }).click();
    const again = await page.locator('#buckets tbody tr td:nth-child(5)').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-sort'))));
    expect(again).toEqual([...totals].sort((a, b) => b - a));
  });

  it('shows the summary, the change since the previous report, and odd key prefixes as text', async () => {
    await expect(page.locator('[data-figure=buckets-compliant] b').textContent()).resolves.toMatch(/^\d+ of 8$/);
    const change = await page.locator('#change').textContent();
    // The sample bucket's plaintext came in, and 5 plaintext objects of the no-rule bucket went.
    expect(change).toContain(`Previous report: 2026-11-02T09:00:00.000Z. Plaintext objects +${truthOf(stack, SEED_BUCKETS.sample).plaintext - 5},`);
    expect(change).toContain(`Buckets added: ${SEED_BUCKETS.sample}; removed: none; rules changed: 1.`);
    // Only the buckets that changed are listed.
    await expect(page.locator('#change tbody tr').count()).resolves.toBe(3);
    await expect(page.locator('script').count()).resolves.toBe(1);
    const codes = await page.locator('details code').allTextContents();
    expect(codes).toContain(ODD_PREFIX);
    expect(existsSync(screenshot)).toBe(true);
  });
});
