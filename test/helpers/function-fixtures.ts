/** The small handlers in test/fixtures/functions, bundled for the local FC runtime. */
import { build } from 'esbuild';

export const FUNCTION_FIXTURES = ['echo', 'flaky', 'config-check', 'slow'] as const;
export type FunctionFixture = (typeof FUNCTION_FIXTURES)[number];

/** Bundles each fixture to `<outdir>/<name>/index.js`, the way scripts/build.mjs bundles the real functions: CommonJS for node20. */
export async function bundleFunctionFixtures(outdir: string): Promise<void> {
  await build({
    entryPoints: Object.fromEntries(FUNCTION_FIXTURES.map((f) => [`${f}/index`, `test/fixtures/functions/${f}.ts`])),
    outdir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
}
