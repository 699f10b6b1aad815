import type { Backend } from '../types.ts'
import type { BuildOptions, LoadView, Selector, Strategy } from './strategy.ts'

/** What {@link bindSelector} needs of a backend pool. `BackendPool` has it. */
export interface SelectorSource extends LoadView {
  /** Changes whenever the eligible set may have changed. */
  readonly version: number
  /** The backends that may take new requests. */
  eligible(): readonly Backend[]
  /** Call `listener` after every change to a backend's load; returns a function that stops it. */
  watchLoad(listener: (backend: Backend) => void): () => void
}

/**
 * Keep a strategy's selector in step with a pool: rebuilt when the eligible set changes (never
 * per request), and told about each load change when it orders backends by load.
 *
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
): () => Selector {
  let selector = strategy.build(pool.eligible(), options)
  let builtFor = pool.version
  // A stale selector may hear of a change before it is replaced; it only re-orders itself. A new
  // one reads every load from the pool when first used.
  if (selector.loadChanged) pool.watchLoad((backend) => selector.loadChanged?.(backend, pool))
  return () => {
    if (builtFor !== pool.version) {
      selector = strategy.build(pool.eligible(), options)
      builtFor = pool.version
    }
    return selector
  }
}
