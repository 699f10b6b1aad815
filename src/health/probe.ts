/** Active health probes: HTTP GET of a path, or a bare TCP connect. */
import type { Backend, UpstreamFetch } from '../types.ts'

/** Checks one backend once. Resolves when healthy; rejects with the reason when not. */
export interface HealthProbe {
  check(backend: Backend, signal: AbortSignal): Promise<void>
}

/** Options for {@link httpProbe}. */
export interface HttpProbeOptions {
  /** @default '/health' */
  path: string
  /** The inclusive range of statuses that count as healthy. @default 200-399 */
  expectStatus: { low: number; high: number }
  /** Sees each response's headers, healthy or not (for load reports). */
  onResponse?: (backend: Backend, response: Response) => void
}

/**
 * `GET path` on the backend; healthy when the status is in range. The body is discarded.
 *
 * @example
 * ```ts
 * const probe = httpProbe(fetch, { path: '/health', expectStatus: { low: 200, high: 399 } })
 * await probe.check(backend, AbortSignal.timeout(2000))
 * ```
 */
export function httpProbe(fetch: UpstreamFetch, options: HttpProbeOptions): HealthProbe {
  const { path, expectStatus, onResponse } = options
  return {
    async check(backend, signal) {
      const response = await fetch(backend.url + path, {
        method: 'GET',
        headers: new Headers({ 'user-agent': 'fulcrum-health-check', accept: '*/*' }),
        signal,
        redirect: 'manual',
      })
      await response.body?.cancel().catch(() => {})
      onResponse?.(backend, response)
      if (response.status < expectStatus.low || response.status > expectStatus.high) {
        throw new Error(
          `Status ${response.status}, expected ${expectStatus.low}-${expectStatus.high}`,
        )
      }
    },
  }
}

/** Opens a connection and closes it, as `RuntimeDeps.tcpConnect` does. */
export type TcpConnect = (host: string, port: number, signal: AbortSignal) => Promise<void>

/** Healthy when a TCP connection to the backend's host and port opens (HAProxy `check` with no `option httpchk`). */
export function tcpProbe(connect: TcpConnect): HealthProbe {
  return {
    check(backend, signal) {
      const url = new URL(backend.url)
      const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80
      return connect(url.hostname.replace(/^\[|\]$/g, ''), port, signal)
    },
  }
}
