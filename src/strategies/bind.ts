import type { Backend } from '../types.ts'
import type { StrategyName } from '../config.ts'
import type { BuildOptions, LoadView, Selector, Strategy } from './strategy.ts'
import { weightedLeastConnections } from './weighted-least-connections.ts'
import { weightedRoundRobin } from './weighted-round-robin.ts'

/** Strategies whose picks must not move while a backend ramps up: they hash keys to backends. */
const SLOW_START_EXEMPT: ReadonlySet<StrategyName> = new Set([
  'ip-hash',
  'url-hash',
  'consistent-hash',
])

/** The weighted strategy that stands in for an unweighted one during a slow-start ramp. */
const SLOW_START_TWIN: Partial<Record<StrategyName, Strategy>> = {
  'round-robin': weightedRoundRobin,
  'least-connections': weightedLeastConnections,
}

/** What {@link bindSelector} needs of a backend pool. `BackendPool` has it. */
export interface SelectorSource extends LoadView {
  /** Changes whenever the eligible set may have changed. */
  readonly version: number
  /** The backends that may take new requests. */
  eligible(): readonly Backend[]
  /**
   * {@link eligible} with slow-start weights: a backend that ramps up has its weight scaled down.
   * Without it, strategies always see full weights.
   */
  effectiveEligible?(): readonly Backend[]
  /** Whether some backend ramps up now (slow start). */
  readonly ramping?: boolean
  /** Call `listener` after every change to a backend's load; returns a function that stops it. */
  watchLoad(listener: (backend: Backend) => void): () => void
}

/**
 * Keep a strategy's selector in step with a pool: rebuilt when the eligible set changes (never
 * per request), and told about each load change when it orders backends by load.
 *
 * @param signal unbinds the selector from the pool's load changes when it aborts
 * @returns the current selector, for each request
 * @example
 * ```ts
 * const selector = bindSelector(pool, strategies['least-connections'])
 * for (const backend of selector().candidates(input, pool)) …
 * ```
 */
export function bindSelector(
  pool: SelectorSource,
  strategy: Strategy,
  options?: BuildOptions,
  signal?: AbortSignal,
): () => Selector {
  const build = () => {
    // Slow start: while a backend ramps up, weighted strategies build from effective weights,
    // and the unweighted ones stand in for their weighted twins (equal weights give the same
    // picks). Hash strategies keep full weights so that no key moves, as HAProxy's static
    // algorithms ignore `slowstart`.
    if (pool.effectiveEligible && pool.ramping && !SLOW_START_EXEMPT.has(strategy.name)) {
      const ramped = SLOW_START_TWIN[strategy.name] ?? strategy
      return ramped.build(pool.effectiveEligible(), options)
    }
    return strategy.build(pool.eligible(), options)
  }
  let selector = build()
  let builtFor = pool.version
  // A stale selector may hear of a change before it is replaced; it only re-orders itself. A new
  // one reads every load from the pool when first used.
  if (selector.loadChanged || SLOW_START_TWIN[strategy.name]) {
    const unwatch = pool.watchLoad((backend) => selector.loadChanged?.(backend, pool))
    // Unbound when the strategy is replaced at run time, so the old selector hears no more.
    signal?.addEventListener('abort', unwatch, { once: true })
  }
  return () => {
    if (builtFor !== pool.version) {
      selector = build()
      builtFor = pool.version
    }
    return selector
  }
}
