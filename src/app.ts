/**
 * The public Hono app: select a backend, forward, answer. Everything runtime-specific arrives
 * through {@link RuntimeDeps}.
 */
import { Hono } from 'hono'
import type { Config } from './config.ts'
import { UpstreamConnectError, UpstreamTimeoutError, errorResponse } from './errors.ts'
import { sendUpstream, toClientResponse } from './forward.ts'
import { acceptableRequestId, addForwardingHeaders, stripHopByHop } from './headers.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import { createAddressMatcher, resolveClientAddress } from './net.ts'
import type { RequestObserver } from './observer.ts'
import { createPickInput } from './pick-input.ts'
import type { BackendPool } from './pool.ts'
import type { Selector } from './strategies/strategy.ts'
import { pinnedFirst, type StickyPin, type StickySessions } from './sticky.ts'
import type { Backend, Logger, RuntimeDeps } from './types.ts'

/** What the public app needs from the balancer. */
export interface ProxyContext {
  config: Config
  deps: RuntimeDeps
  pool: BackendPool
  logger: Logger
  /** The selector for the current eligible set. */
  selector(): Selector
  /** The sticky-session layer over the selector, when enabled. */
  sticky?: StickySessions
  /** Read `Endpoint-Load-Metrics` from responses (only the `resource` strategy needs it). */
  loadMetrics?: boolean
  /** Told about each attempt and each finished request: metrics and the access log. */
  observer?: RequestObserver
}

/** A request is tried on at most this many backends when it may be retried. */
const MAX_ATTEMPTS = 3

/** Idempotent methods (RFC 9110 §9.2.2): repeating one has the effect of sending it once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'])

/** Methods that never carry a body fulcrum should forward (RFC 9110 §9.3.1, §9.3.2). */
const BODYLESS = new Set(['GET', 'HEAD'])

/**
 * Build the public app.
 *
 * @example
 * ```ts
 * const app = createApp(ctx)
 * Bun.serve({ fetch: app.fetch })
 * ```
 */
export function createApp(ctx: ProxyContext): Hono {
  const { config, deps, pool, logger } = ctx
  const proto = config.tls.enabled ? 'https' : 'http'
  const isTrustedProxy = createAddressMatcher(config.forwarding.trustedProxies)

  async function proxy(request: Request, env: unknown): Promise<Response> {
    const startedAt = pool.now()
    const requestId =
      acceptableRequestId(request.headers.get('x-request-id')) ?? crypto.randomUUID()
    const url = request.url
    const pathAt = url.indexOf('/', url.indexOf('//') + 2)
    const target = pathAt === -1 ? '/' : url.slice(pathAt)
    const peer = deps.clientAddress(request, env)
    const trusted = isTrustedProxy(peer)
    const headers = new Headers(request.headers)
    stripHopByHop(headers)
    addForwardingHeaders(headers, {
      clientIp: peer,
      proto,
      host: request.headers.get('host') ?? undefined,
      trusted,
      via: config.forwarding.via,
      requestId,
    })
    if (!config.forwarding.preserveHost) headers.delete('host')
    const method = request.method
    const body = BODYLESS.has(method) ? null : request.body
    const client = trusted
      ? resolveClientAddress(peer, request.headers.get('x-forwarded-for'), isTrustedProxy)
      : peer
    const input = createPickInput(request, target, client)

    // Sticky sessions (DESIGN): a valid lb_sid puts its backend first, even while it drains; the
    // base strategy's candidates follow as fallbacks. Anything else counts as no cookie.
    const { sticky } = ctx
    let pin: StickyPin | undefined
    let pinned: Backend | undefined
    if (sticky) {
      const value = input.cookie(sticky.cookie)
      pin = value === undefined ? undefined : await sticky.verify(value)
      pinned = pin && pool.sessionTarget(pin.backendId)
    }
    const base = ctx.selector().candidates(input, pool)

    const { observer } = ctx
    // One record per request, for the metrics and the access log, when the response has ended.
    const finish = (status: number, bytes: number, backend?: Backend, upstreamMs?: number) =>
      observer?.done({
        time: Date.now() - (pool.now() - startedAt),
        requestId,
        client,
        method,
        target,
        host: request.headers.get('host') ?? undefined,
        status,
        bytes,
        backend: backend?.id,
        upstreamMs,
        totalMs: pool.now() - startedAt,
        retries: Math.max(0, attempts - 1),
        sticky: !sticky
          ? 'none'
          : !backend || !pinned
            ? 'new'
            : backend.id === pinned.id
              ? 'hit'
              : 'moved',
        userAgent: request.headers.get('user-agent') ?? undefined,
        referer: request.headers.get('referer') ?? undefined,
      })

    let attempts = 0
    let lastError: unknown
    for (const backend of pinned ? pinnedFirst(pinned, base) : base) {
      attempts++
      pool.acquire(backend)
      const sentAt = pool.now()
      try {
        const upstream = await sendUpstream(deps.fetch, {
          backend,
          method,
          target,
          headers,
          body,
          clientSignal: request.signal,
          responseHeadersTimeout: config.timeouts.responseHeaders,
        })
        // Time to response headers feeds least-time's peak EWMA; reported load feeds resource.
        const upstreamMs = pool.now() - sentAt
        pool.observeLatency(backend, upstreamMs)
        observer?.response(backend, upstream.status, upstreamMs)
        if (ctx.loadMetrics) recordLoadMetrics(pool, backend, upstream.headers)
        // Pin (again) when the request landed elsewhere, and renew an ageing cookie.
        const setCookie =
          sticky && (backend.id !== pinned?.id || sticky.shouldRenew(pin!))
            ? sticky.setCookie(await sticky.issue(backend.id), config.tls.enabled)
            : undefined
        const response = toClientResponse(upstream, method, config.forwarding.via, (bytes) => {
          pool.release(backend)
          finish(upstream.status, bytes, backend, upstreamMs)
        })
        // Appended, so that the backend's own Set-Cookie fields stay (RFC 6265 §3).
        if (setCookie) response.headers.append('set-cookie', setCookie)
        return response
      } catch (error) {
        pool.release(backend)
        observer?.failure(backend, error)
        // A timeout is the slowest answer there is: least-time should see it.
        if (error instanceof UpstreamTimeoutError) pool.observeLatency(backend, pool.now() - sentAt)
        lastError = error
        // DESIGN (retries): a refused connection sent nothing, so another backend may have it;
        // an idempotent request whose body was not streamed may be repeated after any other
        // failure before the response headers (a keep-alive connection the backend closed, a
        // reset), but not after a timeout: the backend may still be working on it.
        const retryable =
          body === null &&
          (error instanceof UpstreamConnectError ||
            (IDEMPOTENT.has(method) && !(error instanceof UpstreamTimeoutError)))
        if (retryable && attempts < MAX_ATTEMPTS && !request.signal.aborted) {
          const reason = String((error as Error)?.message ?? error)
          logger.warn('retry', { requestId, backend: backend.id, reason })
          observer?.retry(backend)
          continue
        }
        break
      }
    }
    if (attempts === 0) {
      finish(503, 0)
      return errorResponse(503, 'No backend available', requestId, { 'retry-after': '1' })
    }
    if (lastError instanceof UpstreamTimeoutError) {
      finish(504, 0)
      return errorResponse(504, 'Upstream timed out', requestId)
    }
    if (!request.signal.aborted) {
      logger.warn('upstream failed', {
        requestId,
        error: String((lastError as Error)?.message ?? lastError),
      })
    }
    finish(502, 0)
    return errorResponse(502, 'Upstream failed', requestId)
  }

  const app = new Hono()
  app.all('*', (c) => proxy(c.req.raw, c.env))
  app.onError((error) => {
    logger.error('internal error', { error: String(error) })
    return errorResponse(500, 'Internal error', crypto.randomUUID())
  })
  return app
}
