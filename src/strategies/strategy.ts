/**
 * The one interface every balancing algorithm implements. A {@link Strategy} builds a
 * {@link Selector} from the eligible backends; the selector yields the first choice and then the
 * fallbacks, so retries and sticky fallback need no special cases.
 */
import type { StrategyName } from '../config.ts'
import type { Backend } from '../types.ts'

/** The request attributes a strategy may hash on. Each is computed only when asked for. */
export interface PickInput {
  /** The client address (after trusted-proxy resolution). */
  readonly clientIp: string | undefined
  /** The raw path, without the query. */
  readonly path: string
  /** The raw query, without `?`; empty when there is none. */
  readonly query: string
  /** A request header, or `null`. */
  header(name: string): string | null
  /** A request cookie, or `undefined`. */
  cookie(name: string): string | undefined
}

/** Live load, for strategies that balance by it. */
export interface LoadView {
  /** Requests (and other load) in flight to a backend now. */
  inflight(backend: Backend): number
}

/** Picks backends for one request. */
export interface Selector {
  /** The first choice, then the fallbacks in order. Yields each backend at most once. */
  candidates(input: PickInput, view: LoadView): Iterable<Backend>
}

/** A balancing algorithm. */
export interface Strategy {
  readonly name: StrategyName
  /** Build a selector over `backends`. Called when the eligible set changes, never per request. */
  build(backends: readonly Backend[]): Selector
}
