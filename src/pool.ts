/**
 * The backend set and each backend's mutable state. Strategies see only the eligible backends and
 * live load through {@link LoadView}; health results flow in through {@link BackendPool.recordProbe}.
 */
import type { Backend, Logger } from './types.ts'
import type { LoadView } from './strategies/strategy.ts'

/** The result of the most recent active probe. */
export interface ProbeResult {
  readonly ok: boolean
  readonly at: number
  readonly reason?: string
}

/** A change in a backend's health or admin state, for logs, metrics and the dashboard. */
export interface BackendTransition {
  readonly id: string
  readonly url: string
  /** What the backend became. Passive health reports `ejected`, and `up` when it returns. */
  readonly to:
    | 'added'
    | 'removed'
    | 'up'
    | 'down'
    | 'ejected'
    | 'draining'
    | 'undrained'
    | 'enabled'
    | 'disabled'
  readonly reason?: string
  /** On the pool's wall clock (`now`), in ms since the epoch. */
  readonly at: number
}

/** Mutable state of one backend. */
export interface BackendState {
  /** Replaced (never mutated) when its weight changes; its id and url never change. */
  backend: Backend
  healthy: boolean
  enabled: boolean
  draining: boolean
  inflight: number
  consecutiveSuccesses: number
  consecutiveFailures: number
  lastProbe?: ProbeResult
  /** Peak-EWMA response time in ms as of {@link latencyAt}; 0 before the first response. */
  latency: number
  /** When {@link latency} was last updated, on the pool's monotonic clock. */
  latencyAt: number
  /** The utilisation (0 to 1) the backend last reported in `Endpoint-Load-Metrics`. */
  utilisation?: number
}

/** Options for {@link BackendPool}. */
export interface PoolOptions {
  /** Consecutive probe successes that bring a down backend up. @default 2 */
  rise?: number
  /** Consecutive probe failures that take an up backend down. @default 3 */
  fall?: number
  logger?: Logger
  now?: () => number
  /** Time constant of the peak-EWMA latency, in ms. @default 10_000 (Finagle, linkerd) */
  latencyDecay?: number
  /** The monotonic clock latencies are measured on, in ms. @default performance.now */
  clock?: () => number
}

/**
 * The set of backends. Its `version` changes whenever the set of eligible backends may have
 * changed, so that the balancer rebuilds its selector then and never per request.
 */
export class BackendPool implements LoadView {
  readonly #states = new Map<string, BackendState>()
  readonly #rise: number
  readonly #fall: number
  readonly #logger: Logger | undefined
  readonly #now: () => number
  readonly #clock: () => number
  readonly #latencyDecay: number
  #loadWatchers: readonly ((backend: Backend) => void)[] = []
  #transitionWatchers: readonly ((transition: BackendTransition) => void)[] = []
  #eligible: readonly Backend[] | undefined
  #version = 0

  constructor(backends: readonly Backend[], options: PoolOptions = {}) {
    this.#rise = options.rise ?? 2
    this.#fall = options.fall ?? 3
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#clock = options.clock ?? (() => performance.now())
    this.#latencyDecay = options.latencyDecay ?? 10_000
    for (const backend of backends) this.add(backend)
  }

  /** Increases whenever the eligible set may have changed. */
  get version(): number {
    return this.#version
  }

  /** Number of backends, whatever their state. */
  get size(): number {
    return this.#states.size
  }

  /** Every backend's state, in insertion order. */
  states(): IterableIterator<BackendState> {
    return this.#states.values()
  }

  /** One backend's state, or `undefined` when it is not in the pool. */
  get(id: string): BackendState | undefined {
    return this.#states.get(id)
  }

  /** Add a backend. It starts healthy, as in HAProxy and nginx; probes take it down if not. */
  add(backend: Backend): BackendState {
    if (this.#states.has(backend.id)) throw new Error(`Backend ${backend.id} already exists`)
    const state: BackendState = {
      backend,
      healthy: true,
      enabled: true,
      draining: false,
      inflight: 0,
      consecutiveSuccesses: 0,
      consecutiveFailures: 0,
      latency: 0,
      latencyAt: 0,
    }
    this.#states.set(backend.id, state)
    this.#changed()
    this.#transition(state, 'added')
    return state
  }

  /** Remove a backend at once. In-flight requests to it still complete. */
  remove(id: string, reason?: string): boolean {
    const state = this.#states.get(id)
    if (!state) return false
    this.#states.delete(id)
    this.#changed()
    this.#transition(state, 'removed', reason)
    return true
  }

  /**
   * Enable or disable a backend (HAProxy `enable`/`disable server`): a disabled backend takes no
   * requests at all, sticky sessions included, and is not probed.
   *
   * @returns whether the backend exists
   */
  setEnabled(id: string, enabled: boolean, reason?: string): boolean {
    const state = this.#states.get(id)
    if (!state) return false
    if (state.enabled !== enabled) {
      state.enabled = enabled
      this.#changed()
      this.#transition(state, enabled ? 'enabled' : 'disabled', reason)
    }
    return true
  }

  /**
   * Change a backend's weight. The backend object is replaced, so that selectors rebuilt for the
   * new version see the new weight; requests in flight keep the old object, which is harmless.
   *
   * @returns whether the backend exists
   */
  setWeight(id: string, weight: number): boolean {
    const state = this.#states.get(id)
    if (!state) return false
    if (state.backend.weight !== weight) {
      state.backend = { ...state.backend, weight }
      this.#changed()
    }
    return true
  }

  /**
   * The backends that may take new requests: healthy, enabled and not draining. Backups are
   * eligible only when no primary is (HAProxy `backup`, nginx `backup`).
   */
  eligible(): readonly Backend[] {
    if (this.#eligible) return this.#eligible
    const primaries: Backend[] = []
    const backups: Backend[] = []
    for (const state of this.#states.values()) {
      if (!isAvailable(state)) continue
      ;(state.backend.backup ? backups : primaries).push(state.backend)
    }
    this.#eligible = primaries.length > 0 ? primaries : backups
    return this.#eligible
  }

  /** Record an active probe result, applying the rise and fall thresholds. */
  recordProbe(id: string, ok: boolean, reason?: string): void {
    const state = this.#states.get(id)
    if (!state) return
    state.lastProbe = { ok, at: this.#now(), reason }
    if (ok) {
      state.consecutiveFailures = 0
      state.consecutiveSuccesses++
      if (!state.healthy && state.consecutiveSuccesses >= this.#rise) {
        state.healthy = true
        this.#logger?.info('backend up', {
          backend: state.backend.id,
          url: state.backend.url,
          reason: `${state.consecutiveSuccesses} consecutive probe successes`,
        })
        this.#changed()
        this.#transition(state, 'up', `${state.consecutiveSuccesses} consecutive probe successes`)
      }
    } else {
      state.consecutiveSuccesses = 0
      state.consecutiveFailures++
      if (state.healthy && state.consecutiveFailures >= this.#fall) {
        state.healthy = false
        this.#logger?.warn('backend down', {
          backend: state.backend.id,
          url: state.backend.url,
          reason,
          failures: state.consecutiveFailures,
        })
        this.#changed()
        this.#transition(state, 'down', reason)
      }
    }
  }

  /**
   * Start or stop draining a backend: it takes no new requests (nor new sticky sessions) but keeps
   * serving those in flight and its existing sticky sessions.
   *
   * @returns whether the backend exists
   */
  setDraining(id: string, draining: boolean, reason?: string): boolean {
    const state = this.#states.get(id)
    if (!state) return false
    if (state.draining !== draining) {
      state.draining = draining
      this.#changed()
      this.#transition(state, draining ? 'draining' : 'undrained', reason)
    }
    return true
  }

  /**
   * The backend a sticky session pinned to `id` may still use: present, healthy and enabled.
   * Draining does not count against it, so that a draining backend keeps its existing sessions.
   */
  sessionTarget(id: string): Backend | undefined {
    const state = this.#states.get(id)
    return state && state.healthy && state.enabled ? state.backend : undefined
  }

  /** Count a request (or another unit of load) against a backend. */
  acquire(backend: Backend): void {
    const state = this.#states.get(backend.id)
    if (!state) return
    state.inflight++
    this.#loadChanged(state.backend)
  }

  /** Undo one {@link acquire}. */
  release(backend: Backend): void {
    const state = this.#states.get(backend.id)
    if (!state || state.inflight === 0) return
    state.inflight--
    this.#loadChanged(state.backend)
  }

  /** {@inheritDoc LoadView.inflight} */
  inflight(backend: Backend): number {
    return this.#states.get(backend.id)?.inflight ?? 0
  }

  /** {@inheritDoc LoadView.now} */
  now(): number {
    return this.#clock()
  }

  /** {@inheritDoc LoadView.latency} */
  latency(backend: Backend): number {
    const state = this.#states.get(backend.id)
    if (!state || state.latency === 0) return 0
    return (
      state.latency * Math.exp(-Math.max(this.#clock() - state.latencyAt, 0) / this.#latencyDecay)
    )
  }

  /**
   * Record how long a backend took to send its response headers, as a peak EWMA (Finagle's and
   * linkerd's `PeakEwma`): a slower response replaces the average at once; a faster one is
   * blended in with weight 1 − e^(−elapsed / decay), so that the average follows real time
   * however unevenly the responses come.
   */
  observeLatency(backend: Backend, ms: number): void {
    const state = this.#states.get(backend.id)
    if (!state) return
    const now = this.#clock()
    if (ms > state.latency) {
      state.latency = ms
    } else {
      const keep = Math.exp(-Math.max(now - state.latencyAt, 0) / this.#latencyDecay)
      state.latency = state.latency * keep + ms * (1 - keep)
    }
    state.latencyAt = now
    this.#loadChanged(state.backend)
  }

  /** {@inheritDoc LoadView.utilisation} */
  utilisation(backend: Backend): number | undefined {
    return this.#states.get(backend.id)?.utilisation
  }

  /** Record the utilisation (0 to 1) a backend reported. */
  reportUtilisation(backend: Backend, utilisation: number): void {
    const state = this.#states.get(backend.id)
    if (!state || state.utilisation === utilisation) return
    state.utilisation = utilisation
    this.#loadChanged(state.backend)
  }

  /**
   * Call `listener` after every change to a backend's in-flight count, latency or utilisation.
   *
   * @returns a function that stops the calls
   */
  watchLoad(listener: (backend: Backend) => void): () => void {
    this.#loadWatchers = [...this.#loadWatchers, listener]
    return () => {
      this.#loadWatchers = this.#loadWatchers.filter((l) => l !== listener)
    }
  }

  /**
   * Call `listener` after every health or admin transition of a backend.
   *
   * @returns a function that stops the calls
   */
  watchTransitions(listener: (transition: BackendTransition) => void): () => void {
    this.#transitionWatchers = [...this.#transitionWatchers, listener]
    return () => {
      this.#transitionWatchers = this.#transitionWatchers.filter((l) => l !== listener)
    }
  }

  #transition(state: BackendState, to: BackendTransition['to'], reason?: string): void {
    const watchers = this.#transitionWatchers
    if (watchers.length === 0) return
    const { id, url } = state.backend
    const transition: BackendTransition = { id, url, to, reason, at: this.#now() }
    for (let i = 0; i < watchers.length; i++) watchers[i]!(transition)
  }

  #loadChanged(backend: Backend): void {
    const watchers = this.#loadWatchers
    for (let i = 0; i < watchers.length; i++) watchers[i]!(backend)
  }

  #changed(): void {
    this.#eligible = undefined
    this.#version++
  }
}

/** Whether a backend may take a new request. */
export function isAvailable(state: BackendState): boolean {
  return state.healthy && state.enabled && !state.draining
}
