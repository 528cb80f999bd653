import { defineConfig } from 'vitest/config';

/**
 * Three projects, run together by `vitest run` (`npm test`) or one at a time with
 * `--project` (`npm run test:unit`, `test:integration`, `test:e2e`):
 * - unit: pure functions, no servers, no dist/;
 * - integration: the real SDK clients against the local stack in-process, plus the security
 *   and deploy checks (some run the built bundles);
 * - e2e: the built CLI and function bundles as child processes and in the local runtime.
 * The projects that run bundles build dist/ once, in the global setup, before any file runs.
 */
const buildDist = './test/setup/build-dist.ts';

export default defineConfig({
  test: {
    // Integration tests start real loopback servers; two cores, so keep forks modest.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/security/**/*.test.ts', 'test/deploy/**/*.test.ts'],
          globalSetup: [buildDist],
        },
      },
      { extends: true, test: { name: 'e2e', include: ['test/e2e/**/*.test.ts'], globalSetup: [buildDist] } },
    ],
  },
});
