// Bundles the CLI and the functions into self-contained CommonJS files, then prints a size
// report (bytes per bundle and per source map) on stderr.
//
// `node scripts/build.mjs` builds. Importing this file builds nothing: it exports the esbuild
// options and the entry list so other tools (deploy/reachable-ops.ts) bundle exactly the same way.
import { build } from 'esbuild';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

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
        entries.push({ in: `functions/${name}/index.ts`, out: `dist/functions/${name}/index.js` });
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

async function main() {
  const entries = bundleEntries();
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
  console.error(sizeReport(entries));
}

// Run as a script (symlinks resolved on both sides: node reports the main module by its real path).
if (process.argv[1] !== undefined && realpathSync(resolve(process.argv[1])) === realpathSync(fileURLToPath(import.meta.url))) {
  await main();
}
