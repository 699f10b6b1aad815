/** One finished request, as the metrics and the access log see it. */

/**
 * The sticky layer's verdict on a request: `none` (sticky sessions off), `hit` (the pinned backend
 * served it), `new` (no valid cookie: one was issued), `moved` (the pinned backend could not take
 * it: a new cookie pins the backend that did).
 */
export type StickyVerdict = 'none' | 'hit' | 'new' | 'moved'

/** One finished client request, as the access log writes it. */
export interface RequestRecord {
  /** When the request arrived, in ms since the epoch. */
  readonly time: number
  readonly requestId: string
  readonly client: string | undefined
  readonly method: string
  /** The raw path and query. */
  readonly target: string
  readonly host: string | undefined
  readonly status: number
  /** Response body bytes sent. */
  readonly bytes: number
  /** The backend that answered, if any did. */
  readonly backend: string | undefined
  /** Time to the answering backend's response headers, in ms. */
  readonly upstreamMs: number | undefined
  /** From arrival to the last body byte, in ms. */
  readonly totalMs: number
  /** Attempts after the first. */
  readonly retries: number
  readonly sticky: StickyVerdict
  readonly userAgent: string | undefined
  readonly referer: string | undefined
  /** The route that took the request, when routes are configured. */
  readonly route?: string | undefined
  /** The pool that served it. */
  readonly pool?: string | undefined
}

/** One finished layer-4 connection, as the access log writes it. */
export interface ConnectionRecord {
  /** When the connection was accepted, in ms since the epoch. */
  readonly time: number
  /** The TCP listener's name. */
  readonly listener: string
  readonly client: string | undefined
  readonly pool: string
  /** The backend it was relayed to, if one took it. */
  readonly backend: string | undefined
  /** Bytes from the client to the backend. */
  readonly bytesIn: number
  /** Bytes from the backend to the client. */
  readonly bytesOut: number
  /** Time to connect to the backend, in ms. */
  readonly connectMs: number | undefined
  /** From accept to close, in ms. */
  readonly durationMs: number
  /** Why it ended: done, client-reset, backend-reset, idle-timeout, shutdown, connect-failed, refused. */
  readonly reason: string
}
