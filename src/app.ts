/**
 * The public Hono app: select a backend, forward, answer. Everything runtime-specific arrives
 * through {@link RuntimeDeps}.
 */
import { Hono } from 'hono'
import { getPath } from 'hono/utils/url'
import type { AbortSignalLike } from './abort.ts'
import { catchAllFirst } from './catch-all-router.ts'
import { requestTarget } from './edge/validate.ts'
import { wallClock } from './clock.ts'
import type { Config } from './config.ts'
import type { HeaderEdits, RouteConfig } from './config-routes.ts'
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
import { attemptUpstream, toClientResponse, type AttemptListener } from './forward.ts'
import { http1Env, originTarget, requestPath } from './http1/request.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import type { RequestObserver } from './observer.ts'
import type { BackendPool } from './pool.ts'
import { RequestQueue, type QueueResult } from './queue.ts'
import { ReplayableBody } from './replay.ts'
import { requestIdFrom } from './request-id.ts'
import { createRequestPlanner, type RequestPlan, type RequestPlanner } from './request-plan.ts'
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
  // Every request takes the one catch-all route: matched by method, no RegExp (catch-all-router.ts),
  // and the path of an engine request is read off its target (requestPath).
  const app = new Hono({ router: catchAllFirst(), getPath: requestPath })
  app.all('*', (c) => proxy(c.req.raw, c.env))
  app.onError((error, c) => {
    ctx.logger.error('internal error', { error: String(error) })
    return errorResponse(500, 'Internal error', requestIdFrom(c.req.header('x-request-id') ?? null))
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

  const release = (backend: Backend) => {
    pool.release(backend)
    queue.wake()
  }

  const shared: ProxyShared = { ctx, deps, pool, logger, queue, budget, planner, current, release }
  return function proxy(request: Request, env: unknown, route?: Route): Promise<Response> {
    try {
      return new Forwarding(shared, request, env, route).start()
    } catch (error) {
      // As from an async function: what goes wrong is a rejection, never a throw.
      return Promise.reject(error)
    }
  }
}

/** What every request through one pool's proxy shares: made once, by {@link createProxy}. */
interface ProxyShared {
  readonly ctx: ProxyContext
  readonly deps: RuntimeDeps
  readonly pool: BackendPool
  readonly logger: Logger
  readonly queue: RequestQueue
  readonly budget: RetryBudget
  readonly planner: RequestPlanner
  /** The settings of the config in force. */
  current(): Settings
  /** Give a backend's slot back, and let the request at the head of the queue have it. */
  release(backend: Backend): void
}

/** A retryable answer kept until another backend takes the request. */
interface Held {
  backend: Backend
  upstream: Response
  upstreamMs: number
}

/**
 * One request through a pool's proxy: select a backend, forward, answer. Its state is this
 * object's, and its steps are methods, instead of an async function's frame and a closure per
 * step made for every request. The first attempt's answer is followed with `then`: most requests
 * need nothing more, and the rest (a wait in the queue, a retry, a failure) go on in
 * `#loop`, an async function.
 */
class Forwarding implements AttemptListener {
  readonly #shared: ProxyShared
  readonly #request: Request
  readonly #env: unknown
  readonly #route: Route | undefined
  readonly #rule: RouteConfig | undefined
  readonly #config: Config
  readonly #retryStatuses: ReadonlySet<number>
  readonly #retries: Config['retries']
  readonly #timeouts: Config['timeouts']
  readonly #startedAt: number
  /**
   * The wall-clock time it came (the access log's `time`): read here, where the engine's socket
   * event has read the clock already (clock.ts), and not again when it ends.
   */
  readonly #startedWall: number
  readonly #target: string
  /** Aborts when the client goes away before its response has been sent. */
  readonly #clientSignal: AbortSignalLike
  readonly #method: string
  /** The body, offered to each attempt through a small replay buffer (DESIGN: retries). */
  readonly #body: ReplayableBody | undefined
  /**
   * May be sent twice: an idempotent method (RFC 9110 §9.2.2), or an Idempotency-Key
   * (draft-ietf-httpapi-idempotency-key-header) that lets the backend spot the repeat.
   */
  readonly #repeatable: boolean
  /** The request id, the client, the fields for the backend and the sticky session. */
  #plan!: RequestPlan
  /** Backends tried so far; `finish` reads it, even for a request refused before any attempt. */
  #attempts = 0
  /** Sticky sessions (DESIGN): the pinned backend first, then the strategy's candidates. */
  #candidates!: Iterator<Backend>
  #lookedAgain = false
  /** The backends tried so far: the first, and a set made only for retries. */
  #first: string | undefined
  #tried: Set<string> | undefined
  #retried = false
  #lastError: unknown
  #held: Held | undefined
  /** Where and why the previous attempt failed, for the retry log line. */
  #reason: string | undefined
  #failedOn: string | undefined
  /** The backend of the first attempt, and how the Promise {@link #planned} gave is settled. */
  #firstSent: Backend | undefined
  #resolve: ((answer: Response | Promise<Response>) => void) | undefined
  #reject: ((error: unknown) => void) | undefined
  /** When the attempt in flight was sent, and how long its answer took. */
  #sentAt = 0
  #upstreamMs = 0

  constructor(shared: ProxyShared, request: Request, env: unknown, route: Route | undefined) {
    const settings = shared.current()
    const config = settings.config
    this.#shared = shared
    this.#request = request
    this.#env = env
    this.#route = route
    this.#config = config
    this.#startedAt = shared.pool.now()
    this.#startedWall = wallClock()
    const rule = route?.config
    this.#rule = rule
    this.#target = stripPrefix(
      originTarget(request) ?? requestTarget(request, undefined),
      rule?.stripPrefix,
    )
    this.#clientSignal = shared.deps.clientSignal?.(request, env) ?? request.signal
    const method = request.method
    this.#method = method
    let { retries, timeouts } = config
    let retryStatuses = settings.retryStatuses
    if (rule?.timeouts) timeouts = { ...timeouts, ...rule.timeouts }
    if (rule?.retries) {
      retries = { ...retries, ...rule.retries }
      if (rule.retries.statuses) retryStatuses = new Set(rule.retries.statuses)
    }
    this.#retries = retries
    this.#timeouts = timeouts
    this.#retryStatuses = retryStatuses
    this.#body =
      BODYLESS.has(method) || request.body === null
        ? undefined
        : new ReplayableBody(request.body, {
            limit: retries.replayBuffer,
            idleTimeout: timeouts.clientIdle,
          })
    this.#repeatable = IDEMPOTENT.has(method) || request.headers.has('idempotency-key')
  }

  /** Forward the request: the answer for the client. */
  start(): Promise<Response> {
    // Shared with the WebSocket path; a Promise only when a sticky cookie has to be verified.
    const planned = this.#shared.planner.plan(
      this.#request,
      this.#target,
      this.#shared.deps.clientAddress(this.#request, this.#env),
    )
    if (planned instanceof Promise) return planned.then((plan) => this.#planned(plan))
    return Promise.resolve(this.#planned(planned))
  }

  /** The request is planned: the route's rate limit, then the first attempt. */
  #planned(plan: RequestPlan): Response | Promise<Response> {
    this.#plan = plan
    const rule = this.#rule
    if (rule?.requestHeaders) editHeaders(plan.headers, rule.requestHeaders)
    const buckets = this.#route?.buckets
    if (buckets) {
      const limited = routeRateLimit(
        buckets,
        rule!.rateLimit!,
        this.#request,
        plan.client,
        plan.requestId,
      )
      if (limited) {
        void this.#body?.cancel()
        this.#finish(429, 0)
        return limited
      }
    }
    this.#candidates = plan.candidates()[Symbol.iterator]()
    const { budget } = this.#shared
    budget.begin()
    let picked: Picked | Promise<Picked>
    try {
      picked = this.#pick()
    } catch (error) {
      budget.end(this.#retried)
      throw error
    }
    if (picked instanceof Promise || typeof picked !== 'object') return this.#loop(picked)
    // The common case: a backend took the request at once. An answer to keep ends it here;
    // a failure, or a status to retry, goes on in the loop (which reads `sent` again).
    // The attempt tells this object how it went (`answered`, `failed`): no Promise between the
    // upstream client's and the one answered here.
    const backend = picked
    this.#firstSent = backend
    return new Promise<Response>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
      this.#attempt(backend, this)
    })
  }

  /** The first attempt's answer (an {@link AttemptListener}'s method): kept, or retried. */
  answered(upstream: Response): void {
    const backend = this.#firstSent!
    try {
      this.#resolve!(
        this.#retryStatuses.has(upstream.status)
          ? this.#loop(backend, Promise.resolve(upstream))
          : this.#final(backend, upstream),
      )
    } catch (error) {
      this.#reject!(error)
    }
  }

  /** The first attempt failed (an {@link AttemptListener}'s method): the loop goes on from it. */
  failed(error: unknown): void {
    this.#resolve!(this.#loop(this.#firstSent!, Promise.reject(error)))
  }

  /** The first attempt's answer, not one to retry: the client's. */
  #final(backend: Backend, upstream: Response): Response | Promise<Response> {
    try {
      this.#observe(backend, upstream)
      return this.#respond(backend, upstream, this.#upstreamMs)
    } finally {
      this.#shared.budget.end(this.#retried)
    }
  }

  /**
   * The attempts, until one answers for good or none is left. `sent` is an attempt already made
   * on `picked` (the first, whose answer is read again here).
   */
  async #loop(picked: Picked | Promise<Picked>, sent?: Promise<Response>): Promise<Response> {
    const { pool, budget, ctx } = this.#shared
    const { observer } = ctx
    try {
      for (; ; picked = this.#pick()) {
        if (!sent) {
          if (picked instanceof Promise) picked = await picked
          if (typeof picked !== 'object') {
            const held = this.#held
            if (held) return this.#respond(held.backend, held.upstream, held.upstreamMs)
            if (picked === 'full' || picked === 'timeout') {
              this.#finish(503, 0)
              return errorResponse(
                503,
                picked === 'full' ? 'Queue full' : 'Queue timeout',
                this.#plan.requestId,
                {
                  'retry-after': String(Math.max(1, Math.ceil(this.#config.queue.timeout / 1000))),
                },
              )
            }
            break
          }
          sent = this.#send(picked)
        }
        const backend = picked as Backend
        let upstream: Response
        try {
          upstream = await sent
        } catch (error) {
          sent = undefined
          this.#shared.release(backend)
          this.#lastError = error
          if (this.#clientSignal.aborted || this.#body?.timedOut) {
            // The client went away, or went silent: nothing to learn about the backend.
            pool.recordOutcome(backend, 'cancelled')
            break
          }
          const kind = failureKind(error)
          pool.recordOutcome(backend, kind)
          observer?.failure(backend, error)
          // A timeout is the slowest answer there is: least-time should see it.
          if (kind === 'timeout') pool.observeLatency(backend, pool.now() - this.#sentAt)
          const why = `${kind}: ${String((error as Error)?.message ?? error)}`
          if (await this.#mayTryAgain(backend, kind, why)) {
            observer?.retry(backend)
            continue
          }
          break
        }
        sent = undefined
        this.#observe(backend, upstream)
        const { status } = upstream
        if (
          this.#retryStatuses.has(status) &&
          (await this.#mayTryAgain(backend, 'status', `status ${status}`))
        ) {
          observer?.retry(backend)
          this.#held = { backend, upstream, upstreamMs: this.#upstreamMs }
          continue
        }
        return this.#respond(backend, upstream, this.#upstreamMs)
      }
    } finally {
      budget.end(this.#retried)
    }
    return this.#unanswered()
  }

  /** Send the request to `backend`: its response headers, or why the attempt failed. */
  #send(backend: Backend): Promise<Response> {
    return new Promise<Response>((answered, failed) => this.#attempt(backend, { answered, failed }))
  }

  /**
   * Send the request to `backend` (the previous attempt's kept answer dropped); `listener` is told
   * how it went, never before this returns.
   */
  #attempt(backend: Backend, listener: AttemptListener): void {
    const { pool, deps, logger } = this.#shared
    const held = this.#held
    if (held) {
      // Another backend takes it: the kept answer is dropped.
      held.upstream.body?.cancel().catch(() => {})
      this.#shared.release(held.backend)
      this.#held = undefined
    }
    if (this.#attempts > 0) {
      logger.warn('retry', {
        requestId: this.#plan.requestId,
        method: this.#method,
        from: this.#failedOn,
        backend: backend.id,
        attempt: this.#attempts + 1,
        reason: this.#reason,
      })
    }
    this.#attempts++
    if (this.#attempts === 1) this.#first = backend.id
    else (this.#tried ??= new Set()).add(backend.id)
    this.#sentAt = pool.now()
    const body = this.#body
    try {
      attemptUpstream(
        deps.fetch,
        {
          backend,
          method: this.#method,
          target: this.#target,
          headers: this.#plan.headers,
          body: body ? body.stream() : null,
          clientSignal: this.#clientSignal,
          responseHeadersTimeout: this.#timeouts.responseHeaders,
        },
        listener,
      )
    } catch (error) {
      // A failed attempt, as one whose answer failed: its slot is given back in the loop.
      queueMicrotask(() => listener.failed(error))
    }
  }

  /**
   * What an answer tells about its backend: time to response headers feeds least-time's peak
   * EWMA; reported load feeds resource.
   */
  #observe(backend: Backend, upstream: Response): void {
    const { pool, ctx } = this.#shared
    const answeredAt = pool.now()
    const upstreamMs = answeredAt - this.#sentAt
    this.#upstreamMs = upstreamMs
    pool.observeLatency(backend, upstreamMs, answeredAt)
    ctx.observer?.response(backend, upstream.status, upstreamMs)
    if (ctx.loadMetrics) recordLoadMetrics(pool, backend, upstream.headers)
    pool.recordOutcome(backend, upstream.status >= 500 ? 'http5xx' : 'success', answeredAt)
  }

  /** The answer when no backend gave one. */
  #unanswered(): Response {
    const { requestId } = this.#plan
    const body = this.#body
    if (body?.timedOut) {
      body.cancel()
      this.#finish(408, 0)
      return errorResponse(408, 'Request body timed out', requestId, { connection: 'close' })
    }
    if (this.#attempts === 0) {
      this.#finish(503, 0)
      return errorResponse(503, 'No backend available', requestId, { 'retry-after': '1' })
    }
    const lastError = this.#lastError
    if (lastError instanceof UpstreamTimeoutError) {
      this.#finish(504, 0)
      return errorResponse(504, 'Upstream timed out', requestId)
    }
    if (!this.#clientSignal.aborted) {
      this.#shared.logger.warn('upstream failed', {
        requestId,
        error: String((lastError as Error)?.message ?? lastError),
      })
    }
    this.#finish(502, 0)
    return errorResponse(502, 'Upstream failed', requestId)
  }

  /** One record per request, for the metrics and the access log, when the response has ended. */
  #finish(status: number, bytes: number, backend?: Backend, upstreamMs?: number): void {
    const { ctx, pool } = this.#shared
    const observer = ctx.observer
    if (!observer) return
    const plan = this.#plan
    const headers = this.#request.headers
    const totalMs = pool.now() - this.#startedAt
    observer.done({
      time: this.#startedWall,
      requestId: plan.requestId,
      client: plan.client,
      method: this.#method,
      target: this.#target,
      host: plan.host,
      status,
      bytes,
      backend: backend?.id,
      upstreamMs,
      totalMs,
      retries: Math.max(0, this.#attempts - 1),
      sticky: plan.stickyVerdict(backend),
      userAgent: headers.get('user-agent') ?? undefined,
      referer: headers.get('referer') ?? undefined,
      route: this.#route?.name,
      pool: ctx.name,
    })
  }

  /**
   * The next backend not tried yet that takes the request, with a slot taken on it. When every
   * candidate is full, wait in the queue (HAProxy `maxconn`, `timeout queue`), then look again.
   * In a Promise only when the request waits; one woken from the queue that finds every slot
   * taken again (`front`) goes back to the head.
   */
  #pick(front = false): Picked | Promise<Picked> {
    const { pool, queue } = this.#shared
    for (;;) {
      let busy = false
      const candidates = this.#candidates
      for (let next = candidates.next(); !next.done; next = candidates.next()) {
        const backend = next.value
        if (backend.id === this.#first || this.#tried?.has(backend.id)) continue
        const admission = pool.tryAcquire(backend)
        if (admission === 'ok') return backend
        if (admission === 'busy') busy = true
      }
      if (!busy) {
        // Every candidate failed it. Look once more: the eligible set may have changed since
        // (a backend ejected, the backups now in), and the backups may take it even while
        // primaries are up (nginx passes a request its primaries failed to a `backup`).
        if (this.#lookedAgain || this.#attempts === 0) return undefined
        this.#lookedAgain = true
        this.#candidates = lookAgain(this.#plan, pool)
        continue
      }
      return queue.wait(this.#clientSignal, front).then((result) => {
        if (result !== 'ready') return result
        this.#candidates = this.#plan.candidates()[Symbol.iterator]()
        return this.#pick(true)
      })
    }
  }

  /** Hand the upstream response to the client; the slot is released when its body ends. */
  #respond(backend: Backend, upstream: Response, upstreamMs: number): Response | Promise<Response> {
    // Pin (again) when the request landed elsewhere, and renew an ageing cookie.
    const cookie = this.#plan.sessionCookie(backend)
    return cookie
      ? cookie.then((setCookie) => this.#answer(backend, upstream, upstreamMs, setCookie))
      : this.#answer(backend, upstream, upstreamMs, undefined)
  }

  #answer(
    backend: Backend,
    upstream: Response,
    upstreamMs: number,
    setCookie: string | undefined,
  ): Response | Promise<Response> {
    const { pool, deps, logger } = this.#shared
    const rule = this.#rule
    const response = toClientResponse(
      upstream,
      this.#method,
      this.#config.forwarding.via,
      (bytes, end) => {
        this.#shared.release(backend)
        // A body that broke off or stalled counts against the backend; a client that went
        // away does not.
        if (end === 'error' || end === 'timeout') {
          pool.recordOutcome(backend, end === 'timeout' ? 'timeout' : 'reset')
          if (!this.#clientSignal.aborted) {
            logger.warn('upstream body aborted', {
              requestId: this.#plan.requestId,
              backend: backend.id,
              reason: end,
            })
          }
        }
        this.#finish(upstream.status, bytes, backend, upstreamMs)
      },
      this.#timeouts.upstreamIdle,
      deps.watchBody,
      // The engine writes the upstream body as it is: no Response, no Web stream around it
      // (unless the route compresses it).
      http1Env(this.#env) !== undefined && !rule?.compress,
    )
    // Appended, so that the backend's own Set-Cookie fields stay (RFC 6265 §3).
    if (setCookie) response.headers.append('set-cookie', setCookie)
    if (rule?.responseHeaders) editHeaders(response.headers, rule.responseHeaders)
    return rule?.compress ? compressResponse(this.#request, response) : response
  }

  /** Whether the failed attempt may be tried on another backend (DESIGN: retries). */
  async #mayTryAgain(backend: Backend, kind: FailureKind, why: string): Promise<boolean> {
    if (this.#attempts >= this.#retries.attempts || this.#clientSignal.aborted) return false
    // A repeat after a reset or an answer needs the whole body: read the rest, if it fits.
    const body = this.#body
    let bodyReplayable = !body || body.replayable
    if (body && kind !== 'connect' && this.#repeatable && bodyReplayable)
      bodyReplayable = await body.fill()
    const allowed = mayRetry({
      kind,
      repeatable: this.#repeatable,
      bodyReplayable,
      bodyUnsent: !body || body.unsent,
    })
    if (!allowed) return false
    if (!this.#retried) {
      if (!this.#shared.budget.tryRetry()) {
        this.#shared.logger.warn('retry budget exhausted', {
          requestId: this.#plan.requestId,
          backend: backend.id,
          reason: why,
        })
        return false
      }
      this.#retried = true
    }
    this.#reason = why
    this.#failedOn = backend.id
    return true
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
