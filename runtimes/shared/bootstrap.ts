/**
 * Start-up shared by the three entry points: the command line, the config file, TLS material and
 * the exit codes. It uses only `node:` modules that Node, Deno and Bun all provide.
 */
import { watch } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import process from 'node:process'
import { loadConfig, parseArgs, USAGE, VERSION } from '../../src/cli.ts'
import { ConfigError, type Config } from '../../src/config.ts'

/** Exit status for a bad flag or config, as in BSD sysexits' usage error. */
export const EXIT_USAGE = 2

/** Read a UTF-8 file. */
export const readTextFile = (path: string): Promise<string> => readFile(path, 'utf8')

/**
 * Parse the command line and the config file. Prints `--help`/`--version` and exits 0; prints a
 * bad flag or config as `fulcrum: field: reason` and exits 2, with no stack trace.
 */
export async function configure(argv: readonly string[]): Promise<Config> {
  try {
    const command = parseArgs(argv)
    if (command.kind === 'help') exit(0, USAGE)
    if (command.kind === 'version') exit(0, VERSION)
    return await loadConfig(command, readTextFile, process.env)
  } catch (error) {
    if (error instanceof ConfigError) {
      const lines = error.message.split('\n').map((line) => `fulcrum: ${line}`)
      exit(EXIT_USAGE, undefined, lines.join('\n'))
    }
    throw error
  }
}

/**
 * Parse the command line and read the config file again, for a reload. Nothing exits here.
 *
 * @throws {ConfigError} naming the file or field that is wrong
 */
export async function reconfigure(argv: readonly string[]): Promise<Config> {
  const command = parseArgs(argv)
  if (command.kind !== 'run') throw new ConfigError('Nothing to reload')
  return loadConfig(command, readTextFile, process.env)
}

/** The config file the command line names, if any. */
export function configFileOf(argv: readonly string[]): string | undefined {
  try {
    const command = parseArgs(argv)
    return command.kind === 'run' ? command.configFile : undefined
  } catch {
    return undefined
  }
}

/**
 * Call `reload` on SIGHUP (the convention of nginx, HAProxy and most daemons), and, with
 * `watchFile`, whenever that file changes. Changes are debounced, and reloads never overlap:
 * one that arrives during a reload runs after it.
 */
export function onReload(
  reload: (trigger: string) => Promise<void>,
  watchFile: string | undefined,
  log: (msg: string, fields: Record<string, unknown>) => void,
): void {
  let running: Promise<void> | undefined
  let again: string | undefined
  const run = (trigger: string) => {
    if (running) {
      again = trigger
      return
    }
    running = reload(trigger).finally(() => {
      running = undefined
      if (again !== undefined) {
        const next = again
        again = undefined
        run(next)
      }
    })
  }
  process.on('SIGHUP', () => run('SIGHUP'))
  if (watchFile === undefined) return
  // The directory is watched, not the file: editors and config tools replace files by renaming.
  const name = basename(watchFile)
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    watch(dirname(watchFile), (_event, changed) => {
      if (changed !== null && changed.toString() !== name) return
      clearTimeout(timer)
      timer = setTimeout(() => run('file change'), 100)
    }).on('error', (error) => log('cannot watch the config file', { error: String(error) }))
  } catch (error) {
    log('cannot watch the config file', { path: watchFile, error: String(error) })
  }
}

/** Print a configuration error (`field: reason`) and exit 2. */
export function usageError(message: string): never {
  exit(EXIT_USAGE, undefined, `fulcrum: ${message}`)
}

/** Print a fatal startup error (a missing certificate, a port in use) and exit 1. */
export function fail(message: string): never {
  exit(1, undefined, `fulcrum: ${message}`)
}

function exit(code: number, out?: string, err?: string): never {
  if (out !== undefined) process.stdout.write(out + '\n')
  if (err !== undefined) process.stderr.write(err + '\n')
  process.exit(code)
}

/**
 * Last line of defence: an error that escaped every handler is logged, and fulcrum keeps serving
 * the other connections rather than dropping all of them.
 */
export function keepServingOnStrayErrors(
  log: (msg: string, fields: Record<string, unknown>) => void,
): void {
  process.on('uncaughtException', (error) =>
    log('uncaught exception', { error: String(error?.stack ?? error) }),
  )
  process.on('unhandledRejection', (error) =>
    log('unhandled rejection', { error: String((error as Error)?.stack ?? error) }),
  )
}

/**
 * Stop gracefully on SIGINT or SIGTERM: run `shutdown` (stop accepting, let in-flight requests
 * finish), but exit 0 no later than `graceMs`. A second signal exits at once.
 */
export function onShutdownSignal(
  graceMs: number,
  shutdown: () => Promise<void>,
  log: (msg: string) => void,
): void {
  let stopping = false
  const handler = (signal: string) => {
    if (stopping) process.exit(0)
    stopping = true
    log(`${signal} received: draining in-flight requests for up to ${graceMs} ms`)
    const timer = setTimeout(() => process.exit(0), graceMs)
    shutdown().then(
      () => {
        clearTimeout(timer)
        process.exit(0)
      },
      () => process.exit(0),
    )
  }
  process.on('SIGTERM', () => handler('SIGTERM'))
  process.on('SIGINT', () => handler('SIGINT'))
}
