/**
 * The one interface every balancing algorithm implements. A {@link Strategy} builds a
 * {@link Selector} from the eligible backends; the selector yields the first choice and then the
 * fallbacks, so retries and sticky fallback need no special cases.
 */
import type { StrategyName, StrategyOptions } from '../config.ts'
import type { Backend } from '../types.ts'

export type { StrategyOptions } from '../config.ts'

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
  /**
   * The backend's peak-EWMA response time in ms (Finagle, linkerd), decayed to {@link now};
   * 0 before its first response.
   */
  latency(backend: Backend): number
  /**
   * The utilisation the backend last reported (`Endpoint-Load-Metrics`), from 0 to 1, or
   * `undefined` when it has not reported any.
   */
  utilisation(backend: Backend): number | undefined
  /** The monotonic clock, in ms, that {@link latency} decays against. */
  now(): number
}

/** Picks backends for one request. */
export interface Selector {
  /**
   * The first choice, then the fallbacks in order. Yields each backend at most once. The first
   * choice costs O(1) or O(log n); the fallbacks are computed only when asked for.
   */
  candidates(input: PickInput, view: LoadView): Iterable<Backend>
  /**
   * The load of `backend` (in flight, latency or utilisation) changed in `view`. Load-aware
   * selectors keep their backends ordered by load and re-order that one backend here, so that a
   * pick never scans the whole set (HAProxy keeps its leastconn tree the same way). Whoever owns
   * the {@link LoadView} calls it after each change; `bindSelector` wires a `BackendPool` so.
   */
  loadChanged?(backend: Backend, view: LoadView): void
}

/** The configuration-independent parts of {@link Strategy.build}'s options. */
export interface BuildOptions extends StrategyOptionsInput {
  /** Uniform random numbers in [0, 1). @default Math.random */
  readonly random?: () => number
}

/** {@link StrategyOptions} with every section and field optional; defaults fill the gaps. */
export type StrategyOptionsInput = {
  readonly [K in keyof StrategyOptions]?: Partial<StrategyOptions[K]>
}

/** A balancing algorithm. */
export interface Strategy {
  readonly name: StrategyName
  /** What the proxy must measure for this strategy, beyond in-flight counts and latency. */
  readonly needs?: {
    /** Parse `Endpoint-Load-Metrics` from responses and health checks. */
    readonly utilisation?: boolean
  }
  /**
   * Build a selector over `backends`. Called when the eligible set changes, never per request.
   *
   * @param options the config file's `strategyOptions`; missing fields take their defaults
   */
  build(backends: readonly Backend[], options?: BuildOptions): Selector
}
