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
  // urllib's optional proxy support: a shim that fails clearly (see the file) instead of an unresolved require.
  alias: { 'proxy-agent': './scripts/shims/proxy-agent.cjs' },
};

const entries = [{ in: 'cli/oss-sse.ts', out: 'dist/cli/oss-sse.js', banner: '#!/usr/bin/env node' }];
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
