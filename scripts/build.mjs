// Bundles the CLI and the functions into self-contained CommonJS files, then prints a size
// report (bytes per bundle and per source map) on stderr.
//
// `node scripts/build.mjs` builds. Importing this file builds nothing: it exports the esbuild
// options and the entry list so other tools (deploy/reachable-ops.ts) bundle exactly the same way.
import { build } from 'esbuild';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * SDKs the code loads on first use only (`import()`): in a function's code directory each
 * ships as its own file in `sdk/` beside index.js, so a cold start does not even parse it (the
 * object function needs KMS only under SSE-KMS; the backfill needs FC only to continue
 * itself). The CLI stays one file.
 */
export const LAZY_SDKS = { '@alicloud/kms20160120': 'kms20160120.js', '@alicloud/fc2': 'fc2.js' };

const lazySdks = {
  name: 'lazy-sdks',
  setup(b) {
    b.onResolve({ filter: /^@alicloud\/(kms20160120|fc2)$/ }, (args) =>
      // A static import stays bundled: only import() can wait for a file that is not loaded yet.
      args.kind === 'dynamic-import' ? { path: `./sdk/${LAZY_SDKS[args.path]}`, external: true } : undefined,
    );
  },
};

export const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  // urllib's optional proxy support: a shim that fails clearly (see the file) instead of an unresolved require.
  alias: { 'proxy-agent': './scripts/shims/proxy-agent.cjs' },
};

/** The bundles `npm run build` writes: the CLI, then one per functions/<name>/index.ts. */
export function bundleEntries() {
  const entries = [{ in: 'cli/oss-sse.ts', out: 'dist/cli/oss-sse.js', banner: '#!/usr/bin/env node' }];
  if (existsSync('functions')) {
    for (const name of readdirSync('functions').sort()) {
      if (existsSync(`functions/${name}/index.ts`)) {
        entries.push({ in: `functions/${name}/index.ts`, out: `dist/functions/${name}/index.js`, lazySdks: true });
      }
    }
  }
  return entries;
}

/** One line per bundle: path, bytes, KiB, and the source map's bytes. */
export function sizeReport(entries) {
  const rows = entries.map((e) => {
    const bytes = statSync(e.out).size;
    const map = existsSync(`${e.out}.map`) ? statSync(`${e.out}.map`).size : 0;
    return { out: e.out, bytes, map };
  });
  const width = Math.max(...rows.map((r) => r.out.length), 'bundle'.length);
  const lines = [`${'bundle'.padEnd(width)}  ${'bytes'.padStart(10)}  ${'KiB'.padStart(8)}  ${'map bytes'.padStart(10)}`];
  for (const r of rows) {
    lines.push(
      `${r.out.padEnd(width)}  ${String(r.bytes).padStart(10)}  ${(r.bytes / 1024).toFixed(1).padStart(8)}  ${String(r.map).padStart(10)}`,
    );
  }
  return lines.join('\n');
}

/** Builds each bundle, then the lazily loaded SDK files each one imports (see LAZY_SDKS). */
async function main() {
  const entries = bundleEntries();
  const sdkFiles = [];
  for (const e of entries) {
    const result = await build({
      ...common,
      entryPoints: [e.in],
      outfile: e.out,
      banner: e.banner ? { js: e.banner } : undefined,
      plugins: e.lazySdks ? [lazySdks] : [],
      metafile: true,
    });
    const imported = new Set(Object.values(result.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)));
    for (const [pkg, file] of Object.entries(LAZY_SDKS)) {
      if (!imported.has(`./sdk/${file}`)) continue;
      const out = join(dirname(e.out), 'sdk', file);
      await build({
        ...common,
        stdin: { contents: `module.exports = require(${JSON.stringify(pkg)});`, resolveDir: process.cwd() },
        outfile: out,
      });
      sdkFiles.push({ out });
    }
  }
  console.error(`built ${entries.map((e) => e.out).join(', ')}`);
  console.error(sizeReport([...entries, ...sdkFiles]));
}

// Run as a script (symlinks resolved on both sides: node reports the main module by its real path).
if (process.argv[1] !== undefined && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url))) {
  await main();
}
