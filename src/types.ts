/**
 * Shared types. Everything a runtime supplies reaches `src/` through {@link RuntimeDeps}, so that
 * `src/` itself only ever uses Web APIs.
 */
import type { Connect } from './socket.ts'
import type { AbortSignalLike } from './abort.ts'
import type { RedisFactory } from './redis-client.ts'

/** A backend server. Its identity is its normalised origin; weight and meta don't count. */
export interface Backend {
  /** Opaque, stable id: the sticky cookie and the admin API refer to a backend by it. */
  readonly id: string
  /** The normalised origin, e.g. `http://127.0.0.1:9001`. */
  readonly url: string
  /** Relative share of traffic. */
  readonly weight: number
  /** A backup gets traffic only when no primary is up. */
  readonly backup?: boolean
  /** Requests in flight to it at most (HAProxy `maxconn`); unlimited when absent. */
  readonly maxConnections?: number
  readonly meta?: Readonly<Record<string, string>>
}

/** Options the core passes with each upstream request, beyond `RequestInit`. */
export interface UpstreamInit extends Omit<RequestInit, 'signal'> {
  /** Always `'manual'`: a load balancer never follows redirects. */
  redirect: 'manual'
  /** Required by the Fetch standard whenever `body` is a stream. */
  duplex?: 'half'
  /**
   * Aborts the attempt: an `AbortSignal`, or the core's light one (`LightSignal` in abort.ts), so
   * a client may read `aborted` and `reason` and add or remove `'abort'` listeners, nothing more.
   */
  signal?: AbortSignalLike | null
}

/**
 * A fetch-shaped upstream client. It must not decompress, must not follow redirects, must keep
 * connections alive, and must send the `Host` header it is given.
 */
export type UpstreamFetch = (url: string, init: UpstreamInit) => Promise<Response>

/** Structured log sink. `fields` are flat JSON-safe values. */
export interface Logger {
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
}

/** What differs per runtime. The entry point builds it; `src/` never reaches around it. */
export interface RuntimeDeps {
  /** The upstream client. */
  fetch: UpstreamFetch
  /** The peer address of the connection that carried `req`; `env` is the runtime's serve env. */
  clientAddress(req: Request, env: unknown): string | undefined
  /**
   * Aborts when the client goes away before its response has been sent, where the runtime can
   * say so more cheaply than `req.signal` (Node: one `close` listener instead of an
   * `AbortController` per request). @default req.signal
   */
  clientSignal?: (req: Request, env: unknown) => AbortSignalLike
  /** Open a TCP connection to host:port and close it again; rejects if that fails. */
  tcpConnect(host: string, port: number, signal: AbortSignal): Promise<void>
  /** Open a TCP connection that stays: layer-4 listeners relay to backends through it. */
  connect?: Connect
  /** The runtime's name, for the fleet's member list. @default unknown */
  runtime?: string
  /** Read a UTF-8 text file. */
  readTextFile(path: string): Promise<string>
  /**
   * Run a program, for `exec` health checks. Without it, an `exec` check fails every round.
   *
   * - `command[0]` is the program (looked up in `PATH`), the rest its arguments, passed as they
   *   are: no shell, so nothing is split, globbed or expanded. Standard input is empty; the
   *   environment and working directory are fulcrum's.
   * - Standard output and standard error are collected together, in the order they arrive, and
   *   only the last `maxOutput` bytes are kept (the tail: where programs say what went wrong).
   * - When `timeout` ms pass, or `signal` aborts, the program is killed with SIGKILL, with its
   *   whole process group where the system has them (so `sh -c 'sleep 9'` leaves no `sleep`).
   *
   * Resolves once the program has ended. Rejects only when it could not start: not found
   * (`code` `ENOENT`), or the runtime's permissions forbid running programs:
   * {@link ExecDeniedError}.
   */
  exec?: (command: readonly string[], options: ExecOptions) => Promise<ExecResult>
  /** Defaults to a JSON-lines logger on the console. */
  logger?: Logger
  /**
   * Where access-log lines go, several at a time, each ending in a newline. It must not block:
   * the runtime queues the write (an append stream). Without it, lines go to the console.
   */
  accessLog?: (lines: string) => void
  /** Replace a file's content atomically (write a temporary file, then rename it over). */
  writeFileAtomic?: (path: string, text: string) => Promise<void>
  /** DNS, for `discovery` backends. */
  dns?: DnsResolver
  /** Process memory in bytes, where the runtime exposes it. */
  memoryUsage?: () => { rss: number; heapUsed: number; heapTotal: number }
  /**
   * Open a Redis connection, for fleet-wide rate limits (`rateLimit.store`). Without it, such a
   * store counts as down and `rateLimit.onStoreDown` applies.
   */
  redis?: RedisFactory
  /** Open client connections to the public listener, where the runtime exposes them. */
  openConnections?: () => number | undefined
  /**
   * The request head as the runtime's parser received it, before it merged duplicate fields or
   * rebuilt the target into a URL; only some runtimes expose it (Node does).
   */
  rawHead?: (req: Request, env: unknown) => RawRequestHead | undefined
  /**
   * Watch an upstream body on its way to the client, as `watchBody` in `stream.ts` does, in the
   * form the runtime's server writes fastest (Node: its own body type, or one buffer when the
   * body has already arrived whole). @default watchBody
   */
  watchBody?: (
    body: ReadableStream<Uint8Array>,
    onDone: (bytes: number, end: 'end' | 'error' | 'timeout' | 'cancel') => void,
    options: { idleTimeout?: number },
  ) => ReadableStream<Uint8Array> | Uint8Array
}

/** Options of {@link RuntimeDeps.exec}. */
export interface ExecOptions {
  /** Milliseconds the program may run; then it is killed. */
  timeout: number
  /** Kills the program when it aborts (the check was stopped). */
  signal?: AbortSignalLike
  /** Bytes of output kept: the last ones. */
  maxOutput: number
}

/** How a program run by {@link RuntimeDeps.exec} ended. */
export interface ExecResult {
  /** Its exit status; `null` when a signal ended it. */
  code: number | null
  /** The signal that ended it (`SIGKILL` when it was killed); `null` when it exited. */
  signal: string | null
  /** The tail of its standard output and standard error, as UTF-8. */
  output: string
  /** Whether output was dropped from the start to keep `maxOutput`. */
  truncated: boolean
  /** Whether it was killed because `timeout` passed. */
  timedOut: boolean
}

/**
 * The runtime's permission model forbids running programs (or this program): the message says
 * which permission is missing (runtimes/start/exec.ts).
 */
export class ExecDeniedError extends Error {
  override readonly name = 'ExecDeniedError'
}

/** A request head as received on the wire, for the edge's strict input checks. */
export interface RawRequestHead {
  /** The HTTP version: `1.0`, `1.1` or `2.0`. */
  readonly version: string
  /** The request target exactly as sent (origin-, absolute-, authority- or asterisk-form). */
  readonly target: string
  /** Field lines in order, duplicates kept: `[name, value, name, value, …]`. */
  readonly headers: readonly string[]
}

/** One SRV record (RFC 2782). */
export interface SrvRecord {
  readonly name: string
  readonly port: number
  readonly priority: number
  readonly weight: number
}

/** DNS lookups, as the runtime does them. */
export interface DnsResolver {
  /** The IPv4 (`4`) or IPv6 (`6`) addresses of a name; an empty list when it has none. */
  addresses(name: string, family: 4 | 6): Promise<string[]>
  /** The SRV records of a name. */
  srv(name: string): Promise<SrvRecord[]>
}
