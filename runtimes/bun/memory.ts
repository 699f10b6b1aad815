/**
 * JavaScriptCore's heap bound for fulcrum on Bun.
 *
 * JSC sizes its heap from what a full collection leaves live (about 7 MB for fulcrum under load,
 * most of it code): the young generation may take twice that before an eden collection, and what
 * each eden collection keeps (the requests in flight) piles up in the old generation until it is
 * twice the young one, when a full collection runs. So the heap peaks at about seven times the
 * live set, and every MB kept live costs about 8 MB of peak RSS under load (measured: 2.7 MB more
 * live, 20.8–22.5 MB more peak in three runs). `heapGrowthMaxIncrease=1` lets the young generation
 * take once the live set, not twice: under `wrk -t1 -c64`, 8 s keep-alive then 8 s
 * `Connection: close`, peak RSS 117–124 MB became 97–99 MB, with no fewer req/s (same run).
 *
 * JSC reads its options from `BUN_JSC_*` variables as Bun starts, before any JavaScript (and
 * before `.env` files), so the process re-executes itself with the variable set: same PID, same
 * arguments and Bun flags, nothing loaded yet but this module. An unknown `BUN_JSC_*` variable
 * stops Bun at start, and Bun says these options may change between releases: the re-execution
 * happens only on the Bun versions the option was checked on. A variable already set (by the user,
 * or by the re-execution itself) is left as it is.
 */
import process from 'node:process'

/** The variable Bun reads JSC's `heapGrowthMaxIncrease` from. */
export const HEAP_GROWTH_VARIABLE = 'BUN_JSC_heapGrowthMaxIncrease'

/** Bun versions whose JSC has the option (checked on 1.4.5). */
const CHECKED_BUN = /^1\.4\./

/**
 * The environment to re-execute with, or `undefined` when the process runs as it should already
 * (the variable is set) or Bun's version was not checked.
 *
 * @example
 * ```ts
 * heapBoundEnvironment({ PATH: '/bin' }, '1.4.5') // { PATH: '/bin', BUN_JSC_heapGrowthMaxIncrease: '1' }
 * ```
 */
export function heapBoundEnvironment(
  env: Readonly<Record<string, string | undefined>>,
  bunVersion: string,
): Record<string, string> | undefined {
  if (env[HEAP_GROWTH_VARIABLE] !== undefined || !CHECKED_BUN.test(bunVersion)) return undefined
  const next: Record<string, string> = {}
  for (const [name, value] of Object.entries(env)) if (value !== undefined) next[name] = value
  next[HEAP_GROWTH_VARIABLE] = '1'
  return next
}

/** `process.execve` (Node 23.11, Bun 1.4): not in the typings this project builds with. */
type Execve = (file: string, args: string[], env: Record<string, string>) => never

/**
 * Re-execute this process with JSC's heap bound when {@link heapBoundEnvironment} says so; returns
 * only when it does not. Call it before anything else is loaded.
 */
export function boundBunHeap(bunVersion: string): void {
  const env = heapBoundEnvironment(process.env, bunVersion)
  const execve = (process as unknown as { execve?: Execve }).execve
  if (env === undefined || typeof execve !== 'function') return
  execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env)
}
