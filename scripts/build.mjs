// Bundles the CLI (and, once they exist, the functions) into self-contained CommonJS files.
import { build } from 'esbuild';
import { existsSync, readdirSync } from 'node:fs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
};

// The CLI's demo uses ali-oss as a user would; its HTTP library requires `proxy-agent` only
// when a proxy is configured, which the CLI never does. The function bundles do not contain ali-oss.
const cliExternal = ['proxy-agent'];

const entries = [{ in: 'cli/oss-sse.ts', out: 'dist/cli/oss-sse.js', banner: '#!/usr/bin/env node', external: cliExternal }];
if (existsSync('functions')) {
  for (const name of readdirSync('functions')) {
    if (existsSync(`functions/${name}/index.ts`)) {
      entries.push({ in: `functions/${name}/index.ts`, out: `dist/functions/${name}/index.js` });
    }
  }
}

for (const e of entries) {
  await build({
    ...common,
    entryPoints: [e.in],
    outfile: e.out,
    banner: e.banner ? { js: e.banner } : undefined,
    external: e.external ?? [],
  });
}
console.error(`built ${entries.map((e) => e.out).join(', ')}`);
