/**
 * What the HTTP/1.1 server, its connections and the Upgrade tunnel share: the handlers the app
 * gives the server, the limits, and the state each connection sees. The types only, so that the
 * three modules depend on this one and not on each other.
 */
import type { Http1Env } from './request.ts'
import type { Socket } from '../socket.ts'

/** A request handler, fetch-shaped: the Hono app's `fetch`. */
export type Http1Handler = (request: Request, env: Http1Env) => Response | Promise<Response>

/**
 * Take over a connection whose request asks for an `Upgrade`: write the answer (a `101` from the
 * backend, or a refusal) to `socket` and return the tunnel, or `undefined` when it was refused.
 * `rest` holds the bytes that followed the request head.
 */
export type UpgradeHandler = (
  request: Request,
  env: Http1Env,
  socket: Socket,
  rest: Uint8Array,
) => Promise<Tunnel | undefined>

/** Limits and deadlines, in bytes and ms. */
export interface Http1Limits {
  /** The request line and fields together; beyond, 431 (RFC 6585 §5). */
  maxHeadBytes: number
  /** Time to send a whole request head, from its first byte (or the connection's start). */
  headerTimeout: number
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeout: number
  /** Open client connections at most; beyond, the oldest idle one goes, or the new one gets 503. */
  maxConnections: number
}

/** What a connection shares with the server. */
export interface ServerState {
  readonly handler: Http1Handler
  readonly upgrade: UpgradeHandler | undefined
  readonly scheme: 'http' | 'https'
  readonly limits: Http1Limits
  readonly draining: boolean
  now(): number
  onError(error: unknown): void
  /** The connection closed, or became a tunnel. */
  forget(connection: object): void
  /** A tunnel now holds the connection (drain waits for it). */
  adopt(tunnel: Tunnel): void
}

/** An open tunnel, as the client connection drives it. */
export interface Tunnel {
  fromClient(chunk: Uint8Array): void
  clientDrained(): void
  clientEnded(): void
  clientClosed(): void
  /** Cut both sides off now. */
  destroy(): void
  /** Settles when both sides are closed. */
  readonly closed: Promise<void>
}
