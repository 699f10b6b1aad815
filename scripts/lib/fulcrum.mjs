// Shared by the build, bench and soak scripts: the project root, a flag reader, the command line
// that runs fulcrum on each runtime (Deno with exactly the permissions of deno.json's start task),
// and the Node bundle as `npm run build` makes it, also with some files as at a git revision.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** `flag('--rounds', 2)`: the value after a flag in the process's arguments, or the fallback. */
export function flag(name, fallback) {
  const args = process.argv.slice(2)
  const at = args.indexOf(name)
  return at === -1 ? fallback : args[at + 1]
}

/** The command (relative to ROOT) that runs fulcrum on `runtime` with `args`. */
export function fulcrumCommand(runtime, args) {
  switch (runtime) {
    case 'node':
      return [process.execPath, 'dist/node.js', ...args]
    case 'bun':
      return ['node_modules/.bin/bun', 'run', 'runtimes/bun.ts', ...args]
    case 'deno': {
      const task = JSON.parse(readFileSync(join(ROOT, 'deno.json'), 'utf8')).tasks.start.split(
        /\s+/,
      )
      const run = ['node_modules/deno/deno', 'run', ...task.slice(task.indexOf('run') + 1), ...args]
      // The task's `NAME=value` environment (MALLOC_ARENA_MAX) too, through env(1), which execs
      // Deno in its place.
      let first = 0
      while (/^[A-Z_][A-Z0-9_]*=/.test(task[first] ?? '')) first++
      return first > 0 ? ['env', ...task.slice(0, first), ...run] : run
    }
    default:
      throw new Error(`Unknown runtime ${runtime}: expected node, deno or bun`)
  }
}

/**
 * Bundle runtimes/node.ts into one self-contained ES module at `outfile` (dist/node.js for
 * `npm run build`); `plugins` are esbuild's (e.g. {@link atRevision}).
 */
export async function buildNode(outfile, { plugins = [], sourcemap = false } = {}) {
  const { build } = await import('esbuild')
  await build({
    entryPoints: [join(ROOT, 'runtimes/node.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap,
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
    plugins: [tlsThroughRequire, ...plugins],
  })
  return outfile
}

/**
 * An esbuild plugin: `node:tls` through the banner's `require()`, not an ES module import. Node
 * builds a built-in's ES module namespace by reading every export, and `tls.rootCertificates` is
 * a getter that then turns the ~140 bundled root certificates into JavaScript strings, kept for
 * the life of the process (0.2 MB of heap that nothing here reads).
 */
const tlsThroughRequire = {
  name: 'tls-through-require',
  setup(build) {
    build.onResolve({ filter: /^node:tls$/ }, (args) =>
      // The module below's own require() stays the external built-in.
      args.kind === 'require-call' ? undefined : { path: args.path, namespace: 'require' },
    )
    build.onLoad({ filter: /.*/, namespace: 'require' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)})`,
      loader: 'js',
    }))
  },
}

/**
 * An esbuild plugin: the files whose path matches `filter` as they are at git revision `rev`
 * (for a same-run A/B of the working tree against HEAD).
 */
export const atRevision = (rev, filter) => ({
  name: 'at-revision',
  setup(build) {
    build.onLoad({ filter }, (file) => {
      const path = relative(ROOT, file.path).split(sep).join('/')
      const shown = spawnSync('git', ['show', `${rev}:${path}`], { cwd: ROOT, encoding: 'utf8' })
      if (shown.status !== 0) throw new Error(`git show ${rev}:${path}: ${shown.stderr}`)
      return { contents: shown.stdout, loader: 'ts' }
    })
  },
})
