/**
 * THE contract each runtime implements (runtimes/node/, runtimes/deno/, runtimes/bun/): its
 * sockets (listen and connect, plain and TLS), what its own HTTP/2 server knows of a request,
 * how it starts `--workers` processes, and what its TLS can't do. Everything else (the HTTP/1.1
 * engine, the Hono app, start-up, TLS material, signals, files, DNS) is shared and
 * runtime-neutral or goes through the `node:` modules all three runtimes implement.
 *
 * The connections themselves are `Socket`s of `src/socket.ts`.
 */
import type { AbortSignalLike } from '../src/abort.ts'
import type { Connect, Accept } from '../src/socket.ts'
import type { RawRequestHead, UpstreamFetch } from '../src/types.ts'
import type { TlsMaterial } from './tls/certs.ts'

/** One runtime: Node, Deno or Bun. */
export interface RuntimeAdapter {
  /** For logs and messages only: what differs is said by the members below. */
  readonly name: 'node' | 'deno' | 'bun'
  /** Listen for TCP or TLS connections and hand each to `accept` (h2 by ALPN to its server). */
  listen(options: ListenOptions, accept: Accept): Promise<Listener>
  /** Plain TCP connections to backends. */
  readonly connect: Connect
  /** The upstream client for `https:` backends (the engine's client speaks plain HTTP/1.1). */
  httpsFetch(connectTimeout: number): UpstreamFetch
  /** Requests served by the runtime's HTTP/2 server, where it has one. */
  readonly http2?: Http2Env
  /**
   * Start worker process number `env.FULCRUM_WORKER_ID` of `--workers`, running this entry point
   * with `argv`. Without it, `--workers` is refused.
   */
  startWorker?(argv: readonly string[], env: Record<string, string | undefined>): WorkerProcess
  /** Whether its TLS listener enforces `tls.minVersion: TLSv1.3`. @default true */
  readonly tls13Only?: boolean
}

/** What a runtime's own HTTP/2 server tells about a request it serves (`env` is its env). */
export interface Http2Env {
  clientAddress(request: Request, env: unknown): string | undefined
  rawHead?(request: Request, env: unknown): RawRequestHead | undefined
  clientSignal?(request: Request, env: unknown): AbortSignalLike
}

/** An HTTP/2 request handler, as @hono/node-server (Node) or `Deno.serve` (Deno) calls it. */
export type Http2Handler = (request: Request, env: unknown) => Response | Promise<Response>

/** Where and how to listen. */
export interface ListenOptions {
  /** The address to bind (`0.0.0.0`, `::`, `127.0.0.1`…). */
  host: string
  /** The port; `0` picks a free one (see {@link Listener.port}). */
  port: number
  /**
   * TLS: the certificates (the default first, the others picked by SNI) and the Mozilla
   * "intermediate" profile (runtimes/tls/profile.ts). Plain TCP without it.
   */
  tls?: TlsMaterial
  /**
   * Offer h2 by ALPN (RFC 7301, RFC 9113 §3.2) and hand the connections that choose it to the
   * runtime's own HTTP/2 server, which serves `handler`. HTTP/1.1 connections go to `accept` as
   * always. Only with {@link tls}; Node and Deno only (Bun serves HTTP/1.1 and ignores it).
   */
  http2?: { handler: Http2Handler }
  /**
   * SO_REUSEPORT: several processes (or listeners) share the port and the kernel spreads the
   * connections (`--workers` on Bun). On Node it needs Node ≥ 22.12 and is ignored before
   * (Node's workers are node:cluster workers, which share one handle).
   * @default false
   */
  reusePort?: boolean
  /**
   * Milliseconds a TLS handshake may take; a client still shaking hands then is dropped (the
   * engine's header deadline starts once it has the connection). Node only in effect: Deno
   * cannot close a TLS connection before its handshake ends (denoland/deno#14547), and Bun has
   * no hook before the handshake ends.
   * @default 10_000
   */
  handshakeTimeout?: number
  /**
   * The kernel's accept queue (`listen(2)` backlog). Node and Bun only; Deno uses its own.
   * @default 511 on Node, the runtime's default elsewhere
   */
  backlog?: number
}

/** A listening socket. */
export interface Listener {
  /** The port bound (the free port picked when asked for `0`). */
  readonly port: number
  /**
   * Stop accepting new connections. Connections already open stay: the engine drains them (and
   * {@link closeHttp2} the HTTP/2 ones).
   */
  close(): Promise<void>
  /** Serve new certificates from the next handshake on; open connections keep theirs. */
  setTls?(material: TlsMaterial): Promise<void>
  /**
   * Close the open HTTP/2 connections gracefully: GOAWAY (RFC 9113 §6.8), then each ends once
   * its streams are done. Resolves when they are all gone.
   */
  closeHttp2?(): Promise<void>
}

/** A `--workers` process, however the runtime started it. */
export interface WorkerProcess {
  /** Pass a message on (the primary relays worker 1's admin changes). */
  send(message: unknown): void
  kill(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGKILL'): void
  onMessage(listener: (message: unknown) => void): void
  onExit(listener: (code: number | null) => void): void
}
