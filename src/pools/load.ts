/**
 * Live load per backend, what strategies read through `LoadView`: requests in flight, the
 * peak-EWMA response time (Finagle's and linkerd's `PeakEwma`), and the utilisation the backend
 * reports in `Endpoint-Load-Metrics` (../load-metrics.ts). Every change is announced to the load
 * watchers, so that load-aware selectors re-order one backend instead of scanning them all.
 */
import type { Backend } from '../types.ts'
import type { BackendState } from './backend-state.ts'
import { Watchers } from './watchers.ts'

/** The fields of {@link BackendState} that load moves. */
export type LoadFields = Pick<
  BackendState,
  'backend' | 'inflight' | 'latency' | 'latencyAt' | 'utilisation'
>

/** Time constant of the peak-EWMA latency, in ms: Finagle's and linkerd's default. */
export const DEFAULT_LATENCY_DECAY = 10_000

/**
 * The load of one pool's backends, on the pool's monotonic clock.
 *
 * @example
 * ```ts
 * const load = new LoadMeter(() => performance.now())
 * load.observeLatency(state, 120)
 * load.latency(state) // 120, decaying towards 0 with time constant 10 s until the next response
 * ```
 */
export class LoadMeter {
  readonly #clock: () => number
  readonly #watchers = new Watchers<Backend>()
  /** Time constant of the peak-EWMA latency, in ms. @default {@link DEFAULT_LATENCY_DECAY} */
  decay: number

  constructor(clock: () => number, decay = DEFAULT_LATENCY_DECAY) {
    this.#clock = clock
    this.decay = decay
  }

  /**
   * Call `listener` after every change to a backend's in-flight count, latency or utilisation.
   *
   * @returns a function that stops the calls
   */
  watch(listener: (backend: Backend) => void): () => void {
    return this.#watchers.add(listener)
  }

  /** Count one more request (or another unit of load) in flight. */
  acquire(state: LoadFields): void {
    state.inflight++
    this.#watchers.emit(state.backend)
  }

  /**
   * Count one request fewer in flight.
   *
   * @returns whether there was one to count off
   */
  release(state: LoadFields): boolean {
    if (state.inflight === 0) return false
    state.inflight--
    this.#watchers.emit(state.backend)
    return true
  }

  /** The peak-EWMA response time in ms, decayed to now; 0 before the first response. */
  latency(state: LoadFields): number {
    if (state.latency === 0) return 0
    return state.latency * Math.exp(-Math.max(this.#clock() - state.latencyAt, 0) / this.decay)
  }

  /**
   * Record how long a backend took to send its response headers, as a peak EWMA (Finagle's and
   * linkerd's `PeakEwma`): a slower response replaces the average at once; a faster one is
   * blended in with weight 1 − e^(−elapsed / decay), so that the average follows real time
   * however unevenly the responses come.
   */
  observeLatency(state: LoadFields, ms: number, now = this.#clock()): void {
    if (ms > state.latency) {
      state.latency = ms
    } else {
      const keep = Math.exp(-Math.max(now - state.latencyAt, 0) / this.decay)
      state.latency = state.latency * keep + ms * (1 - keep)
    }
    state.latencyAt = now
    this.#watchers.emit(state.backend)
  }

  /** Record the utilisation (0 to 1) a backend reported; the watchers hear only of a change. */
  reportUtilisation(state: LoadFields, utilisation: number): void {
    if (state.utilisation === utilisation) return
    state.utilisation = utilisation
    this.#watchers.emit(state.backend)
  }
}
