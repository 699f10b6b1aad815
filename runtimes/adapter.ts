/**
 * THE contract each runtime implements (runtimes/node/, runtimes/deno/, runtimes/bun/): its
 * sockets (listen and connect, plain and TLS), what its own HTTP/2 server knows of a request,
 * and how to start it again as a worker. Everything else (the HTTP/1.1 engine, the Hono app,
 * start-up, TLS material, signals, files, DNS) is shared and runtime-neutral or goes through
 * the `node:` modules all three runtimes implement.
 */
import type { AbortSignalLike } from '../src/abort.ts'
import type { Connect, Accept } from '../src/http1/socket.ts'
import type { RawRequestHead, UpstreamFetch } from '../src/types.ts'
import type { ListenOptions, Listener } from './listener.ts'

export type { ListenOptions, Listener } from './listener.ts'

/** What a runtime's own HTTP/2 server tells about a request it serves (`env` is its env). */
export interface Http2Env {
  clientAddress(request: Request, env: unknown): string | undefined
  rawHead?(request: Request, env: unknown): RawRequestHead | undefined
  clientSignal?(request: Request, env: unknown): AbortSignalLike
}

/** One runtime: Node, Deno or Bun. */
export interface RuntimeAdapter {
  readonly name: 'node' | 'deno' | 'bun'
  /** Listen for TCP or TLS connections and hand each to `accept` (h2 by ALPN to its server). */
  listen(options: ListenOptions, accept: Accept): Promise<Listener>
  /** Plain TCP connections to backends. */
  readonly connect: Connect
  /** The upstream client for `https:` backends (the engine's client speaks plain HTTP/1.1). */
  httpsFetch(connectTimeout: number): UpstreamFetch
  /** Requests served by the runtime's HTTP/2 server, where it has one. */
  readonly http2?: Http2Env
  /** How to start this entry point again as a `--workers` process (Bun, Deno). */
  workerArgs?(): string[]
  /** Whether its TLS listener picks certificates by SNI. @default true */
  readonly sni?: boolean
  /** Whether its TLS listener enforces `tls.minVersion: TLSv1.3`. @default true */
  readonly tls13Only?: boolean
}
