/**
 * Writes (or checks) the RAM policy document of each function: deploy/ram/<functionName>.json.
 *
 *   npx tsx deploy/render-ram-policies.ts            write deploy/ram/*.json: s.yaml as committed,
 *                                                    `${env(...)}` at their defaults, any account and region (`*`)
 *   npx tsx deploy/render-ram-policies.ts --check    exit 1 if deploy/ram/*.json is stale
 *   npx tsx deploy/render-ram-policies.ts --out DIR [--account-id 1234…]
 *                                                    your deployment: s.yaml rendered with this shell's
 *                                                    environment, as `s deploy` would, ARNs pinned to the
 *                                                    account (and then to vars.region)
 *
 * Run it after changing the code, vars.environment or the object function's triggers; the
 * tests fail while deploy/ram/*.json is stale.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildPolicy, FUNCTION_KEYS, policyJson, type DeploySettings, type FunctionKey, type RamPolicy, usesByFile } from './ram-policy';
import { settingsFromSYaml } from './ram-settings';
import { reachableOps, type OpUse } from './reachable-ops';
import { loadSYaml, renderSYaml, REPO_ROOT } from './s-yaml';

export const RAM_DIR = join(REPO_ROOT, 'deploy', 'ram');
/**
 * What each function's code can call (deploy/reachable-ops.ts), written beside the policies:
 * the local stack builds each function's policy from it for its own account, region and
 * configuration (local/ram/function-policies.ts) without the TypeScript analysis.
 */
export const REACHABLE_OPS_FILE = join(REPO_ROOT, 'deploy', 'reachable-ops.json');

/** deploy/reachable-ops.json's text for these uses. */
export function reachableOpsJson(uses: Record<FunctionKey, OpUse[]>): string {
  const out = {} as Record<FunctionKey, OpUse[]>;
  for (const fn of FUNCTION_KEYS) out[fn] = usesByFile(uses[fn]);
  return `${JSON.stringify(out, null, 2)}\n`;
}

export interface RenderedPolicies {
  settings: DeploySettings;
  uses: Record<FunctionKey, OpUse[]>;
  policies: Record<FunctionKey, RamPolicy>;
}

/** Every function's policy for s.yaml rendered with `env`, ARNs in `accountId` (`*`: any). */
export async function renderPolicies(env: Readonly<Record<string, string | undefined>>, accountId = '*'): Promise<RenderedPolicies> {
  const rendered = renderSYaml(loadSYaml(), { env, config: { AccountID: accountId } });
  const settings = settingsFromSYaml(rendered, accountId);
  const uses = {} as Record<FunctionKey, OpUse[]>;
  const policies = {} as Record<FunctionKey, RamPolicy>;
  for (const fn of FUNCTION_KEYS) {
    uses[fn] = await reachableOps(join('functions', fn));
    policies[fn] = buildPolicy(fn, uses[fn], settings);
  }
  return { settings, uses, policies };
}

function argValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  if (v === undefined || v.startsWith('--')) throw new Error(`${name} needs a value`);
  return v;
}

async function main(args: string[]): Promise<number> {
  const accountId = argValue(args, '--account-id') ?? '*';
  const outArg = argValue(args, '--out');
  const check = args.includes('--check');
  if (outArg === undefined && accountId !== '*') throw new Error('--account-id needs --out: deploy/ram/ holds the generic documents');
  const out = resolve(outArg ?? RAM_DIR);
  // deploy/ram/ is the canonical rendering (defaults); --out renders this shell's deployment.
  const { settings, policies, uses } = await renderPolicies(outArg === undefined ? {} : process.env, accountId);
  let stale = 0;
  if (!check) mkdirSync(out, { recursive: true });
  const files = FUNCTION_KEYS.map((fn) => ({ file: join(out, `${settings.functionNames[fn]}.json`), text: policyJson(policies[fn]) }));
  // The call graph does not depend on the account or configuration: only the canonical run writes it.
  if (outArg === undefined) files.push({ file: REACHABLE_OPS_FILE, text: reachableOpsJson(uses) });
  for (const { file, text } of files) {
    if (check) {
      if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
        console.error(`stale: ${file} (run npx tsx deploy/render-ram-policies.ts)`);
        stale++;
      }
    } else {
      writeFileSync(file, text);
      console.error(`wrote ${file}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] !== undefined && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(2);
    },
  );
}
