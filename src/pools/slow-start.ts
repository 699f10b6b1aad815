/**
 * Slow start per backend, as Envoy's `slow_start_config` and nginx's `slow_start` apply it: a
 * backend that becomes available again (added at run time, enabled, back up, back from an
 * ejection or an open circuit) ramps from a fraction of its weight to all of it over the window.
 * The curve and its steps are ../health/slow-start.ts; this file keeps each backend's place on it
 * and tells the pool when the next step falls due, so that selectors are rebuilt once per step.
 */
import {
  DEFAULT_SLOW_START_OPTIONS,
  nextRampChange,
  rampFactor,
  type SlowStartOptions,
} from '../health/slow-start.ts'
import type { BackendState } from './backend-state.ts'
import type { PoolContext, Sweep } from './context.ts'

/** The fields of {@link BackendState} that slow start moves. */
export type RampFields = Pick<BackendState, 'rampFactor' | 'rampStart'>

/**
 * The ramps of one pool's backends.
 *
 * @example
 * ```ts
 * const ramp = new SlowStart(context, { window: 10_000, aggression: 1, minWeightPercent: 10 })
 * ramp.start(state) // state.rampFactor === 0.1; the pool is due again 2000 ms later, at 0.2
 * ```
 */
export class SlowStart {
  readonly #context: Pick<PoolContext, 'clock' | 'schedule'>
  #options: SlowStartOptions

  /** @param options @default {@link DEFAULT_SLOW_START_OPTIONS} (off) */
  constructor(
    context: Pick<PoolContext, 'clock' | 'schedule'>,
    options: SlowStartOptions = DEFAULT_SLOW_START_OPTIONS,
  ) {
    this.#context = context
    this.#options = options
  }

  /** Take new options (on a reload); ramps under way follow the new curve from their next step. */
  configure(options: SlowStartOptions): void {
    this.#options = options
  }

  /**
   * Begin a ramp for a backend that just became available, when slow start is on: its factor
   * drops to the first step, and the pool is due again when the second begins.
   */
  start(state: RampFields): void {
    if (this.#options.window <= 0) return
    const now = this.#context.clock()
    state.rampStart = now
    state.rampFactor = rampFactor(0, this.#options)
    this.#context.schedule(now + nextRampChange(0, this.#options))
  }

  /**
   * Move a ramp under way to the step it has reached at `now`, and end it at full weight. Records
   * in `sweep` whether the factor changed and when the next step falls due.
   */
  step(state: RampFields, now: number, sweep: Sweep): void {
    if (state.rampStart === undefined) return
    const elapsed = now - state.rampStart
    const factor = rampFactor(elapsed, this.#options)
    if (factor !== state.rampFactor) {
      state.rampFactor = factor
      sweep.changed = true
    }
    if (factor >= 1) state.rampStart = undefined
    else sweep.next = Math.min(sweep.next, state.rampStart + nextRampChange(elapsed, this.#options))
  }
}

/**
 * End a ramp at once, at full weight: an ejected backend takes no traffic, and ramps afresh when
 * it returns.
 */
export function stopRamp(state: RampFields): void {
  state.rampStart = undefined
  state.rampFactor = 1
}

/** Whether any of `states` is ramping up now. */
export function isRamping(states: Iterable<RampFields>): boolean {
  for (const state of states) if (state.rampFactor < 1) return true
  return false
}
