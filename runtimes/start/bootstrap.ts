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
 *
 * Every entry point starts here, so this is also where standard output and error stop being
 * able to kill the process ({@link guardStdio}).
 */
export async function configure(argv: readonly string[]): Promise<Config> {
  guardStdio()
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

/**
 * Print a fatal startup error (a missing certificate, a port in use) as one line and exit 1.
 * With `cause`, its reason follows the message: `fulcrum: Cannot listen on 127.0.0.1:9090
 * (admin): address already in use`. The runtimes' own texts repeat the address or the port
 * (Node's `listen EADDRINUSE: address already in use 127.0.0.1:9090`, Bun's `Failed to start
 * server. Is port 9090 in use?`) and differ from one another, so a system error is named by its
 * code, which all three set ({@link errorReason}).
 */
export function fail(message: string, cause?: unknown): never {
  exit(
    1,
    undefined,
    `fulcrum: ${cause === undefined ? message : `${message}: ${errorReason(cause)}`}`,
  )
}

/** What the common socket errors mean, by the `code` that Node, Deno and Bun all set on them. */
const SYSTEM_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EPERM: 'operation not permitted',
  EAFNOSUPPORT: 'address family not supported',
  EINVAL: 'invalid address',
}

/**
 * One short, runtime-independent reason for an error: a known system error by its code, else
 * the error's message.
 */
export function errorReason(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code === 'string' && Object.hasOwn(SYSTEM_ERRORS, code)) return SYSTEM_ERRORS[code]!
  return error instanceof Error ? error.message : String(error)
}

function exit(code: number, out?: string, err?: string): never {
  if (out !== undefined) writeGuarded(process.stdout, out + '\n')
  if (err !== undefined) writeGuarded(process.stderr, err + '\n')
  process.exit(code)
}

/** Write to standard output or error; a failed write is dropped. */
function writeGuarded(stream: { write(text: string): unknown }, text: string): void {
  try {
    stream.write(text)
  } catch {
    // Dropped: see guardStdio.
  }
}

let stdioGuarded = false

/**
 * Logging never kills the process (issue 11): a write to standard output or error that fails
 * (EPIPE once the reader is gone, a closed descriptor) is dropped.
 *
 * Node and Deno's `node:process` report the failure as an `'error'` event on `process.stdout` or
 * `process.stderr`, which with no listener is an uncaught exception: the process exits, or, with
 * an `uncaughtException` handler that logs, the log line fails again and the loop never ends.
 * Bun ends the process on a failed `process.stdout.write` unless the stream has an `'error'`
 * listener. `console` itself drops the failure on Deno and Bun, and on Node once the listener is
 * there. So one listener on each stream is the guard on all three runtimes.
 */
export function guardStdio(): void {
  if (stdioGuarded) return
  stdioGuarded = true
  const drop = () => {}
  process.stdout.on('error', drop)
  process.stderr.on('error', drop)
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
 * How long after the first shutdown signal the same signal again is taken as a copy of it rather
 * than an operator's second request.
 */
export const SIGNAL_COPY_WINDOW_MS = 1000

/**
 * Stop gracefully on SIGINT or SIGTERM: run `shutdown` (stop accepting, let in-flight requests
 * finish), but exit 0 no later than `graceMs`. A second signal exits at once.
 *
 * The same signal again within {@link SIGNAL_COPY_WINDOW_MS} is not a second signal. When a
 * whole process group is signalled (systemd's default `KillMode=control-group`, Ctrl-C in a
 * terminal), `deno task start`'s task runner forwards the signal it got to fulcrum, which already
 * got its own: fulcrum sees SIGTERM twice within milliseconds and, had the copy counted, dropped
 * every request in flight (issue 11). Whether the runtime reports the two as one event or two
 * depends on timing, so the copy is told by the time between them.
 */
export function onShutdownSignal(
  graceMs: number,
  shutdown: () => Promise<void>,
  log: (msg: string) => void,
): void {
  let stopping: { signal: string; at: number } | undefined
  const handler = (signal: string) => {
    if (stopping) {
      const copy = signal === stopping.signal && Date.now() - stopping.at < SIGNAL_COPY_WINDOW_MS
      if (!copy) process.exit(0)
      return
    }
    stopping = { signal, at: Date.now() }
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
