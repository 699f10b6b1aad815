/**
 * What the parts of a pool share: its clock and logger, and the three ways a part says that it
 * changed something: the eligible set, a backend's state, a time when something falls due.
 * `BackendPool` (backend-pool.ts) implements {@link PoolContext}; passive health and slow start
 * call it at the very point their change happens, so that watchers see the same order of events
 * whichever part made the change.
 */
import type { Logger } from '../types.ts'
import type { BackendState } from './backend-state.ts'

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

/** The pool as its parts see it. */
export interface PoolContext {
  readonly logger: Logger | undefined
  /** The monotonic clock latencies, ramps and health deadlines are measured on, in ms. */
  clock(): number
  /** The eligible set, or an effective weight, may have changed: selectors must be rebuilt. */
  changed(): void
  /** Tell the transition watchers that `state` became `to`. */
  transition(state: BackendState, to: BackendTransition['to'], reason?: string): void
  /** Something falls due at `at` (pool clock): the pool refreshes no later than then. */
  schedule(at: number): void
}

/**
 * One pass over the backends that applies what fell due (ejections that ended, breakers that
 * turned half-open, ramp steps). Each part records into it; the pool reads it at the end.
 */
export interface Sweep {
  /** Whether anything changed that the eligible set or the effective weights depend on. */
  changed: boolean
  /** The earliest time (pool clock) something falls due next; `Infinity` when nothing does. */
  next: number
}
