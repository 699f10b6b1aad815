/**
 * Active health: the rise/fall state machine that turns probe results into up and down, as
 * HAProxy's `rise` and `fall` server options (and pingora-load-balancing's `health_threshold`)
 * do. A down backend comes up after `rise` consecutive successes, an up one goes down after
 * `fall` consecutive failures; a single result against the trend never flips it. The probes
 * themselves live in ../health/; what else a flip changes (ejection, ramp, the eligible set) is
 * the pool's business.
 */
import type { Logger } from '../types.ts'
import type { BackendState, ProbeResult } from './backend-state.ts'

/** The fields of {@link BackendState} that active health moves. */
export type HealthFields = Pick<
  BackendState,
  'backend' | 'healthy' | 'consecutiveSuccesses' | 'consecutiveFailures' | 'lastProbe' | 'probes'
>

/** The thresholds, as the config's `healthCheck` section has them. */
export interface RiseFallOptions {
  /** Consecutive probe successes that bring a down backend up. @default 2 */
  rise?: number
  /** Consecutive probe failures that take an up backend down. @default 3 */
  fall?: number
}

/** A probe result that flipped a backend's health, and why. */
export interface HealthFlip {
  readonly to: 'up' | 'down'
  readonly reason?: string
}

/**
 * The rise/fall thresholds of one pool, applied to each of its backends' counters.
 *
 * @example
 * ```ts
 * const health = new RiseFall({ rise: 2, fall: 3 })
 * health.observe(state, { ok: false, at: Date.now() }) // undefined, then again, then
 * health.observe(state, { ok: false, at: Date.now() }) // { to: 'down', reason: undefined }
 * ```
 */
export class RiseFall {
  #rise: number
  #fall: number
  readonly #logger: Logger | undefined

  constructor(options: RiseFallOptions = {}, logger?: Logger) {
    this.#rise = options.rise ?? 2
    this.#fall = options.fall ?? 3
    this.#logger = logger
  }

  /** Take new thresholds (on a reload); the counters stay, the thresholds apply from now on. */
  configure(options: RiseFallOptions): void {
    if (options.rise !== undefined) this.#rise = options.rise
    if (options.fall !== undefined) this.#fall = options.fall
  }

  /**
   * Count one probe result on `state`, and log the flip when it makes one (`backend up` at info,
   * `backend down` at warn).
   *
   * @returns the flip, or `undefined` when the backend stays as it was
   */
  observe(state: HealthFields, probe: ProbeResult): HealthFlip | undefined {
    state.lastProbe = probe
    state.probes ??= { ok: 0, failed: 0 }
    state.probes[probe.ok ? 'ok' : 'failed']++
    if (probe.ok) {
      state.consecutiveFailures = 0
      state.consecutiveSuccesses++
      if (state.healthy || state.consecutiveSuccesses < this.#rise) return undefined
      state.healthy = true
      const reason = `${state.consecutiveSuccesses} consecutive probe successes`
      this.#logger?.info('backend up', {
        backend: state.backend.id,
        url: state.backend.url,
        reason,
      })
      return { to: 'up', reason }
    }
    state.consecutiveSuccesses = 0
    state.consecutiveFailures++
    if (!state.healthy || state.consecutiveFailures < this.#fall) return undefined
    state.healthy = false
    this.#logger?.warn('backend down', {
      backend: state.backend.id,
      url: state.backend.url,
      reason: probe.reason,
      ...(probe.output ? { output: probe.output } : {}),
      failures: state.consecutiveFailures,
    })
    return { to: 'down', reason: probe.reason }
  }
}
