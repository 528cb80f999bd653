/**
 * The mutation test of the functions' RAM policies: for every action of every generated policy,
 * run the scenarios with that one action taken out of that one function's policy, and expect
 * a scenario to fail with the local stack refusing that action (AccessDenied). An action no
 * scenario needs is either missing a scenario or not needed at all: both are reported.
 *
 *   npm run ram:mutation                       every function × action (about half an hour on 2 busy cores)
 *   npm run ram:mutation -- --only backfill:oss:ListObjects[,…]
 *
 * How: the local stack reads OSS_SSE_RAM_WITHOUT (`<function>:<action>`) when it builds the
 * functions' policies and appends every refusal to the file OSS_SSE_RAM_DENIALS names
 * (local/stack.ts); this script runs the e2e scenarios (vitest, --bail 1) once per mutation and
 * reads both the failed tests and the refusals. Prints a markdown table (docs/ram.md keeps the
 * last one); exits 1 when a run without mutation fails or an action is not proven needed.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FUNCTION_KEYS, FUNCTIONS, type FunctionKey } from '../deploy/ram-policy';
import { localFunctionPolicies } from '../local/ram/function-policies';
import type { RamDenial } from '../local/ram/authority';

const ROOT = join(__dirname, '..');
const ACCOUNT = '1234567890123456';
const REGION = 'cn-hangzhou';

/** The configurations the scenarios run the functions with: their policies' union is what must be proven. */
const CONFIGS: ReadonlyArray<Record<string, string>> = [
  { STATE_BUCKET: 'oss-sse-state' },
  {
    STATE_BUCKET: 'oss-sse-state',
    SSE_ALGORITHM: 'KMS',
    KMS_KEY_ID: 'alias/oss-sse-default',
    COMPLIANCE: 'exact',
    DELETE_PLAINTEXT_VERSIONS: 'true',
  },
];

/**
 * The scenario file: every function's e2e scenarios, including the ones written to reach each
 * action (versions, ListBuckets, aborts, SSE-KMS, the backfill's fan-out). test/e2e/backfill.test.ts
 * (3,000 objects, 3 s timeouts) proves the same actions more slowly and is sensitive to load.
 */
const SCENARIO_FILE = 'test/e2e/functions.test.ts';

/**
 * Per function, the scenarios (vitest -t, on describe + test names) in which it runs: the
 * others cannot fail for an action removed from its policy, so they are not run.
 */
const SCENARIOS: Record<FunctionKey, string> = {
  'object-encryption': 'object-encryption|KMS and an alias|logs',
  'bucket-encryption': 'bucket-encryption',
  backfill: 'backfill',
};

interface Mutation {
  fn: FunctionKey;
  action: string;
}

interface Outcome extends Mutation {
  /** The first failed scenario, when one failed. */
  failed?: string;
  /** Whether the stack refused exactly this action to this function's role. */
  denied: boolean;
  seconds: number;
}

function allMutations(): Mutation[] {
  const out: Mutation[] = [];
  for (const fn of FUNCTION_KEYS) {
    const actions = new Set<string>();
    for (const env of CONFIGS) {
      const policy = localFunctionPolicies({ env, accountId: ACCOUNT, region: REGION })[fn];
      for (const s of policy.Statement) for (const a of s.Action) actions.add(a);
    }
    for (const action of [...actions].sort()) out.push({ fn, action });
  }
  return out;
}

interface VitestJson {
  testResults: Array<{ assertionResults: Array<{ fullName: string; status: string }> }>;
}

/** One vitest run of the scenarios; resolves with the failed tests and the refusals the stacks recorded. */
async function runScenarios(
  testNames: string | undefined,
  mutation: Mutation | undefined,
): Promise<{ failed: string[]; denials: RamDenial[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'oss-sse-ram-mutation-'));
  const report = join(dir, 'report.json');
  const denialsFile = join(dir, 'denials.ndjson');
  try {
    const env = {
      ...process.env,
      OSS_SSE_TEST_DIST_BUILT: '1', // built once by this script
      OSS_SSE_RAM_DENIALS: denialsFile,
      ...(mutation ? { OSS_SSE_RAM_WITHOUT: `${mutation.fn}:${mutation.action}` } : {}),
    };
    const args = [
      'vitest',
      'run',
      SCENARIO_FILE,
      ...(testNames ? ['-t', testNames] : []),
      '--bail',
      '1',
      '--reporter',
      'json',
      '--outputFile',
      report,
    ];
    await new Promise<void>((resolve) => {
      const child = spawn('npx', args, { cwd: ROOT, env, stdio: 'ignore' });
      child.on('exit', () => resolve());
    });
    const json = existsSync(report) ? (JSON.parse(readFileSync(report, 'utf8')) as VitestJson) : { testResults: [] };
    const failed = json.testResults.flatMap((f) => f.assertionResults.filter((t) => t.status === 'failed').map((t) => t.fullName));
    const denials = existsSync(denialsFile)
      ? readFileSync(denialsFile, 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as RamDenial)
      : [];
    return { failed, denials };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function parseOnly(args: string[]): Mutation[] | undefined {
  const i = args.indexOf('--only');
  if (i < 0) return undefined;
  return (args[i + 1] ?? '').split(',').map((entry) => {
    const sep = entry.indexOf(':');
    const fn = entry.slice(0, sep) as FunctionKey;
    if (sep < 0 || !FUNCTION_KEYS.includes(fn)) throw new Error(`--only: "${entry}" is not <function>:<action>`);
    return { fn, action: entry.slice(sep + 1) };
  });
}

function verdict(o: Outcome): string {
  if (o.failed && o.denied) return 'needed';
  if (o.failed) return 'FAILED WITHOUT A REFUSAL OF IT (flaky?)';
  return 'NOT PROVEN: no scenario needs it';
}

async function main(args: string[]): Promise<number> {
  const mutations = parseOnly(args) ?? allMutations();
  process.stderr.write('building dist/ once …\n');
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'ignore' });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`build failed (${code})`))));
  });
  process.stderr.write(`control run (no mutation): ${SCENARIO_FILE} …\n`);
  const control = await runScenarios(undefined, undefined);
  if (control.failed.length > 0 || control.denials.length > 0) {
    process.stderr.write(
      `the scenarios fail without any mutation; fix that first:\n  ${[...control.failed, ...control.denials.map((d) => JSON.stringify(d))].join('\n  ')}\n`,
    );
    return 1;
  }
  const outcomes: Outcome[] = [];
  for (const [i, m] of mutations.entries()) {
    const started = Date.now();
    const { failed, denials } = await runScenarios(SCENARIOS[m.fn], m);
    const denied = denials.some((d) => d.action === m.action && d.principal.name === FUNCTIONS[m.fn]);
    const outcome: Outcome = {
      ...m,
      denied,
      seconds: Math.round((Date.now() - started) / 1000),
      ...(failed[0] ? { failed: failed[0] } : {}),
    };
    outcomes.push(outcome);
    process.stderr.write(`[${i + 1}/${mutations.length}] ${m.fn} without ${m.action}: ${verdict(outcome)} (${outcome.seconds} s)\n`);
  }
  const lines = [
    '| function | action removed | result | first scenario that failed |',
    '| --- | --- | --- | --- |',
    ...outcomes.map((o) => `| ${FUNCTIONS[o.fn]} | \`${o.action}\` | ${verdict(o)} | ${o.failed ?? '—'} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return outcomes.every((o) => o.failed && o.denied) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
