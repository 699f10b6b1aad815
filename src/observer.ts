/**
 * What the proxy reports about each request: to the metrics, and to the access log when it is on.
 * The public app calls a {@link RequestObserver}; it never knows where the numbers go.
 */
import type { AccessLog } from './access-log.ts'
import { UpstreamConnectError, UpstreamTimeoutError } from './errors.ts'
import type { Metrics } from './metrics.ts'
import type { Backend } from './types.ts'

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
}

/** Hooks the public app calls; each must be cheap. */
export interface RequestObserver {
  /** An attempt got response headers from `backend` after `ms`. */
  response(backend: Backend, status: number, ms: number): void
  /** An attempt on `backend` got no response. */
  failure(backend: Backend, error: unknown): void
  /** The request is tried again elsewhere after an attempt on `backend` failed. */
  retry(backend: Backend): void
  /** A client request ended: its response body finished, failed or was cancelled. */
  done(record: RequestRecord): void
}

/**
 * The observer that feeds `metrics`, and `accessLog` when given.
 *
 * @example
 * ```ts
 * const observer = createObserver(new Metrics(), new AccessLog({ write }))
 * ```
 */
export function createObserver(metrics: Metrics, accessLog?: AccessLog): RequestObserver {
  return {
    response(backend, status, ms) {
      metrics.response(backend.id, status, ms / 1000)
    },
    failure(backend, error) {
      metrics.failure(
        backend.id,
        error instanceof UpstreamConnectError
          ? 'connect'
          : error instanceof UpstreamTimeoutError
            ? 'timeout'
            : 'error',
      )
    },
    retry(backend) {
      metrics.retry(backend.id)
    },
    done(record) {
      metrics.request(record.status, record.totalMs / 1000)
      if (record.sticky !== 'none') metrics.sticky[record.sticky]++
      if (record.backend !== undefined) metrics.backend(record.backend).bytes += record.bytes
      accessLog?.log(record)
    },
  }
}
