// Shared by the bench and soak scripts: the project root, a flag reader, and the command line
// that runs fulcrum on each runtime (Deno with exactly the permissions of deno.json's start task).
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
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
      return ['node_modules/deno/deno', 'run', ...task.slice(task.indexOf('run') + 1), ...args]
    }
    default:
      throw new Error(`Unknown runtime ${runtime}: expected node, deno or bun`)
  }
}
