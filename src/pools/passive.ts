/**
 * Passive health, learnt from live traffic rather than probes, in two mechanisms that both take
 * each request's {@link Outcome}:
 *
 * - Outlier ejection (../health/outlier.ts, after Envoy's `outlier_detection` and nginx's
 *   `max_fails`/`fail_timeout`): consecutive failures eject a backend for a while, but never more
 *   of the pool than `maxEjectionPercent` at once (Envoy's `max_ejection_percent`).
 * - The circuit breaker (../health/breaker.ts, Hystrix and resilience4j): a failure ratio over a
 *   rolling window opens it; after `openTime` it lets a few trial requests through (half-open).
 *
 * This file is the glue between them and the pool: the log lines, the transitions, the times the
 * pool must look again, and the slow-start ramp a backend takes when it comes back.
 */
import {
  CircuitBreaker,
  DEFAULT_BREAKER_OPTIONS,
  type BreakerOptions,
  type BreakerState,
} from '../health/breaker.ts'
import {
  DEFAULT_OUTLIER_OPTIONS,
  ejectionLimit,
  isFailure,
  type Outcome,
  type OutlierOptions,
} from '../health/outlier.ts'
import { isAvailable, type BackendState } from './backend-state.ts'
import type { BackendSet } from './backend-set.ts'
import type { PoolContext, Sweep } from './context.ts'
import { stopRamp, type SlowStart } from './slow-start.ts'

/** Options of passive health, as the config's sections have them. */
export interface PassiveOptions {
  /** Outlier ejection (`outlierDetection`). @default {@link DEFAULT_OUTLIER_OPTIONS} */
  outlier?: OutlierOptions
  /** The circuit breakers (`circuitBreaker`). @default {@link DEFAULT_BREAKER_OPTIONS} */
  breaker?: BreakerOptions
}

/**
 * Passive health of one pool's backends.
 *
 * @example
 * ```ts
 * const passive = new PassiveHealth(context, ramp)
 * const state = createBackendState(backend, passive.createBreaker())
 * passive.record(state, 'http5xx', set) // the fifth in a row ejects it for 30 s
 * ```
 */
export class PassiveHealth {
  readonly #context: PoolContext
  readonly #ramp: SlowStart
  #outlier: OutlierOptions
  #breaker: BreakerOptions

  /** @param ramp the slow start that backends coming back from an ejection or a circuit take */
  constructor(context: PoolContext, ramp: SlowStart, options: PassiveOptions = {}) {
    this.#context = context
    this.#ramp = ramp
    this.#outlier = options.outlier ?? DEFAULT_OUTLIER_OPTIONS
    this.#breaker = options.breaker ?? DEFAULT_BREAKER_OPTIONS
  }

  /** A circuit breaker for a backend joining the pool, on the current options. */
  createBreaker(): CircuitBreaker {
    return new CircuitBreaker(this.#breaker)
  }

  /**
   * Take new options (on a reload). Ejections and breaker counts stay; new breaker options apply
   * to every backend's breaker at once (a disabled breaker closes).
   */
  configure(options: PassiveOptions, states: Iterable<BackendState>): void {
    if (options.outlier) this.#outlier = options.outlier
    if (options.breaker) {
      this.#breaker = options.breaker
      for (const state of states) {
        state.breaker.configure(options.breaker)
        state.circuit = state.breaker.state
      }
    }
  }

  /**
   * Count how a request to `state` went. `cancelled` only gives a half-open trial slot back;
   * anything else feeds outlier detection (which may eject the backend) and then the breaker
   * (which may open or close its circuit).
   *
   * @param members the pool's backends, for the cap on how many may be ejected at once
   */
  record(
    state: BackendState,
    outcome: Outcome,
    members: BackendSet,
    now = this.#context.clock(),
  ): void {
    if (outcome === 'cancelled') {
      state.breaker.cancelTrial()
      return
    }
    if (this.#outlier.enabled && !state.ejected) {
      const reason = state.outlier.observe(outcome, this.#outlier)
      if (reason !== undefined) this.#eject(state, reason, now, members)
    }
    const before = state.circuit
    const after = state.breaker.record(isFailure(outcome), now)
    if (after !== undefined && after !== before) this.#circuitChanged(state, before, now)
  }

  /**
   * End an ejection early because the active probes saw the backend come back: active and
   * passive health are one state, so a backend the probes bring up is no longer ejected either.
   */
  release(state: BackendState): void {
    if (!state.ejected) return
    state.ejected = false
    state.outlier.release(this.#context.clock())
  }

  /**
   * Apply what fell due for `state` at `now`: an ejection that ended (the backend returns, `up`,
   * and ramps) and an open circuit whose time is up (it turns half-open). Records in `sweep`
   * whether either happened and when the next one falls due.
   */
  refresh(state: BackendState, now: number, sweep: Sweep): void {
    if (state.ejected) {
      if (state.outlier.isEjected(now)) {
        sweep.next = Math.min(sweep.next, state.outlier.ejectedUntil)
      } else {
        state.ejected = false
        state.outlier.release(now)
        sweep.changed = true
        this.#context.logger?.info('backend returned', {
          backend: state.backend.id,
          url: state.backend.url,
          reason: 'ejection time ended',
        })
        this.#context.transition(state, 'up', 'ejection time ended')
        if (isAvailable(state)) this.#ramp.start(state)
      }
    }
    if (state.circuit === 'open') {
      if (state.breaker.tick(now)) {
        this.#circuitChanged(state, 'open', now)
        sweep.changed = true
      } else {
        sweep.next = Math.min(sweep.next, state.breaker.openUntil)
      }
    }
  }

  /** Eject `state` now, unless as many backends as `maxEjectionPercent` allows already are. */
  #eject(state: BackendState, reason: string, now: number, members: BackendSet): void {
    let ejected = 0
    for (const other of members.values()) if (other.ejected) ejected++
    if (ejected >= ejectionLimit(members.size, this.#outlier.maxEjectionPercent)) return
    const duration = state.outlier.eject(now, this.#outlier)
    state.ejected = true
    stopRamp(state)
    this.#context.logger?.warn('backend ejected', {
      backend: state.backend.id,
      url: state.backend.url,
      reason,
      ejectionTime: duration,
      ejections: state.outlier.ejections,
    })
    this.#context.schedule(state.outlier.ejectedUntil)
    this.#context.changed()
    this.#context.transition(state, 'ejected', reason)
  }

  /** Follow the breaker of `state` from `before` to its state now: log, schedule, announce. */
  #circuitChanged(state: BackendState, before: BreakerState, now: number): void {
    const { logger } = this.#context
    const after = state.breaker.state
    state.circuit = after
    const fields = { backend: state.backend.id, url: state.backend.url, from: before }
    if (after === 'open') {
      const { failures, total } = state.breaker.counts(now)
      const reason =
        before === 'half-open'
          ? 'a trial request failed'
          : `${failures} of ${total} requests failed`
      logger?.warn('circuit open', { ...fields, reason, openTime: this.#breaker.openTime })
      this.#context.schedule(state.breaker.openUntil)
      this.#context.transition(state, 'circuit-open', reason)
    } else if (after === 'half-open') {
      logger?.info('circuit half-open', { ...fields, trials: this.#breaker.halfOpenRequests })
      this.#context.transition(state, 'circuit-half-open')
    } else {
      logger?.info('circuit closed', { ...fields, reason: 'trial requests succeeded' })
      if (isAvailable(state)) this.#ramp.start(state)
      this.#context.transition(state, 'circuit-closed', 'trial requests succeeded')
    }
    this.#context.changed()
  }
}
