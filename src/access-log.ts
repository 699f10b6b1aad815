/**
 * The access log: one line per request, JSON or the combined format, buffered in memory and handed
 * to the runtime's sink in batches (on a timer, or when the buffer fills), so that the request path
 * never waits for a write.
 */
import type { ConnectionRecord, RequestRecord } from './request-record.ts'

/** Options for {@link AccessLog}. */
export interface AccessLogOptions {
  /** Receives batches of lines, each ending in a newline; it must not block. */
  write: (lines: string) => void
  /** @default 'json' */
  format?: 'json' | 'combined'
  /** Buffered lines are written at least this often, in ms. @default 1000 */
  flushInterval?: number
  /** Buffered characters that trigger a write at once. @default 65536 */
  bufferSize?: number
}

/**
 * A buffered access log. A timer runs only while lines wait, so an idle log keeps nothing alive.
 *
 * @example
 * ```ts
 * const log = new AccessLog({ write: (lines) => stream.write(lines), format: 'combined' })
 * log.log(record)
 * log.flush()
 * ```
 */
export class AccessLog {
  readonly #write: (lines: string) => void
  readonly #format: (record: RequestRecord) => string
  readonly #formatConnection: (record: ConnectionRecord) => string
  readonly #flushInterval: number
  readonly #bufferSize: number
  #buffer = ''
  #timer: ReturnType<typeof setTimeout> | undefined

  constructor(options: AccessLogOptions) {
    this.#write = options.write
    this.#format = options.format === 'combined' ? formatCombined : formatJson
    this.#formatConnection =
      options.format === 'combined' ? formatConnectionCombined : formatConnectionJson
    this.#flushInterval = options.flushInterval ?? 1000
    this.#bufferSize = options.bufferSize ?? 65_536
  }

  /** Queue one request's line. */
  log(record: RequestRecord): void {
    this.#append(this.#format(record))
  }

  /** Queue one layer-4 connection's line. */
  logConnection(record: ConnectionRecord): void {
    this.#append(this.#formatConnection(record))
  }

  #append(line: string): void {
    this.#buffer += line
    if (this.#buffer.length >= this.#bufferSize) this.flush()
    else this.#timer ??= setTimeout(() => this.flush(), this.#flushInterval)
  }

  /** Hand every queued line to the sink now. */
  flush(): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    if (this.#buffer === '') return
    const lines = this.#buffer
    this.#buffer = ''
    try {
      this.#write(lines)
    } catch {
      // A failing sink must not take requests down with it; the runtime reports its own errors.
    }
  }
}

let lastTime = NaN
let lastIso = ''

/** `new Date(time).toISOString()`, remembered for the millisecond: requests come in bursts. */
function isoTime(time: number): string {
  // Date truncates a fractional time (ECMA-262 TimeClip), so one ISO string serves the ms.
  const ms = Math.trunc(time)
  if (ms !== lastTime) {
    lastIso = new Date(ms).toISOString()
    lastTime = ms
  }
  return lastIso
}

/**
 * One JSON object per line (RFC 8259). Times are in ms, rounded to µs. Written field by field:
 * the same text as `JSON.stringify` of the object, in half the time (no object is built, and
 * the strings that need no escaping, nearly all of them, are quoted as they are).
 */
export function formatJson(record: RequestRecord): string {
  return (
    '{"time":"' +
    isoTime(record.time) +
    '","requestId":' +
    jsonString(record.requestId) +
    ',"client":' +
    jsonOrNull(record.client) +
    ',"method":' +
    jsonString(record.method) +
    ',"target":' +
    jsonString(record.target) +
    ',"host":' +
    jsonOrNull(record.host) +
    ',"status":' +
    jsonNumber(record.status) +
    ',"bytes":' +
    jsonNumber(record.bytes) +
    ',"route":' +
    jsonOrNull(record.route) +
    ',"pool":' +
    jsonOrNull(record.pool) +
    ',"backend":' +
    jsonOrNull(record.backend) +
    ',"upstreamMs":' +
    jsonMsOrNull(record.upstreamMs) +
    ',"totalMs":' +
    jsonNumber(round(record.totalMs)) +
    ',"retries":' +
    jsonNumber(record.retries) +
    ',"sticky":' +
    jsonString(record.sticky) +
    ',"userAgent":' +
    jsonOrNull(record.userAgent) +
    ',"referer":' +
    jsonOrNull(record.referer) +
    '}\n'
  )
}

/**
 * What JSON must escape in a string (RFC 8259 §7: `"`, `\`, controls), and the surrogates, of
 * which `JSON.stringify` escapes the lone ones.
 */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/** `text` as a JSON string, as `JSON.stringify` writes it. */
function jsonString(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : '"' + text + '"'
}

/** A string as JSON, or `null` when there is none (`null` and `undefined` alike, as `?? null`). */
function jsonOrNull(text: string | null | undefined): string {
  return text == null ? 'null' : jsonString(text)
}

/** A number as `JSON.stringify` writes it: `null` when it is not finite. */
function jsonNumber(value: number): string {
  return Number.isFinite(value) ? String(value) : 'null'
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** The combined format's time, `05/Mar/2026:07:08:09 +0000` (always UTC). */
function combinedTime(time: number): string {
  const d = new Date(time)
  const pad = (n: number) => String(n).padStart(2, '0')
  return (
    `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
  )
}

/**
 * The combined log format (Apache `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-agent}i"`, as
 * nginx's `combined`), followed by fulcrum's fields as `key=value`. Quoted strings escape `"`,
 * `\` and control characters as `\xHH`, as nginx does.
 */
export function formatCombined(record: RequestRecord): string {
  const time = combinedTime(record.time)
  return (
    `${record.client ?? '-'} - - [${time}] "${quote(`${record.method} ${record.target} HTTP/1.1`)}" ` +
    `${record.status} ${record.bytes} "${quote(record.referer ?? '-')}" "${quote(record.userAgent ?? '-')}" ` +
    `rid=${record.requestId} route=${record.route ?? '-'} pool=${record.pool ?? '-'} ` +
    `backend=${record.backend ?? '-'} ` +
    `upstream_ms=${record.upstreamMs === undefined ? '-' : round(record.upstreamMs)} ` +
    `total_ms=${round(record.totalMs)} retries=${record.retries} sticky=${record.sticky}\n`
  )
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /["\\\x00-\x1f\x7f]/g

function quote(text: string): string {
  return text.replace(UNSAFE, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** A duration in ms, rounded as {@link round}, or `null` when there is none. */
function jsonMsOrNull(ms: number | undefined): string {
  return ms === undefined ? 'null' : jsonNumber(round(ms))
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000
}

/**
 * A TCP connection as one JSON object: `"type": "tcp"` tells it from a request's line. Written
 * field by field as {@link formatJson} is: the same text as `JSON.stringify` of the object,
 * without the object (one line a connection, 2.1% of a Node `Connection: close` profile).
 */
export function formatConnectionJson(record: ConnectionRecord): string {
  return (
    '{"time":"' +
    isoTime(record.time) +
    '","type":"tcp","listener":' +
    jsonString(record.listener) +
    ',"client":' +
    jsonOrNull(record.client) +
    ',"pool":' +
    jsonString(record.pool) +
    ',"backend":' +
    jsonOrNull(record.backend) +
    ',"bytesIn":' +
    jsonNumber(record.bytesIn) +
    ',"bytesOut":' +
    jsonNumber(record.bytesOut) +
    ',"connectMs":' +
    jsonMsOrNull(record.connectMs) +
    ',"durationMs":' +
    jsonNumber(round(record.durationMs)) +
    ',"reason":' +
    jsonString(record.reason) +
    '}\n'
  )
}

/** A TCP connection in the combined log's spirit: the client, the time, then `key=value`. */
export function formatConnectionCombined(record: ConnectionRecord): string {
  const time = combinedTime(record.time)
  return (
    `${record.client ?? '-'} - - [${time}] "TCP ${record.listener}" ` +
    `pool=${record.pool} backend=${record.backend ?? '-'} bytes_in=${record.bytesIn} ` +
    `bytes_out=${record.bytesOut} ` +
    `connect_ms=${record.connectMs === undefined ? '-' : round(record.connectMs)} ` +
    `duration_ms=${round(record.durationMs)} reason=${record.reason}\n`
  )
}
