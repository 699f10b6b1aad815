/**
 * The backend set and each backend's mutable state. Strategies see only the eligible backends and
 * live load through {@link LoadView}; health results flow in through {@link BackendPool.recordProbe}.
 */
import type { Backend, Logger } from './types.ts'
import type { LoadView } from './strategies/strategy.ts'
import {
  CircuitBreaker,
  DEFAULT_BREAKER_OPTIONS,
  type BreakerOptions,
  type BreakerState,
} from './health/breaker.ts'
import {
  DEFAULT_OUTLIER_OPTIONS,
  ejectionLimit,
  isFailure,
  OutlierTracker,
  type Outcome,
  type OutlierOptions,
} from './health/outlier.ts'
import {
  DEFAULT_SLOW_START_OPTIONS,
  nextRampChange,
  rampFactor,
  type SlowStartOptions,
} from './health/slow-start.ts'

export type { BreakerState } from './health/breaker.ts'
export type { Outcome } from './health/outlier.ts'

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
    | 'drained'
    | 'circuit-open'
    | 'circuit-half-open'
    | 'circuit-closed'
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
  /** Active probe results so far, for metrics; absent before the first probe. */
  probes?: { ok: number; failed: number }
  /** Peak-EWMA response time in ms as of {@link latencyAt}; 0 before the first response. */
  latency: number
  /** When {@link latency} was last updated, on the pool's monotonic clock. */
  latencyAt: number
  /** The utilisation (0 to 1) the backend last reported in `Endpoint-Load-Metrics`. */
  utilisation?: number
  /** Passive health: ejected by outlier detection (until `outlier.ejectedUntil`, pool clock). */
  ejected: boolean
  /** Passive-health counters: consecutive failures, ejections so far. */
  readonly outlier: OutlierTracker
  /** The circuit breaker's state (`breaker` holds its counts). */
  circuit: BreakerState
  readonly breaker: CircuitBreaker
  /** The slow-start factor (0 to 1] applied to the weight; 1 outside a ramp. */
  rampFactor: number
  /** When the slow-start ramp began, on the pool's monotonic clock; undefined outside one. */
  rampStart?: number
  /** Weight × {@link rampFactor}: what weighted strategies use. */
  readonly effectiveWeight: number
  /** Draining, and nothing in flight any more. */
  readonly drained: boolean
}

/** Whether a backend may take a request now, from {@link BackendPool.tryAcquire}. */
export type Admission = 'ok' | 'busy' | 'unavailable'

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
  /** The monotonic clock latencies and health deadlines are measured on, in ms. @default performance.now */
  clock?: () => number
  /** Passive health. @default {@link DEFAULT_OUTLIER_OPTIONS} */
  outlier?: OutlierOptions
  /** The circuit breakers. @default {@link DEFAULT_BREAKER_OPTIONS} */
  breaker?: BreakerOptions
  /** Slow start. @default {@link DEFAULT_SLOW_START_OPTIONS} (off) */
  slowStart?: SlowStartOptions
}

/**
 * The set of backends. Its `version` changes whenever the set of eligible backends may have
 * changed, so that the balancer rebuilds its selector then and never per request.
 */
export class BackendPool implements LoadView {
  readonly #states = new Map<string, BackendState>()
  #rise: number
  #fall: number
  readonly #logger: Logger | undefined
  readonly #now: () => number
  readonly #clock: () => number
  #latencyDecay: number
  #outlier: OutlierOptions
  #breaker: BreakerOptions
  #slowStart: SlowStartOptions
  /** Backends added from now on ramp up (slow start); those given to the constructor do not. */
  #started = false
  /** The earliest time (pool clock) an ejection, an open breaker or a ramp step is due. */
  #deadline = Infinity
  #effective: readonly Backend[] | undefined
  #loadWatchers: readonly ((backend: Backend) => void)[] = []
  #transitionWatchers: readonly ((transition: BackendTransition) => void)[] = []
  #eligible: readonly Backend[] | undefined
  #standby: readonly Backend[] = []
  #version = 0

  constructor(backends: readonly Backend[], options: PoolOptions = {}) {
    this.#rise = options.rise ?? 2
    this.#fall = options.fall ?? 3
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#clock = options.clock ?? (() => performance.now())
    this.#latencyDecay = options.latencyDecay ?? 10_000
    this.#outlier = options.outlier ?? DEFAULT_OUTLIER_OPTIONS
    this.#breaker = options.breaker ?? DEFAULT_BREAKER_OPTIONS
    this.#slowStart = options.slowStart ?? DEFAULT_SLOW_START_OPTIONS
    for (const backend of backends) this.add(backend)
    this.#started = true
  }

  /**
   * Replace the options (on a config reload). Each backend's health, counters and ejection stay;
   * the new thresholds apply from the next result on.
   */
  configure(options: Omit<PoolOptions, 'logger' | 'now' | 'clock'>): void {
    if (options.rise !== undefined) this.#rise = options.rise
    if (options.fall !== undefined) this.#fall = options.fall
    if (options.latencyDecay !== undefined) this.#latencyDecay = options.latencyDecay
    if (options.outlier) this.#outlier = options.outlier
    if (options.slowStart) this.#slowStart = options.slowStart
    if (options.breaker) {
      this.#breaker = options.breaker
      for (const state of this.#states.values()) {
        state.breaker.configure(options.breaker)
        state.circuit = state.breaker.state
      }
    }
    this.#changed()
  }

  /**
   * Increases whenever the eligible set (or an effective weight) may have changed. Reading it
   * also applies what fell due: ejections that ended, breakers that turned half-open, ramp steps.
   */
  get version(): number {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#version
  }

  /** Number of backends, whatever their state. */
  get size(): number {
    return this.#states.size
  }

  /** Every backend's state, in insertion order. */
  states(): IterableIterator<BackendState> {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#states.values()
  }

  /** One backend's state, or `undefined` when it is not in the pool. */
  get(id: string): BackendState | undefined {
    return this.#states.get(id)
  }

  /** Add a backend. It starts healthy, as in HAProxy and nginx; probes take it down if not. */
  add(backend: Backend): BackendState {
    if (this.#states.has(backend.id)) throw new Error(`Backend ${backend.id} already exists`)
    const breaker = new CircuitBreaker(this.#breaker)
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
      ejected: false,
      outlier: new OutlierTracker(),
      circuit: breaker.state,
      breaker,
      rampFactor: 1,
      get effectiveWeight() {
        return this.backend.weight * this.rampFactor
      },
      get drained() {
        return this.draining && this.inflight === 0
      },
    }
    this.#states.set(backend.id, state)
    // Added at run time: ramp up (slow start); at startup, full weight at once.
    if (this.#started) this.#startRamp(state)
    this.#changed()
    this.#transition(state, 'added')
    return state
  }

  /**
   * Take a backend's new settings (weight, `maxConnections`, meta; same id and url), keeping its
   * health, counters and in-flight count. Selectors are rebuilt when anything changed.
   *
   * @returns whether the backend exists
   */
  update(backend: Backend): boolean {
    const state = this.#states.get(backend.id)
    if (!state || state.backend.url !== backend.url) return false
    if (!sameBackend(state.backend, backend)) {
      state.backend = backend
      this.#changed()
    }
    return true
  }

  /**
   * Bring the backend set in line with `backends` (a config reload): add the new ones, remove
   * those no longer listed, take the new weight and limits of the others, keeping their health,
   * counters and in-flight counts, and follow the list's order.
   *
   * @returns the ids added, removed and updated
   */
  reconcile(backends: readonly Backend[]): {
    added: string[]
    removed: string[]
    updated: string[]
  } {
    const added: string[] = []
    const removed: string[] = []
    const updated: string[] = []
    const wanted = new Map(backends.map((b) => [b.id, b]))
    for (const state of [...this.#states.values()]) {
      const next = wanted.get(state.backend.id)
      if (!next || next.url !== state.backend.url) {
        this.remove(state.backend.id, 'removed from the configuration')
        removed.push(state.backend.id)
      }
    }
    for (const backend of backends) {
      const state = this.#states.get(backend.id)
      if (!state) {
        this.add(backend)
        added.push(backend.id)
      } else if (!sameBackend(state.backend, backend)) {
        state.backend = backend
        updated.push(backend.id)
      }
    }
    // Follow the configured order: list-order strategies (threshold, fallbacks) depend on it.
    const ordered = backends.map((b) => this.#states.get(b.id)!)
    this.#states.clear()
    for (const state of ordered) this.#states.set(state.backend.id, state)
    this.#changed()
    return { added, removed, updated }
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
      const was = isAvailable(state)
      state.enabled = enabled
      if (!was && isAvailable(state)) this.#startRamp(state)
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
   * The backends that may take new requests: healthy, enabled, not draining, not ejected and
   * with their circuit not open. Backups are eligible only when no primary is (HAProxy `backup`,
   * nginx `backup`).
   */
  eligible(): readonly Backend[] {
    if (this.#deadline !== Infinity) this.#refresh()
    if (this.#eligible) return this.#eligible
    const primaries: Backend[] = []
    const backups: Backend[] = []
    for (const state of this.#states.values()) {
      if (!isAvailable(state)) continue
      ;(state.backend.backup ? backups : primaries).push(state.backend)
    }
    this.#eligible = primaries.length > 0 ? primaries : backups
    this.#standby = primaries.length > 0 ? backups : []
    return this.#eligible
  }

  /**
   * The available backups while primaries are eligible: a request that failed on every primary
   * candidate may still try them, as nginx passes a request to its `backup` servers when the
   * primaries fail it. Empty when the backups are the eligible set already.
   */
  standby(): readonly Backend[] {
    this.eligible()
    return this.#standby
  }

  /**
   * {@link eligible}, with each backend's weight replaced by its effective weight while it ramps
   * up (slow start). Weighted strategies build from this; the objects keep their ids.
   */
  effectiveEligible(): readonly Backend[] {
    const eligible = this.eligible()
    if (this.#effective) return this.#effective
    this.#effective = eligible.map((backend) => {
      const factor = this.#states.get(backend.id)?.rampFactor ?? 1
      return factor === 1 ? backend : { ...backend, weight: backend.weight * factor }
    })
    return this.#effective
  }

  /** Whether any backend is ramping up now. */
  get ramping(): boolean {
    for (const state of this.#states.values()) if (state.rampFactor < 1) return true
    return false
  }

  /** Record an active probe result, applying the rise and fall thresholds. */
  recordProbe(id: string, ok: boolean, reason?: string): void {
    const state = this.#states.get(id)
    if (!state) return
    state.lastProbe = { ok, at: this.#now(), reason }
    state.probes ??= { ok: 0, failed: 0 }
    state.probes[ok ? 'ok' : 'failed']++
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
        // Active and passive health are one state: a backend the probes saw come back is no
        // longer ejected either.
        if (state.ejected) {
          state.ejected = false
          state.outlier.release(this.#clock())
        }
        if (isAvailable(state)) this.#startRamp(state)
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
      if (state.drained) this.#reportDrained(state)
    }
    return true
  }

  /**
   * The backend a sticky session pinned to `id` may still use: present, healthy, enabled, not
   * ejected, circuit not open. Draining does not count against it, so that a draining backend
   * keeps its existing sessions.
   */
  sessionTarget(id: string): Backend | undefined {
    if (this.#deadline !== Infinity) this.#refresh()
    const state = this.#states.get(id)
    return state && state.healthy && state.enabled && !state.ejected && state.circuit !== 'open'
      ? state.backend
      : undefined
  }

  /**
   * Take a slot on `backend` for one request: it counts as in flight when this answers `ok`.
   * `busy` means it is at its `maxConnections`, or its circuit is half-open and every trial slot
   * is taken: a slot frees up as requests end. `unavailable` means it is gone or its circuit is
   * open.
   */
  tryAcquire(backend: Backend): Admission {
    const state = this.#states.get(backend.id)
    if (!state || state.circuit === 'open') return 'unavailable'
    const max = state.backend.maxConnections
    if (max !== undefined && state.inflight >= max) return 'busy'
    if (state.circuit === 'half-open' && !state.breaker.tryAcquire()) return 'busy'
    state.inflight++
    this.#loadChanged(state.backend)
    return 'ok'
  }

  /**
   * Count how a request to `backend` went: passive health (outlier detection) and the circuit
   * breaker learn from it. Call it once per request that {@link tryAcquire} let through.
   */
  recordOutcome(backend: Backend, outcome: Outcome): void {
    const state = this.#states.get(backend.id)
    if (!state) return
    const now = this.#clock()
    if (outcome === 'cancelled') {
      state.breaker.cancelTrial()
      return
    }
    if (this.#outlier.enabled && !state.ejected) {
      const reason = state.outlier.observe(outcome, this.#outlier)
      if (reason !== undefined) this.#eject(state, reason, now)
    }
    const before = state.circuit
    const after = state.breaker.record(isFailure(outcome), now)
    if (after !== undefined && after !== before) this.#circuitChanged(state, before, now)
  }

  /** Count a request (or another unit of load) against a backend. */
  acquire(backend: Backend): void {
    const state = this.#states.get(backend.id)
    if (!state) return
    state.inflight++
    this.#loadChanged(state.backend)
  }

  /** Undo one {@link acquire} or {@link tryAcquire}. */
  release(backend: Backend): void {
    const state = this.#states.get(backend.id)
    if (!state || state.inflight === 0) return
    state.inflight--
    this.#loadChanged(state.backend)
    if (state.drained) this.#reportDrained(state)
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
    this.#effective = undefined
    this.#version++
  }

  /** Eject `state` now, unless as many backends as `maxEjectionPercent` allows already are. */
  #eject(state: BackendState, reason: string, now: number): void {
    let ejected = 0
    for (const other of this.#states.values()) if (other.ejected) ejected++
    if (ejected >= ejectionLimit(this.#states.size, this.#outlier.maxEjectionPercent)) return
    const duration = state.outlier.eject(now, this.#outlier)
    state.ejected = true
    state.rampStart = undefined
    state.rampFactor = 1
    this.#logger?.warn('backend ejected', {
      backend: state.backend.id,
      url: state.backend.url,
      reason,
      ejectionTime: duration,
      ejections: state.outlier.ejections,
    })
    this.#schedule(state.outlier.ejectedUntil)
    this.#changed()
    this.#transition(state, 'ejected', reason)
  }

  #circuitChanged(state: BackendState, before: BreakerState, now: number): void {
    const after = state.breaker.state
    state.circuit = after
    const fields = { backend: state.backend.id, url: state.backend.url, from: before }
    if (after === 'open') {
      const { failures, total } = state.breaker.counts(now)
      const reason =
        before === 'half-open'
          ? 'a trial request failed'
          : `${failures} of ${total} requests failed`
      this.#logger?.warn('circuit open', { ...fields, reason, openTime: this.#breaker.openTime })
      this.#schedule(state.breaker.openUntil)
      this.#transition(state, 'circuit-open', reason)
    } else if (after === 'half-open') {
      this.#logger?.info('circuit half-open', { ...fields, trials: this.#breaker.halfOpenRequests })
      this.#transition(state, 'circuit-half-open')
    } else {
      this.#logger?.info('circuit closed', { ...fields, reason: 'trial requests succeeded' })
      if (isAvailable(state)) this.#startRamp(state)
      this.#transition(state, 'circuit-closed', 'trial requests succeeded')
    }
    this.#changed()
  }

  #reportDrained(state: BackendState): void {
    this.#logger?.info('backend drained', { backend: state.backend.id, url: state.backend.url })
    this.#transition(state, 'drained')
  }

  /** Begin a slow-start ramp for a backend that just became available (when slow start is on). */
  #startRamp(state: BackendState): void {
    if (this.#slowStart.window <= 0) return
    const now = this.#clock()
    state.rampStart = now
    state.rampFactor = rampFactor(0, this.#slowStart)
    this.#schedule(now + nextRampChange(0, this.#slowStart))
  }

  #schedule(at: number): void {
    if (at < this.#deadline) this.#deadline = at
  }

  /** Apply what fell due: ejections that ended, open breakers' half-open, ramp steps. */
  #refresh(): void {
    const now = this.#clock()
    if (now < this.#deadline) return
    let next = Infinity
    let changed = false
    for (const state of this.#states.values()) {
      if (state.ejected) {
        if (state.outlier.isEjected(now)) {
          next = Math.min(next, state.outlier.ejectedUntil)
        } else {
          state.ejected = false
          state.outlier.release(now)
          changed = true
          this.#logger?.info('backend returned', {
            backend: state.backend.id,
            url: state.backend.url,
            reason: 'ejection time ended',
          })
          this.#transition(state, 'up', 'ejection time ended')
          if (isAvailable(state)) this.#startRamp(state)
        }
      }
      if (state.circuit === 'open') {
        if (state.breaker.tick(now)) {
          this.#circuitChanged(state, 'open', now)
          changed = true
        } else {
          next = Math.min(next, state.breaker.openUntil)
        }
      }
      if (state.rampStart !== undefined) {
        const elapsed = now - state.rampStart
        const factor = rampFactor(elapsed, this.#slowStart)
        if (factor !== state.rampFactor) {
          state.rampFactor = factor
          changed = true
        }
        if (factor >= 1) state.rampStart = undefined
        else next = Math.min(next, state.rampStart + nextRampChange(elapsed, this.#slowStart))
      }
    }
    this.#deadline = next
    if (changed) this.#changed()
  }
}

/** Whether a backend may take a new request. */
export function isAvailable(state: BackendState): boolean {
  return (
    state.healthy && state.enabled && !state.draining && !state.ejected && state.circuit !== 'open'
  )
}

/** Whether two entries for the same id are the same in every field that matters. */
function sameBackend(a: Backend, b: Backend): boolean {
  return (
    a.url === b.url &&
    a.weight === b.weight &&
    Boolean(a.backup) === Boolean(b.backup) &&
    a.maxConnections === b.maxConnections &&
    JSON.stringify(a.meta ?? {}) === JSON.stringify(b.meta ?? {})
  )
}
