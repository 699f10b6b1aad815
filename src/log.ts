import type { Logger } from './types.ts'

type Level = 'info' | 'warn' | 'error'

/**
 * A logger that writes one JSON object per line: `{"time","level","msg",...fields}`. Warnings and
 * errors go to stderr (`console.error`), the rest to stdout.
 *
 * Logging never throws (issue 11): a line that cannot be written (the reader of a pipe is gone, a
 * descriptor closed) is dropped, so a log call in a request or a signal handler never ends it.
 * The runtime side also keeps standard output's asynchronous write errors from ending the process
 * (`guardStdio` in runtimes/start/bootstrap.ts).
 */
export function createJsonLogger(
  write = (level: Level, line: string) =>
    level === 'info' ? console.log(line) : console.error(line),
): Logger {
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) => {
    try {
      write(level, JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }))
    } catch {
      // Dropped: a log line is never worth the process.
    }
  }
  return { info: log('info'), warn: log('warn'), error: log('error') }
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} }
