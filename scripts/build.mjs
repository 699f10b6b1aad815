// Bundle runtimes/node.ts into one self-contained ES module: dist/node.js.
import { build } from 'esbuild'

await build({
  entryPoints: ['runtimes/node.ts'],
  outfile: 'dist/node.js',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  // V8 keeps the whole source in the heap, two bytes per character once one comment has a
  // non-Latin-1 character (5.3 MB for 2.8 MB of source). Without whitespace and comments it is
  // 2.0 MB of one-byte text; names stay, for stack traces (the source map has the rest).
  minifyWhitespace: true,
  minifySyntax: true,
  // Some bundled CommonJS dependencies call require() for Node built-ins.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  logLevel: 'warning',
})
