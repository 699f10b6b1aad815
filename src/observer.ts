/**
 * What the proxy reports about each request: to the metrics, and to the access log when it is on.
 * The public app calls a {@link RequestObserver}; it never knows where the numbers go.
 */
import type { AccessLog } from './access-log.ts'
import { UpstreamConnectError, UpstreamTimeoutError } from './errors.ts'
import { backendKey, type Metrics } from './metrics.ts'
import type { RequestRecord } from './request-record.ts'
import type { Backend } from './types.ts'

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
 * The observer of one pool's requests: it feeds `metrics`, and `accessLog` when given.
 *
 * @param pool the pool's name, which keys its backends' counters (see {@link backendKey})
 * @example
 * ```ts
 * const observer = createObserver(new Metrics(), new AccessLog({ write }), 'api')
 * ```
 */
export function createObserver(
  metrics: Metrics,
  accessLog?: AccessLog,
  pool?: string,
): RequestObserver {
  const key = (backend: Backend) => backendKey(pool, backend.id)
  return {
    response(backend, status, ms) {
      metrics.response(key(backend), status, ms / 1000)
    },
    failure(backend, error) {
      metrics.failure(
        key(backend),
        error instanceof UpstreamConnectError
          ? 'connect'
          : error instanceof UpstreamTimeoutError
            ? 'timeout'
            : 'error',
      )
    },
    retry(backend) {
      metrics.retry(key(backend))
    },
    done(record) {
      metrics.request(record.status, record.totalMs / 1000, record.route)
      if (record.sticky !== 'none') metrics.sticky[record.sticky]++
      if (record.backend !== undefined) {
        metrics.backend(backendKey(pool, record.backend)).bytes += record.bytes
      }
      accessLog?.log(record)
    },
  }
}
