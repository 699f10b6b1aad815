/**
 * `createBalancer` wires the pool, the strategy, the health checker and the public app together.
 * The runtime entry points call it and serve `app.fetch`.
 */
import type { Hono } from 'hono'
import { createApp } from './app.ts'
import type { Config } from './config.ts'
import { createHealthChecker } from './health/checker.ts'
import { httpProbe, tcpProbe } from './health/probe.ts'
import type { ProbeScheduler } from './health/scheduler.ts'
import { createJsonLogger } from './log.ts'
import { BackendPool } from './pool.ts'
import { recordLoadMetrics } from './load-metrics.ts'
import { bindSelector, strategies } from './strategies/index.ts'
import { createStickySessions, type StickySessions } from './sticky.ts'
import type { Logger, RuntimeDeps } from './types.ts'

/** A running balancer's parts. */
export interface Balancer {
  /** The public app: serve `app.fetch`. */
  readonly app: Hono
  readonly pool: BackendPool
  /** The sticky-session layer, when `sticky.enabled`. */
  readonly sticky: StickySessions | undefined
  readonly config: Config
  readonly logger: Logger
  /** Start the active health checks. */
  start(): void
  /** Stop the health checks; in-flight requests are left to finish. */
  stop(): Promise<void>
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
 * Deno.serve(balancer.app.fetch)
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
  const strategy = strategies[config.strategy]
  // Rebuilt only when the eligible set changes; load-aware selectors hear of each load change.
  const currentSelector = bindSelector(pool, strategy, config.strategyOptions)
  const loadMetrics = strategy.needs?.utilisation === true

  const sticky = config.sticky.enabled ? createStickySessions(config.sticky, logger) : undefined
  const app = createApp({
    config,
    deps,
    pool,
    logger,
    selector: currentSelector,
    sticky,
    loadMetrics,
  })

  let checker: ProbeScheduler | undefined
  if (healthCheck.enabled) {
    const probe =
      healthCheck.type === 'tcp'
        ? tcpProbe(deps.tcpConnect)
        : httpProbe(deps.fetch, {
            path: healthCheck.path,
            expectStatus: healthCheck.expectStatus,
            // Backends may report their load on health responses too (ORCA out-of-band style).
            onResponse: loadMetrics
              ? (backend, response) => recordLoadMetrics(pool, backend, response.headers)
              : undefined,
          })
    checker = createHealthChecker(pool, probe, healthCheck)
  }

  return {
    app,
    pool,
    sticky,
    config,
    logger,
    start() {
      if (pool.size === 0) {
        logger.warn('no backends configured: answering 503 until backends are added', {})
      }
      checker?.start()
    },
    async stop() {
      await checker?.stop()
    },
    inflight() {
      let total = 0
      for (const state of pool.states()) total += state.inflight
      return total
    },
  }
}
