/**
 * A pool in service: one backend set with everything that works on it at run time: the strategy's
 * selector, the sticky sessions, the active health checks, the proxy that forwards to it and the
 * WebSocket router. The balancer keeps one per configured pool; routes choose between them.
 */
import { createProxy, type Proxy, type ProxyContext } from './app.ts'
import type { Config, StrategyName, StrategyOptions } from './config.ts'
import type { Edge } from './edge/edge.ts'
import { WebSocketRouter } from './websocket.ts'
import { createHealthChecker } from './health/checker.ts'
import { EXEC_OUTPUT_LIMIT, execProbe, httpProbe, tcpProbe } from './health/probe.ts'
import type { ProbeScheduler } from './health/scheduler.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import type { RequestObserver } from './observer.ts'
import { BackendPool } from './pool.ts'
import { bindSelector, strategies, type Selector } from './strategies/index.ts'
import { createStickySessions } from './sticky.ts'
import type { Logger, RuntimeDeps } from './types.ts'

/** What every pool of a balancer shares. */
export interface ServicePoolOptions {
  /** The pool's name in the config. */
  name: string
  /** The pool's settings, as a whole config (see `poolConfigOf`). */
  config: Config
  /** The runtime's dependencies, with the edge's client address. */
  deps: RuntimeDeps
  logger: Logger
  edge: Edge
  observer?: RequestObserver
}

/**
 * One pool at run time.
 *
 * @example
 * ```ts
 * const api = new ServicePool({ name: 'api', config: poolConfigOf(config, 'api')!, deps, logger, edge })
 * api.start()
 * const response = await api.proxy(request, env, route)
 * ```
 */
export class ServicePool {
  readonly name: string
  readonly pool: BackendPool
  /** Forwards a request to this pool's backends. */
  readonly proxy: Proxy
  /** Chooses this pool's backend for WebSocket handshakes, and keeps the open WebSockets. */
  readonly webSockets: WebSocketRouter
  readonly #ctx: ProxyContext
  readonly #deps: RuntimeDeps
  readonly #logger: Logger
  // Rebuilt only when the eligible set changes; load-aware selectors hear of each load change.
  // A strategy swapped at run time unbinds the old selector.
  #unbind = new AbortController()
  #selector: () => Selector = () => {
    throw new Error('No selector')
  }
  #checker: ProbeScheduler | undefined
  #started = false

  constructor(options: ServicePoolOptions) {
    const { name, config, deps, logger } = options
    this.name = name
    this.#deps = deps
    this.#logger = logger
    this.pool = new BackendPool(config.backends, {
      rise: config.healthCheck.rise,
      fall: config.healthCheck.fall,
      logger,
      latencyDecay: config.strategyOptions.leastTime.decay,
    })
    this.#ctx = {
      name,
      config,
      deps,
      pool: this.pool,
      logger,
      selector: () => this.#selector(),
      sticky: config.sticky.enabled ? createStickySessions(config.sticky, logger) : undefined,
      observer: options.observer,
    }
    this.setStrategy(config.strategy, config.strategyOptions)
    this.proxy = createProxy(this.#ctx)
    this.webSockets = new WebSocketRouter({
      config: () => this.#ctx.config,
      pool: this.pool,
      selector: () => this.#selector(),
      sticky: () => this.#ctx.sticky,
      edge: options.edge,
      logger,
    })
    this.#checker = this.#createChecker(config.healthCheck)
  }

  /** The pool's settings in force. */
  get config(): Config {
    return this.#ctx.config
  }

  /** The selector for the current eligible set. */
  get selector(): Selector {
    return this.#selector()
  }

  /** The sticky-session layer, when the pool has one. */
  get sticky() {
    return this.#ctx.sticky
  }

  /** The request queue the proxy keeps. */
  get queueDepth(): number {
    return this.#ctx.queue?.length ?? 0
  }

  /** Switch the balancing strategy; the selector is rebuilt once. */
  setStrategy(name: StrategyName, options: StrategyOptions): void {
    this.#unbind.abort()
    this.#unbind = new AbortController()
    const strategy = strategies[name]
    this.#selector = bindSelector(this.pool, strategy, options, this.#unbind.signal)
    this.#ctx.loadMetrics = strategy.needs?.utilisation === true
  }

  /**
   * Take new settings: the strategy when it changed, sticky sessions and health checks when
   * theirs did, and every per-request setting at the next request. Backends are the control
   * plane's business.
   */
  configure(next: Config): void {
    const previous = this.#ctx.config
    if (previous === next) return
    this.#ctx.config = next
    if (
      previous.strategy !== next.strategy ||
      JSON.stringify(previous.strategyOptions) !== JSON.stringify(next.strategyOptions)
    ) {
      this.setStrategy(next.strategy, next.strategyOptions)
    }
    if (JSON.stringify(previous.sticky) !== JSON.stringify(next.sticky)) {
      this.#ctx.sticky = next.sticky.enabled
        ? createStickySessions(next.sticky, this.#logger)
        : undefined
    }
    if (JSON.stringify(previous.healthCheck) !== JSON.stringify(next.healthCheck)) {
      const old = this.#checker
      this.#checker = this.#createChecker(next.healthCheck)
      void old?.stop()
      if (this.#started) this.#checker?.start()
    }
  }

  /** Start the active health checks. */
  start(): void {
    this.#started = true
    this.#checker?.start()
  }

  /** Stop the health checks and the selector; requests in flight finish. */
  async stop(): Promise<void> {
    this.#started = false
    await this.#checker?.stop()
  }

  /** Stop for good: the pool left the config. */
  async retire(): Promise<void> {
    await this.stop()
    this.#unbind.abort()
  }

  /** Requests in flight to this pool's backends, response bodies included. */
  inflight(): number {
    let total = 0
    for (const state of this.pool.states()) total += state.inflight
    return total
  }

  #createChecker(healthCheck: Config['healthCheck']): ProbeScheduler | undefined {
    if (!healthCheck.enabled) return undefined
    const probe =
      healthCheck.type === 'tcp'
        ? tcpProbe(this.#deps.tcpConnect)
        : healthCheck.type === 'exec'
          ? execProbe(this.#deps.exec, {
              // The schema requires a command for exec checks.
              command: healthCheck.command ?? [],
              timeout: healthCheck.timeout,
              maxOutput: EXEC_OUTPUT_LIMIT,
              logger: this.#logger,
            })
          : httpProbe(this.#deps.fetch, {
              path: healthCheck.path,
              expectStatus: healthCheck.expectStatus,
              // Backends may report their load on health responses too (ORCA out-of-band style).
              onResponse: (backend, response) => {
                if (this.#ctx.loadMetrics) recordLoadMetrics(this.pool, backend, response.headers)
              },
            })
    return createHealthChecker(this.pool, probe, healthCheck)
  }
}
