/**
 * What each runtime's `sockets.ts` (`runtimes/node/`, `runtimes/deno/`, `runtimes/bun/`) listens
 * with: the options of a public listener and the handle it returns. The connections themselves
 * are `Socket`s of `src/http1/socket.ts`.
 */
import type { TlsMaterial } from './shared/certs.ts'

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
   * "intermediate" profile (runtimes/shared/tls-profile.ts). Plain TCP without it.
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
   * connections (`--workers` on Bun and Deno). On Node it needs Node ≥ 22.12 and is ignored
   * before (Node's workers are node:cluster workers, which share one handle).
   * @default false
   */
  reusePort?: boolean
  /**
   * Milliseconds a TLS handshake may take; a client still shaking hands then is dropped (the
   * engine's header deadline starts once it has the connection). Node and Deno; Bun has no hook
   * before the handshake ends.
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
