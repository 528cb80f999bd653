/**
 * Vitest global setup: builds dist/ (`node scripts/build.mjs`) once, before any test file runs,
 * for the test files that run the built CLI or the function bundles. Built here and nowhere else,
 * so no file can see a bundle another file is half-way through rewriting.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** Set in the vitest main process once built: a run of several projects builds once, not per project. */
const BUILT_MARK = 'OSS_SSE_TEST_DIST_BUILT';

export default function buildDistOnce(): void {
  if (process.env[BUILT_MARK] === '1') return;
  const root = join(__dirname, '..', '..');
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'pipe' });
  process.env[BUILT_MARK] = '1';
}
