/**
 * `createBalancer` wires the pool, the strategy, the health checker and the public app together.
 * The runtime entry points call it and serve `app.fetch`.
 */
import type { Hono } from 'hono'
import { AccessLog } from './access-log.ts'
import { createAdminApp } from './admin/app.ts'
import { ControlPlane, type ConfigChanges } from './admin/control.ts'
import { createApp, type ProxyContext } from './app.ts'
import { createEdge, type Edge } from './edge/edge.ts'
import { WebSocketRouter } from './edge/websocket.ts'
import type { Config, StrategyName, StrategyOptions } from './config.ts'
import { createHealthChecker } from './health/checker.ts'
import { httpProbe, tcpProbe } from './health/probe.ts'
import type { ProbeScheduler } from './health/scheduler.ts'
import { createJsonLogger } from './log.ts'
import { BackendPool } from './pool.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import { Metrics } from './metrics.ts'
import { createObserver } from './observer.ts'
import { bindSelector, strategies, type Selector } from './strategies/index.ts'
import { base64url, createStickySessions, type StickySessions } from './sticky.ts'
import type { Logger, RuntimeDeps } from './types.ts'

/** A running balancer's parts. */
export interface Balancer {
  /** The public app, without the edge: tests drive it with `app.request()`. */
  readonly app: Hono
  /** What the public listener serves: the edge (limits, access, rate limit), then the app. */
  readonly fetch: (request: Request, env: unknown) => Response | Promise<Response>
  /** The edge in front of the app. */
  readonly edge: Edge
  /**
   * WebSocket handshakes: the backend choice (same strategy, sticky and health as HTTP) and the
   * open WebSockets, which count as load and which drain and shutdown close with 1001.
   */
  readonly webSockets: WebSocketRouter
  /**
   * The admin app (REST API, metrics, dashboard): serve it on its own listener, never on the
   * public one. `undefined` when `admin.enabled` is false.
   */
  readonly admin: Hono | undefined
  /** The admin bearer token: the configured one, or one generated at start. */
  readonly adminToken: string | undefined
  /** Whether {@link adminToken} was generated (the runtime prints it, once). */
  readonly adminTokenGenerated: boolean
  /** Every change at run time goes through it: the admin API, leases, discovery, reloads. */
  readonly control: ControlPlane
  readonly metrics: Metrics
  readonly pool: BackendPool
  /** The sticky-session layer, when `sticky.enabled`. */
  readonly sticky: StickySessions | undefined
  /** The effective config: as started, with every change made since. */
  readonly config: Config
  readonly logger: Logger
  /** Start the active health checks and DNS discovery. */
  start(): void
  /**
   * Stop the health checks and discovery, flush the access log, write the state file; in-flight
   * requests are left to finish.
   */
  stop(): Promise<void>
  /**
   * Restore `admin.stateFile`, when it exists. Call it before serving.
   *
   * @throws {ConfigError} naming the state file when it is not valid
   */
  restoreState(): Promise<boolean>
  /** Swap in a new, validated config (a reload): see {@link ControlPlane.applyConfig}. */
  reload(config: Config): ConfigChanges
  /** Requests in flight to any backend, response bodies included. */
  inflight(): number
}

/**
 * Build a balancer from a validated config and the runtime's dependencies.
 *
 * @example
 * ```ts
 * const balancer = createBalancer(parseConfig({ backends: ['http://127.0.0.1:9001'] }), deps)
 * balancer.start()
 * serve({ fetch: balancer.app.fetch }) // the runtime's server
 * ```
 */
export function createBalancer(config: Config, deps: RuntimeDeps): Balancer {
  const logger = deps.logger ?? createJsonLogger()
  const { healthCheck } = config
  const pool = new BackendPool(config.backends, {
    rise: healthCheck.rise,
    fall: healthCheck.fall,
    logger,
    latencyDecay: config.strategyOptions.leastTime.decay,
  })
  const metrics = new Metrics()
  const accessLog = config.accessLog.enabled
    ? new AccessLog({
        write: deps.accessLog ?? ((lines) => console.log(lines.trimEnd())),
        format: config.accessLog.format,
        flushInterval: config.accessLog.flushInterval,
        bufferSize: config.accessLog.bufferSize,
      })
    : undefined
  pool.watchTransitions((t) => {
    if (t.to === 'ejected') metrics.backend(t.id).ejections++
    else if (t.to === 'removed') metrics.forget(t.id)
  })

  // Rebuilt only when the eligible set changes; load-aware selectors hear of each load change.
  // A strategy swapped at run time unbinds the old selector.
  let unbind = new AbortController()
  let currentSelector: () => Selector = () => {
    throw new Error('No selector')
  }
  // The edge reads the config in force (a reload replaces it) and re-creates some requests, so
  // the app asks the edge for their client address.
  const edge = createEdge({ config: () => ctx.config, deps, logger })
  const ctx: ProxyContext = {
    config,
    deps: { ...deps, clientAddress: edge.clientAddress },
    pool,
    logger,
    selector: () => currentSelector(),
    sticky: config.sticky.enabled ? createStickySessions(config.sticky, logger) : undefined,
    observer: createObserver(metrics, accessLog),
  }
  const setStrategy = (name: StrategyName, options: StrategyOptions) => {
    unbind.abort()
    unbind = new AbortController()
    const strategy = strategies[name]
    currentSelector = bindSelector(pool, strategy, options, unbind.signal)
    ctx.loadMetrics = strategy.needs?.utilisation === true
  }
  setStrategy(config.strategy, config.strategyOptions)
  const app = createApp(ctx)
  const webSockets = new WebSocketRouter({
    config: () => ctx.config,
    pool,
    selector: () => currentSelector(),
    sticky: () => ctx.sticky,
    edge,
    logger,
  })

  let started = false
  const createChecker = (healthCheck: Config['healthCheck']): ProbeScheduler | undefined => {
    if (!healthCheck.enabled) return undefined
    const probe =
      healthCheck.type === 'tcp'
        ? tcpProbe(deps.tcpConnect)
        : httpProbe(deps.fetch, {
            path: healthCheck.path,
            expectStatus: healthCheck.expectStatus,
            // Backends may report their load on health responses too (ORCA out-of-band style).
            onResponse: (backend, response) => {
              if (ctx.loadMetrics) recordLoadMetrics(pool, backend, response.headers)
            },
          })
    return createHealthChecker(pool, probe, healthCheck)
  }
  let checker = createChecker(healthCheck)

  const control = new ControlPlane({
    config,
    deps,
    logger,
    core: {
      pool,
      setStrategy,
      reconfigure(previous, next) {
        ctx.config = next
        if (JSON.stringify(previous.sticky) !== JSON.stringify(next.sticky)) {
          ctx.sticky = next.sticky.enabled ? createStickySessions(next.sticky, logger) : undefined
        }
        if (JSON.stringify(previous.healthCheck) !== JSON.stringify(next.healthCheck)) {
          const old = checker
          checker = createChecker(next.healthCheck)
          void old?.stop()
          if (started) checker?.start()
        }
      },
    },
  })

  const configuredToken = config.admin.token
  const adminToken = config.admin.enabled
    ? (configuredToken ?? base64url(crypto.getRandomValues(new Uint8Array(24))))
    : undefined
  const admin =
    adminToken === undefined
      ? undefined
      : createAdminApp({
          token: adminToken,
          control,
          pool,
          metrics,
          deps,
          logger,
          selection: () => ({ config: control.config, sticky: ctx.sticky }),
          // The request queue, where the app keeps one.
          queueDepth: () => (ctx as { queue?: { length: number } }).queue?.length ?? 0,
        })

  return {
    app,
    edge,
    webSockets,
    fetch: (request, env) => edge.handle(request, env, app.fetch),
    admin,
    adminToken,
    adminTokenGenerated: adminToken !== undefined && configuredToken === undefined,
    control,
    metrics,
    pool,
    get sticky() {
      return ctx.sticky
    },
    get config() {
      return control.config
    },
    logger,
    start() {
      if (pool.size === 0 && control.config.discovery.length === 0) {
        logger.warn('no backends configured: answering 503 until backends are added', {})
      }
      started = true
      checker?.start()
      control.start()
    },
    async stop() {
      started = false
      await Promise.all([checker?.stop(), control.stop()])
      accessLog?.flush()
    },
    restoreState: () => control.restore(),
    reload: (next) => control.applyConfig(next),
    inflight() {
      let total = 0
      for (const state of pool.states()) total += state.inflight
      return total
    },
  }
}
