/**
 * A pool: the backend set and each backend's mutable state, put together from one part per job
 * (after pingora-load-balancing, where the backend set, health checks and discovery are separate
 * modules):
 *
 * - backend-set.ts: membership, order, the eligible set and its version;
 * - backend-state.ts: one backend's record, and who may take requests;
 * - health-state.ts: rise and fall from active probes;
 * - passive.ts: outlier ejection and the circuit breakers;
 * - load.ts: in flight, peak-EWMA latency, reported utilisation;
 * - slow-start.ts: the weight ramp of a backend that comes back.
 *
 * This class owns the admin state (enabled, draining, weight), the rules that span parts (a probe
 * that brings a backend up ends its ejection too), the transition watchers, and the one deadline
 * at which what fell due (ejection ends, half-open circuits, ramp steps) is applied. Strategies
 * see only the eligible backends and live load through {@link LoadView}; health results flow in
 * through {@link BackendPool.recordProbe}.
 */
import { monotonicClock } from '../clock.ts'
import type { Backend, Logger } from '../types.ts'
import type { LoadView } from '../strategies/strategy.ts'
import type { BreakerOptions } from '../health/breaker.ts'
import type { Outcome, OutlierOptions } from '../health/outlier.ts'
import type { SlowStartOptions } from '../health/slow-start.ts'
import { BackendSet } from './backend-set.ts'
import {
  acceptsSessions,
  createBackendState,
  isAvailable,
  sameBackend,
  type BackendState,
} from './backend-state.ts'
import type { BackendTransition, PoolContext, Sweep } from './context.ts'
import { RiseFall } from './health-state.ts'
import { LoadMeter } from './load.ts'
import { PassiveHealth } from './passive.ts'
import { isRamping, SlowStart } from './slow-start.ts'
import { Watchers } from './watchers.ts'

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
  /**
   * The monotonic clock latencies and health deadlines are measured on, in ms.
   * @default monotonicClock (performance.now, read once per socket event: ../clock.ts)
   */
  clock?: () => number
  /** Passive health. @default DEFAULT_OUTLIER_OPTIONS (../health/outlier.ts) */
  outlier?: OutlierOptions
  /** The circuit breakers. @default DEFAULT_BREAKER_OPTIONS (../health/breaker.ts) */
  breaker?: BreakerOptions
  /** Slow start. @default DEFAULT_SLOW_START_OPTIONS (../health/slow-start.ts): off */
  slowStart?: SlowStartOptions
}

/**
 * The set of backends. Its `version` changes whenever the set of eligible backends may have
 * changed, so that the balancer rebuilds its selector then and never per request.
 */
export class BackendPool implements LoadView {
  readonly #set = new BackendSet()
  readonly #logger: Logger | undefined
  readonly #now: () => number
  readonly #clock: () => number
  readonly #health: RiseFall
  readonly #load: LoadMeter
  readonly #ramp: SlowStart
  readonly #passive: PassiveHealth
  readonly #transitions = new Watchers<BackendTransition>()
  /** Backends added from now on ramp up (slow start); those given to the constructor do not. */
  #started = false
  /** The earliest time (pool clock) an ejection, an open breaker or a ramp step is due. */
  #deadline = Infinity

  constructor(backends: readonly Backend[], options: PoolOptions = {}) {
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#clock = options.clock ?? monotonicClock
    const context: PoolContext = {
      logger: this.#logger,
      clock: this.#clock,
      changed: () => this.#set.changed(),
      transition: (state, to, reason) => this.#transition(state, to, reason),
      schedule: (at) => {
        if (at < this.#deadline) this.#deadline = at
      },
    }
    this.#health = new RiseFall(options, this.#logger)
    this.#load = new LoadMeter(this.#clock, options.latencyDecay)
    this.#ramp = new SlowStart(context, options.slowStart)
    this.#passive = new PassiveHealth(context, this.#ramp, options)
    for (const backend of backends) this.add(backend)
    this.#started = true
  }

  /**
   * Replace the options (on a config reload). Each backend's health, counters and ejection stay;
   * the new thresholds apply from the next result on.
   */
  configure(options: Omit<PoolOptions, 'logger' | 'now' | 'clock'>): void {
    this.#health.configure(options)
    if (options.latencyDecay !== undefined) this.#load.decay = options.latencyDecay
    if (options.slowStart) this.#ramp.configure(options.slowStart)
    this.#passive.configure(options, this.#set.values())
    this.#set.changed()
  }

  /**
   * Increases whenever the eligible set (or an effective weight) may have changed. Reading it
   * also applies what fell due: ejections that ended, breakers that turned half-open, ramp steps.
   */
  get version(): number {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#set.version
  }

  /** Number of backends, whatever their state. */
  get size(): number {
    return this.#set.size
  }

  /** Every backend's state, in insertion order. */
  states(): IterableIterator<BackendState> {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#set.values()
  }

  /** One backend's state, or `undefined` when it is not in the pool. */
  get(id: string): BackendState | undefined {
    return this.#set.get(id)
  }

  /** Add a backend. It starts healthy, as in HAProxy and nginx; probes take it down if not. */
  add(backend: Backend): BackendState {
    if (this.#set.has(backend.id)) throw new Error(`Backend ${backend.id} already exists`)
    const state = createBackendState(backend, this.#passive.createBreaker())
    this.#set.insert(state)
    // Added at run time: ramp up (slow start); at startup, full weight at once.
    if (this.#started) this.#ramp.start(state)
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
    const state = this.#set.get(backend.id)
    if (!state || state.backend.url !== backend.url) return false
    if (!sameBackend(state.backend, backend)) {
      state.backend = backend
      this.#set.changed()
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
    for (const state of [...this.#set.values()]) {
      const next = wanted.get(state.backend.id)
      if (!next || next.url !== state.backend.url) {
        this.remove(state.backend.id, 'removed from the configuration')
        removed.push(state.backend.id)
      }
    }
    for (const backend of backends) {
      const state = this.#set.get(backend.id)
      if (!state) {
        this.add(backend)
        added.push(backend.id)
      } else if (!sameBackend(state.backend, backend)) {
        state.backend = backend
        updated.push(backend.id)
      }
    }
    // Follow the configured order: list-order strategies (threshold, fallbacks) depend on it.
    this.#set.reorder(backends)
    return { added, removed, updated }
  }

  /** Remove a backend at once. In-flight requests to it still complete. */
  remove(id: string, reason?: string): boolean {
    const state = this.#set.get(id)
    if (!state) return false
    this.#set.delete(id)
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
    const state = this.#set.get(id)
    if (!state) return false
    if (state.enabled !== enabled) {
      const was = isAvailable(state)
      state.enabled = enabled
      if (!was && isAvailable(state)) this.#ramp.start(state)
      this.#set.changed()
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
    const state = this.#set.get(id)
    if (!state) return false
    if (state.backend.weight !== weight) {
      state.backend = { ...state.backend, weight }
      this.#set.changed()
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
    return this.#set.eligible()
  }

  /**
   * The available backups while primaries are eligible: a request that failed on every primary
   * candidate may still try them, as nginx passes a request to its `backup` servers when the
   * primaries fail it. Empty when the backups are the eligible set already.
   */
  standby(): readonly Backend[] {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#set.standby()
  }

  /**
   * {@link eligible}, with each backend's weight replaced by its effective weight while it ramps
   * up (slow start). Weighted strategies build from this; the objects keep their ids.
   */
  effectiveEligible(): readonly Backend[] {
    if (this.#deadline !== Infinity) this.#refresh()
    return this.#set.effectiveEligible()
  }

  /** Whether any backend is ramping up now. */
  get ramping(): boolean {
    return isRamping(this.#set.values())
  }

  /**
   * Record an active probe result, applying the rise and fall thresholds.
   *
   * @param output what the check printed (an `exec` check's output), kept on `lastProbe`
   */
  recordProbe(id: string, ok: boolean, reason?: string, output?: string): void {
    const state = this.#set.get(id)
    if (!state) return
    const probe = { ok, at: this.#now(), reason, ...(output === undefined ? {} : { output }) }
    const flip = this.#health.observe(state, probe)
    if (flip === undefined) return
    if (flip.to === 'up') {
      // Active and passive health are one state: a backend the probes saw come back is no
      // longer ejected either.
      this.#passive.release(state)
      if (isAvailable(state)) this.#ramp.start(state)
    }
    this.#set.changed()
    this.#transition(state, flip.to, flip.reason)
  }

  /**
   * Start or stop draining a backend: it takes no new requests (nor new sticky sessions) but keeps
   * serving those in flight and its existing sticky sessions.
   *
   * @returns whether the backend exists
   */
  setDraining(id: string, draining: boolean, reason?: string): boolean {
    const state = this.#set.get(id)
    if (!state) return false
    if (state.draining !== draining) {
      state.draining = draining
      this.#set.changed()
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
    const state = this.#set.get(id)
    return state && acceptsSessions(state) ? state.backend : undefined
  }

  /**
   * Take a slot on `backend` for one request: it counts as in flight when this answers `ok`.
   * `busy` means it is at its `maxConnections`, or its circuit is half-open and every trial slot
   * is taken: a slot frees up as requests end. `unavailable` means it is gone or its circuit is
   * open.
   */
  tryAcquire(backend: Backend): Admission {
    const state = this.#set.get(backend.id)
    if (!state || state.circuit === 'open') return 'unavailable'
    const max = state.backend.maxConnections
    if (max !== undefined && state.inflight >= max) return 'busy'
    if (state.circuit === 'half-open' && !state.breaker.tryAcquire()) return 'busy'
    this.#load.acquire(state)
    return 'ok'
  }

  /**
   * Count how a request to `backend` went: passive health (outlier detection) and the circuit
   * breaker learn from it. Call it once per request that {@link tryAcquire} let through.
   * `now` is the pool clock's time of the outcome, when the caller has just read it.
   */
  recordOutcome(backend: Backend, outcome: Outcome, now?: number): void {
    const state = this.#set.get(backend.id)
    if (state) this.#passive.record(state, outcome, this.#set, now)
  }

  /** Count a request (or another unit of load) against a backend. */
  acquire(backend: Backend): void {
    const state = this.#set.get(backend.id)
    if (state) this.#load.acquire(state)
  }

  /** Undo one {@link acquire} or {@link tryAcquire}. */
  release(backend: Backend): void {
    const state = this.#set.get(backend.id)
    if (state && this.#load.release(state) && state.drained) this.#reportDrained(state)
  }

  /** {@inheritDoc LoadView.inflight} */
  inflight(backend: Backend): number {
    return this.#set.get(backend.id)?.inflight ?? 0
  }

  /** {@inheritDoc LoadView.now} */
  now(): number {
    return this.#clock()
  }

  /** {@inheritDoc LoadView.latency} */
  latency(backend: Backend): number {
    const state = this.#set.get(backend.id)
    return state ? this.#load.latency(state) : 0
  }

  /**
   * Record how long a backend took to send its response headers, as a peak EWMA (Finagle's and
   * linkerd's `PeakEwma`): a slower response replaces the average at once; a faster one is
   * blended in with weight 1 − e^(−elapsed / decay), so that the average follows real time
   * however unevenly the responses come. `now`: as for {@link recordOutcome}.
   */
  observeLatency(backend: Backend, ms: number, now?: number): void {
    const state = this.#set.get(backend.id)
    if (state) this.#load.observeLatency(state, ms, now)
  }

  /** {@inheritDoc LoadView.utilisation} */
  utilisation(backend: Backend): number | undefined {
    return this.#set.get(backend.id)?.utilisation
  }

  /** Record the utilisation (0 to 1) a backend reported. */
  reportUtilisation(backend: Backend, utilisation: number): void {
    const state = this.#set.get(backend.id)
    if (state) this.#load.reportUtilisation(state, utilisation)
  }

  /**
   * Call `listener` after every change to a backend's in-flight count, latency or utilisation.
   *
   * @returns a function that stops the calls
   */
  watchLoad(listener: (backend: Backend) => void): () => void {
    return this.#load.watch(listener)
  }

  /**
   * Call `listener` after every health or admin transition of a backend.
   *
   * @returns a function that stops the calls
   */
  watchTransitions(listener: (transition: BackendTransition) => void): () => void {
    return this.#transitions.add(listener)
  }

  #transition(state: BackendState, to: BackendTransition['to'], reason?: string): void {
    if (this.#transitions.size === 0) return
    const { id, url } = state.backend
    this.#transitions.emit({ id, url, to, reason, at: this.#now() })
  }

  #reportDrained(state: BackendState): void {
    this.#logger?.info('backend drained', { backend: state.backend.id, url: state.backend.url })
    this.#transition(state, 'drained')
  }

  /** Apply what fell due: ejections that ended, open breakers' half-open, ramp steps. */
  #refresh(): void {
    const now = this.#clock()
    if (now < this.#deadline) return
    const sweep: Sweep = { changed: false, next: Infinity }
    for (const state of this.#set.values()) {
      this.#passive.refresh(state, now, sweep)
      this.#ramp.step(state, now, sweep)
    }
    this.#deadline = sweep.next
    if (sweep.changed) this.#set.changed()
  }
}
