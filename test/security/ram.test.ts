/**
 * Security: no RAM policy shipped in deploy/ram/ grants a wildcard action.
 *
 * test/deploy/ram-policies.test.ts already checks the three documents it knows by function
 * name (valid, no `*` action, no NotAction/unknown keys, current with the code). What it does
 * not cover: a document added to deploy/ram/ under another name. This sweeps the directory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { policyProblems } from '../../deploy/ram-policy';

const RAM_DIR = join(__dirname, '..', '..', 'deploy', 'ram');
const files = readdirSync(RAM_DIR).filter((f) => f.endsWith('.json'));

describe('deploy/ram/*.json', () => {
  it('the directory holds policies', () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });

  it.each(files)('%s: a valid policy naming no `*` action, even in a form the renderer never emits', (f) => {
    const doc = JSON.parse(readFileSync(join(RAM_DIR, f), 'utf8')) as unknown;
    expect(policyProblems(doc)).toEqual([]);
    const statements = (doc as { Statement: Array<Record<string, unknown>> }).Statement;
    for (const s of statements) {
      for (const field of ['Action', 'NotAction']) {
        const v = s[field];
        const actions = v === undefined ? [] : Array.isArray(v) ? v : [v];
        for (const a of actions) expect(String(a), `${f} ${field}`).not.toContain('*');
      }
      expect(s).not.toHaveProperty('NotAction');
    }
  });
});
