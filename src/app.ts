/**
 * The public Hono app: select a backend, forward, answer. Everything runtime-specific arrives
 * through {@link RuntimeDeps}.
 */
import { Hono } from 'hono'
import { getPath } from 'hono/utils/url'
import { wallClock } from './clock.ts'
import type { Config } from './config.ts'
import type { HeaderEdits } from './config-routes.ts'
import type { RateLimit } from './config-edge.ts'
import {
  bucketKey,
  decisionFields,
  rateKeyHeader,
  rateLimitPolicy,
  type TokenBuckets,
} from './edge/rate-limit.ts'
import { compressResponse } from './routes/compress.ts'
import type { Route } from './routes/table.ts'
import { UpstreamTimeoutError, errorResponse } from './errors.ts'
import { sendUpstream, toClientResponse } from './forward.ts'
import { http1Env } from './http1/request.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import type { RequestObserver } from './observer.ts'
import type { BackendPool } from './pool.ts'
import { RequestQueue, type QueueResult } from './queue.ts'
import { ReplayableBody } from './replay.ts'
import { createRequestPlanner, type RequestPlan } from './request-plan.ts'
import { failureKind, IDEMPOTENT, mayRetry, RetryBudget, type FailureKind } from './retry.ts'
import type { Selector } from './strategies/strategy.ts'
import type { StickySessions } from './sticky.ts'
import type { Backend, Logger, RuntimeDeps } from './types.ts'

/** What the public app needs from the balancer. */
export interface ProxyContext {
  /** The pool's name, for the access log. @default default */
  name?: string
  /** The config in force; it may be replaced at run time (a reload), and is read per request. */
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
  /** Where requests wait when every candidate is full. @default one built from `config.queue` */
  queue?: RequestQueue
  /** The global retry budget. @default one built from `config.retries` */
  budget?: RetryBudget
}

/** Methods that never carry a body fulcrum should forward (RFC 9110 §9.3.1, §9.3.2). */
const BODYLESS = new Set(['GET', 'HEAD'])

/** What the app derives from one config: rebuilt when the config object is replaced. */
interface Settings {
  readonly config: Config
  readonly retryStatuses: ReadonlySet<number>
}

/**
 * The candidates once more, then the backups: for a request every candidate failed, when the
 * eligible set may have changed since.
 */
function* lookAgain(plan: RequestPlan, pool: BackendPool): Generator<Backend> {
  yield* plan.candidates()
  yield* pool.standby()
}

/** What a pick gives: a backend with a slot taken, the queue's verdict, or none left. */
type Picked = Backend | QueueResult | undefined

/** Forward one request to a pool's backends, by the rules of the route that took it. */
export type Proxy = (request: Request, env: unknown, route?: Route) => Promise<Response>

/**
 * The public app of one pool, for a balancer with no routes to choose between (tests, the
 * simulator): every request goes to `ctx.pool`.
 *
 * @example
 * ```ts
 * const app = createApp(ctx)
 * serve({ fetch: app.fetch }) // the runtime's server
 * ```
 */
export function createApp(ctx: ProxyContext): Hono {
  const proxy = createProxy(ctx)
  const app = new Hono()
  app.all('*', (c) => proxy(c.req.raw, c.env))
  app.onError((error) => {
    ctx.logger.error('internal error', { error: String(error) })
    return errorResponse(500, 'Internal error', crypto.randomUUID())
  })
  return app
}

/**
 * Build the proxy of one pool: select a backend, forward, answer; retries, the queue, sticky
 * sessions and the route's own rules (prefix, header edits, timeouts, retries, rate limit,
 * compression) included.
 */
export function createProxy(ctx: ProxyContext): Proxy {
  const { deps, pool, logger } = ctx
  const queue = (ctx.queue ??= new RequestQueue(ctx.config.queue))
  const budget = (ctx.budget ??= new RetryBudget(ctx.config.retries))
  // A backend that came back, or was added, may take a queued request.
  pool.watchTransitions(() => queue.wakeAll())

  let settings: Settings | undefined
  /** The settings of the config in force; the pool, queue and budget follow a new config. */
  const current = (): Settings => {
    const config = ctx.config
    if (settings?.config === config) return settings
    const { healthCheck } = config
    pool.configure({
      rise: healthCheck.rise,
      fall: healthCheck.fall,
      latencyDecay: config.strategyOptions.leastTime.decay,
      outlier: config.outlierDetection,
      breaker: config.circuitBreaker,
      slowStart: config.slowStart,
    })
    queue.configure(config.queue)
    budget.configure(config.retries)
    settings = { config, retryStatuses: new Set(config.retries.statuses) }
    return settings
  }
  current()
  const planner = createRequestPlanner({
    config: () => ctx.config,
    pool,
    selector: () => ctx.selector(),
    sticky: () => ctx.sticky,
  })

  /** Give a backend's slot back, and let the request at the head of the queue have it. */
  const release = (backend: Backend) => {
    pool.release(backend)
    queue.wake()
  }

  return async function proxy(request: Request, env: unknown, route?: Route): Promise<Response> {
    const settings = current()
    const { config } = settings
    let { retryStatuses } = settings
    const startedAt = pool.now()
    const url = request.url
    const pathAt = url.indexOf('/', url.indexOf('//') + 2)
    const rule = route?.config
    const target = stripPrefix(pathAt === -1 ? '/' : url.slice(pathAt), rule?.stripPrefix)
    // Aborts when the client goes away before its response has been sent.
    const clientSignal = deps.clientSignal?.(request, env) ?? request.signal
    const method = request.method
    let { retries, timeouts } = config
    if (rule?.timeouts) timeouts = { ...timeouts, ...rule.timeouts }
    if (rule?.retries) {
      retries = { ...retries, ...rule.retries }
      if (rule.retries.statuses) retryStatuses = new Set(rule.retries.statuses)
    }
    // The body is offered to each attempt through a small replay buffer (DESIGN: retries).
    const body =
      BODYLESS.has(method) || request.body === null
        ? undefined
        : new ReplayableBody(request.body, {
            limit: retries.replayBuffer,
            idleTimeout: timeouts.clientIdle,
          })
    // May be sent twice: an idempotent method (RFC 9110 §9.2.2), or an Idempotency-Key
    // (draft-ietf-httpapi-idempotency-key-header) that lets the backend spot the repeat.
    const repeatable = IDEMPOTENT.has(method) || request.headers.has('idempotency-key')

    // The request id, the client, the fields for the backend and the sticky session: shared with
    // the WebSocket path. Awaited only when a sticky cookie has to be verified.
    const planned = planner.plan(request, target, deps.clientAddress(request, env))
    const plan = planned instanceof Promise ? await planned : planned
    const { requestId, client, headers } = plan
    if (rule?.requestHeaders) editHeaders(headers, rule.requestHeaders)

    const { observer } = ctx
    /** Backends tried so far; `finish` reads it, even for a request refused before any attempt. */
    let attempts = 0
    // One record per request, for the metrics and the access log, when the response has ended.
    const finish = (status: number, bytes: number, backend?: Backend, upstreamMs?: number) => {
      if (!observer) return
      const totalMs = pool.now() - startedAt
      observer.done({
        time: wallClock() - totalMs,
        requestId,
        client,
        method,
        target,
        host: plan.host,
        status,
        bytes,
        backend: backend?.id,
        upstreamMs,
        totalMs,
        retries: Math.max(0, attempts - 1),
        sticky: plan.stickyVerdict(backend),
        userAgent: request.headers.get('user-agent') ?? undefined,
        referer: request.headers.get('referer') ?? undefined,
        route: route?.name,
        pool: ctx.name,
      })
    }

    if (route?.buckets) {
      const limited = routeRateLimit(route.buckets, rule!.rateLimit!, request, client, requestId)
      if (limited) {
        void body?.cancel()
        finish(429, 0)
        return limited
      }
    }

    // Sticky sessions (DESIGN): the pinned backend first, then the strategy's candidates.
    let candidates = plan.candidates()[Symbol.iterator]()
    let lookedAgain = false
    /** The backends tried so far: the first, and a set made only for retries. */
    let first: string | undefined
    let tried: Set<string> | undefined
    /**
     * The next backend not tried yet that takes the request, with a slot taken on it. When every
     * candidate is full, wait in the queue (HAProxy `maxconn`, `timeout queue`), then look again.
     * In a Promise only when the request waits; one woken from the queue that finds every slot
     * taken again (`front`) goes back to the head.
     */
    const pick = (front = false): Picked | Promise<Picked> => {
      for (;;) {
        let busy = false
        for (let next = candidates.next(); !next.done; next = candidates.next()) {
          const backend = next.value
          if (backend.id === first || tried?.has(backend.id)) continue
          const admission = pool.tryAcquire(backend)
          if (admission === 'ok') return backend
          if (admission === 'busy') busy = true
        }
        if (!busy) {
          // Every candidate failed it. Look once more: the eligible set may have changed since
          // (a backend ejected, the backups now in), and the backups may take it even while
          // primaries are up (nginx passes a request its primaries failed to a `backup`).
          if (lookedAgain || attempts === 0) return undefined
          lookedAgain = true
          candidates = lookAgain(plan, pool)
          continue
        }
        return queue.wait(clientSignal, front).then((result) => {
          if (result !== 'ready') return result
          candidates = plan.candidates()[Symbol.iterator]()
          return pick(true)
        })
      }
    }

    /** Hand the upstream response to the client; the slot is released when its body ends. */
    const respond = (
      backend: Backend,
      upstream: Response,
      upstreamMs: number,
    ): Response | Promise<Response> => {
      // Pin (again) when the request landed elsewhere, and renew an ageing cookie.
      const cookie = plan.sessionCookie(backend)
      return cookie
        ? cookie.then((setCookie) => answer(backend, upstream, upstreamMs, setCookie))
        : answer(backend, upstream, upstreamMs, undefined)
    }
    const answer = (
      backend: Backend,
      upstream: Response,
      upstreamMs: number,
      setCookie: string | undefined,
    ): Response | Promise<Response> => {
      const response = toClientResponse(
        upstream,
        method,
        config.forwarding.via,
        (bytes, end) => {
          release(backend)
          // A body that broke off or stalled counts against the backend; a client that went
          // away does not.
          if (end === 'error' || end === 'timeout') {
            pool.recordOutcome(backend, end === 'timeout' ? 'timeout' : 'reset')
            if (!clientSignal.aborted) {
              logger.warn('upstream body aborted', { requestId, backend: backend.id, reason: end })
            }
          }
          finish(upstream.status, bytes, backend, upstreamMs)
        },
        timeouts.upstreamIdle,
        deps.watchBody,
        // The engine writes the upstream body as it is: no Response, no Web stream around it
        // (unless the route compresses it).
        http1Env(env) !== undefined && !rule?.compress,
      )
      // Appended, so that the backend's own Set-Cookie fields stay (RFC 6265 §3).
      if (setCookie) response.headers.append('set-cookie', setCookie)
      if (rule?.responseHeaders) editHeaders(response.headers, rule.responseHeaders)
      return rule?.compress ? compressResponse(request, response) : response
    }

    let retried = false
    let lastError: unknown
    /** A retryable answer kept until another backend takes the request; else it is the answer. */
    let held: { backend: Backend; upstream: Response; upstreamMs: number } | undefined
    /** Where and why the previous attempt failed, for the retry log line. */
    let reason: string | undefined
    let failedOn: string | undefined

    /** Whether the failed attempt may be tried on another backend (DESIGN: retries). */
    const mayTryAgain = async (backend: Backend, kind: FailureKind, why: string) => {
      if (attempts >= retries.attempts || clientSignal.aborted) return false
      // A repeat after a reset or an answer needs the whole body: read the rest, if it fits.
      let bodyReplayable = !body || body.replayable
      if (body && kind !== 'connect' && repeatable && bodyReplayable)
        bodyReplayable = await body.fill()
      const allowed = mayRetry({
        kind,
        repeatable,
        bodyReplayable,
        bodyUnsent: !body || body.unsent,
      })
      if (!allowed) return false
      if (!retried) {
        if (!budget.tryRetry()) {
          logger.warn('retry budget exhausted', { requestId, backend: backend.id, reason: why })
          return false
        }
        retried = true
      }
      reason = why
      failedOn = backend.id
      return true
    }

    budget.begin()
    try {
      for (;;) {
        let picked = pick()
        if (picked instanceof Promise) picked = await picked
        if (typeof picked !== 'object') {
          if (held) return respond(held.backend, held.upstream, held.upstreamMs)
          if (picked === 'full' || picked === 'timeout') {
            finish(503, 0)
            return errorResponse(
              503,
              picked === 'full' ? 'Queue full' : 'Queue timeout',
              requestId,
              { 'retry-after': String(Math.max(1, Math.ceil(config.queue.timeout / 1000))) },
            )
          }
          break
        }
        const backend = picked
        if (held) {
          // Another backend takes it: the kept answer is dropped.
          held.upstream.body?.cancel().catch(() => {})
          release(held.backend)
          held = undefined
        }
        if (attempts > 0) {
          logger.warn('retry', {
            requestId,
            method,
            from: failedOn,
            backend: backend.id,
            attempt: attempts + 1,
            reason,
          })
        }
        attempts++
        if (attempts === 1) first = backend.id
        else (tried ??= new Set()).add(backend.id)
        const sentAt = pool.now()
        let upstream: Response
        try {
          upstream = await sendUpstream(deps.fetch, {
            backend,
            method,
            target,
            headers,
            body: body ? body.stream() : null,
            clientSignal,
            responseHeadersTimeout: timeouts.responseHeaders,
          })
        } catch (error) {
          release(backend)
          lastError = error
          if (clientSignal.aborted || body?.timedOut) {
            // The client went away, or went silent: nothing to learn about the backend.
            pool.recordOutcome(backend, 'cancelled')
            break
          }
          const kind = failureKind(error)
          pool.recordOutcome(backend, kind)
          observer?.failure(backend, error)
          // A timeout is the slowest answer there is: least-time should see it.
          if (kind === 'timeout') pool.observeLatency(backend, pool.now() - sentAt)
          const why = `${kind}: ${String((error as Error)?.message ?? error)}`
          if (await mayTryAgain(backend, kind, why)) {
            observer?.retry(backend)
            continue
          }
          break
        }
        // Time to response headers feeds least-time's peak EWMA; reported load feeds resource.
        const answeredAt = pool.now()
        const upstreamMs = answeredAt - sentAt
        pool.observeLatency(backend, upstreamMs, answeredAt)
        observer?.response(backend, upstream.status, upstreamMs)
        if (ctx.loadMetrics) recordLoadMetrics(pool, backend, upstream.headers)
        pool.recordOutcome(backend, upstream.status >= 500 ? 'http5xx' : 'success', answeredAt)
        if (
          retryStatuses.has(upstream.status) &&
          (await mayTryAgain(backend, 'status', `status ${upstream.status}`))
        ) {
          observer?.retry(backend)
          held = { backend, upstream, upstreamMs }
          continue
        }
        return respond(backend, upstream, upstreamMs)
      }
    } finally {
      budget.end(retried)
    }

    if (body?.timedOut) {
      body.cancel()
      finish(408, 0)
      return errorResponse(408, 'Request body timed out', requestId, { connection: 'close' })
    }
    if (attempts === 0) {
      finish(503, 0)
      return errorResponse(503, 'No backend available', requestId, { 'retry-after': '1' })
    }
    if (lastError instanceof UpstreamTimeoutError) {
      finish(504, 0)
      return errorResponse(504, 'Upstream timed out', requestId)
    }
    if (!clientSignal.aborted) {
      logger.warn('upstream failed', {
        requestId,
        error: String((lastError as Error)?.message ?? lastError),
      })
    }
    finish(502, 0)
    return errorResponse(502, 'Upstream failed', requestId)
  }
}

/**
 * The target without the route's prefix: `/v1/users?id=7` with `/v1` is `/users?id=7`. Only a
 * whole segment is stripped (`/v1x` keeps its path), and an empty path becomes `/`. The path is
 * compared as the router matched it, percent-decoded: `/%761/users` loses its `/%761` too.
 */
export function stripPrefix(target: string, prefix: string | undefined): string {
  // `/v1/` is the prefix `/v1`: what follows it starts with `/` anyway.
  if (prefix?.endsWith('/')) prefix = prefix.slice(0, -1)
  if (!prefix) return target
  const end = prefixEnd(target, prefix)
  if (end === -1) return target
  const rest = target.slice(end)
  return rest === '' || rest.charCodeAt(0) === 0x3f ? '/' + rest : rest // '?'
}

/** Where `prefix` ends in `target`'s path, at a segment boundary; -1 when it does not lead it. */
function prefixEnd(target: string, prefix: string): number {
  const query = target.indexOf('?')
  const pathEnd = query === -1 ? target.length : query
  if (target.startsWith(prefix)) {
    const next = target.charCodeAt(prefix.length)
    return prefix.length === pathEnd || next === 0x2f ? prefix.length : -1 // '/'
  }
  if (!target.slice(0, pathEnd).includes('%')) return -1
  // Each segment boundary in turn, decoded as the router decodes the path (hono's getPath).
  for (let at = target.indexOf('/', 1); ; at = target.indexOf('/', at + 1)) {
    const end = at === -1 || at > pathEnd ? pathEnd : at
    const decoded = getPath({ url: 'http://h' + target.slice(0, end) } as Request)
    if (decoded === prefix) return end
    if (end === pathEnd || decoded.length >= prefix.length) return -1
  }
}

/** A route's header edits: `remove` first, then `set`. */
function editHeaders(headers: Headers, edits: HeaderEdits): void {
  for (const name of edits.remove) headers.delete(name)
  for (const name in edits.set) headers.set(name, edits.set[name]!)
}

/** A route's own rate limit: a 429 with the RateLimit fields, or `undefined` to go on. */
function routeRateLimit(
  buckets: TokenBuckets,
  limit: RateLimit,
  request: Request,
  client: string | undefined,
  requestId: string,
): Response | undefined {
  const decision = buckets.take(bucketKey(rateKeyHeader(limit), request.headers, client))
  if (decision.allowed) return undefined
  return errorResponse(429, 'Too many requests', requestId, {
    'ratelimit-policy': rateLimitPolicy(limit),
    ...decisionFields(decision),
    'retry-after': String(decision.retryAfter),
  })
}
