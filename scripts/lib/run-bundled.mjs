#!/usr/bin/env node
// Run a TypeScript entry point on Node: bundled by esbuild, as dist/node.js is, into a temporary
// file, then imported with the remaining arguments in process.argv.
//
//   node scripts/lib/run-bundled.mjs scripts/bench-engine.ts --rounds 9
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const [entry, ...rest] = process.argv.slice(2)
if (!entry) {
  console.error('usage: node scripts/lib/run-bundled.mjs ENTRY.ts [ARGS...]')
  process.exit(2)
}
const dir = mkdtempSync(join(tmpdir(), 'fulcrum-run-'))
const outfile = join(dir, 'entry.mjs')
await build({
  entryPoints: [resolve(entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
})
process.argv = [process.argv[0], outfile, ...rest]
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
await import(pathToFileURL(outfile).href)
