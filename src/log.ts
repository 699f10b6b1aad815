import type { Logger } from './types.ts'

type Level = 'info' | 'warn' | 'error'

/**
 * A logger that writes one JSON object per line: `{"time","level","msg",...fields}`. Warnings and
 * errors go to stderr (`console.error`), the rest to stdout.
 */
export function createJsonLogger(
  write = (level: Level, line: string) =>
    level === 'info' ? console.log(line) : console.error(line),
): Logger {
  const log = (level: Level) => (msg: string, fields?: Record<string, unknown>) =>
    write(level, JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }))
  return { info: log('info'), warn: log('warn'), error: log('error') }
}

/** A logger that drops everything, for tests. */
export const silentLogger: Logger = { info() {}, warn() {}, error() {} }
