/**
 * One backend's record in a pool, and the two questions every part of the pool asks of it: may it
 * take a new request ({@link isAvailable}), and may a sticky session pinned to it still use it
 * ({@link acceptsSessions}). The parts each move their own fields: admin state (`enabled`,
 * `draining`, `backend`) in backend-pool.ts, rise and fall in health-state.ts, load in load.ts,
 * ejection and the breaker in passive.ts, the ramp in slow-start.ts.
 */
import type { Backend } from '../types.ts'
import type { BreakerState, CircuitBreaker } from '../health/breaker.ts'
import { OutlierTracker } from '../health/outlier.ts'

/** The result of the most recent active probe. */
export interface ProbeResult {
  readonly ok: boolean
  readonly at: number
  readonly reason?: string
  /** What the check printed, bounded (an `exec` check's output, 4 KiB by default). */
  readonly output?: string
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

/**
 * The record of a backend joining a pool: healthy, as in HAProxy and nginx (probes take it down
 * if not), enabled, idle, and at full weight.
 *
 * @param breaker its circuit breaker, built on the pool's breaker options
 */
export function createBackendState(backend: Backend, breaker: CircuitBreaker): BackendState {
  return {
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
}

/** Whether a backend may take a new request. */
export function isAvailable(state: BackendState): boolean {
  return (
    state.healthy && state.enabled && !state.draining && !state.ejected && state.circuit !== 'open'
  )
}

/**
 * Whether a sticky session pinned to the backend may still use it: healthy, enabled, not ejected,
 * circuit not open. Draining does not count against it, so that a draining backend keeps its
 * existing sessions (HAProxy's `drain` state, nginx's `drain` parameter).
 */
export function acceptsSessions(state: BackendState): boolean {
  return state.healthy && state.enabled && !state.ejected && state.circuit !== 'open'
}

/** Whether two entries for the same id are the same in every field that matters. */
export function sameBackend(a: Backend, b: Backend): boolean {
  return (
    a.url === b.url &&
    a.weight === b.weight &&
    Boolean(a.backup) === Boolean(b.backup) &&
    a.maxConnections === b.maxConnections &&
    JSON.stringify(a.meta ?? {}) === JSON.stringify(b.meta ?? {})
  )
}
