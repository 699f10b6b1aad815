/**
 * Passive health (outlier detection) on live traffic, after Envoy's `outlier_detection` and
 * nginx's `max_fails`: consecutive 5xx answers, or consecutive connect failures, resets and
 * timeouts, eject a backend for `baseEjectionTime` × the number of times it was ejected recently,
 * capped at `maxEjectionTime`. The pool applies the ejection and the cap on the pool's share.
 */

/** Options of passive health, as the config's `outlierDetection` section has them. */
export interface OutlierOptions {
  /** @default true */
  readonly enabled: boolean
  /** Consecutive 5xx answers that eject; 0 turns it off. @default 5 */
  readonly consecutive5xx: number
  /** Consecutive connect failures, resets and timeouts that eject; 0 turns it off. @default 5 */
  readonly consecutiveErrors: number
  /** @default 30_000 ms */
  readonly baseEjectionTime: number
  /** @default 300_000 ms */
  readonly maxEjectionTime: number
  /** @default 50 */
  readonly maxEjectionPercent: number
}

/** The defaults of {@link OutlierOptions}. */
export const DEFAULT_OUTLIER_OPTIONS: OutlierOptions = {
  enabled: true,
  consecutive5xx: 5,
  consecutiveErrors: 5,
  baseEjectionTime: 30_000,
  maxEjectionTime: 300_000,
  maxEjectionPercent: 50,
}

/**
 * How one request to a backend went. `cancelled` means the client went away first: it says
 * nothing about the backend.
 */
export type Outcome = 'success' | 'http5xx' | 'connect' | 'reset' | 'timeout' | 'cancelled'

/** Whether an outcome counts as a failure of the backend. */
export function isFailure(outcome: Outcome): boolean {
  return outcome !== 'success' && outcome !== 'cancelled'
}

/** One backend's passive-health counters. */
export class OutlierTracker {
  /** Consecutive 5xx answers so far. */
  consecutive5xx = 0
  /** Consecutive connect failures, resets and timeouts so far. */
  consecutiveErrors = 0
  /** Ejections since start, for metrics. */
  ejections = 0
  /** The multiplier of the next ejection's length, less what has decayed since {@link returnedAt}. */
  #multiplier = 0
  /** When the backend was last ejected until; 0 when it never was. */
  ejectedUntil = 0
  /** When it last came back from an ejection. */
  returnedAt = 0

  /**
   * Count an outcome.
   *
   * @returns why the backend should be ejected now, or `undefined`
   */
  observe(outcome: Outcome, options: OutlierOptions): string | undefined {
    switch (outcome) {
      case 'success':
        this.consecutive5xx = 0
        this.consecutiveErrors = 0
        return undefined
      case 'cancelled':
        return undefined
      case 'http5xx':
        this.consecutiveErrors = 0
        this.consecutive5xx++
        if (options.consecutive5xx > 0 && this.consecutive5xx >= options.consecutive5xx) {
          return `${this.consecutive5xx} consecutive 5xx responses`
        }
        return undefined
      default:
        this.consecutive5xx = 0
        this.consecutiveErrors++
        if (options.consecutiveErrors > 0 && this.consecutiveErrors >= options.consecutiveErrors) {
          return `${this.consecutiveErrors} consecutive ${describeError(outcome)}`
        }
        return undefined
    }
  }

  /**
   * Eject at `now`. The multiplier falls by one for each `baseEjectionTime` the backend stayed in
   * since it last came back (Envoy decays it the same way), then rises by one.
   *
   * @returns how long the ejection lasts, in ms
   */
  eject(now: number, options: OutlierOptions): number {
    const { baseEjectionTime, maxEjectionTime } = options
    if (this.#multiplier > 0 && this.returnedAt > 0) {
      const decayed = Math.floor(Math.max(0, now - this.returnedAt) / baseEjectionTime)
      this.#multiplier = Math.max(0, this.#multiplier - decayed)
    }
    this.#multiplier++
    this.ejections++
    this.consecutive5xx = 0
    this.consecutiveErrors = 0
    const duration = Math.min(
      baseEjectionTime * this.#multiplier,
      Math.max(baseEjectionTime, maxEjectionTime),
    )
    this.ejectedUntil = now + duration
    return duration
  }

  /** Whether the backend is ejected at `now`. */
  isEjected(now: number): boolean {
    return this.ejectedUntil > now
  }

  /** End the ejection (its time is up, or an active probe saw the backend come back). */
  release(now: number): void {
    this.ejectedUntil = 0
    this.returnedAt = now
  }
}

function describeError(outcome: Outcome): string {
  if (outcome === 'connect') return 'errors (last: connect failure)'
  if (outcome === 'timeout') return 'errors (last: timeout)'
  return 'errors (last: reset)'
}

/**
 * How many backends out of `total` may be ejected at once: `maxEjectionPercent` of them, rounded
 * down but at least one when there are two or more; the only backend is never ejected (nginx
 * ignores `max_fails` for a lone server, so that a flaky one still gets its chance).
 */
export function ejectionLimit(total: number, maxEjectionPercent: number): number {
  if (total < 2 || maxEjectionPercent <= 0) return 0
  return Math.max(1, Math.floor((total * maxEjectionPercent) / 100))
}
