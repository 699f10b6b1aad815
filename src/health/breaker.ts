/**
 * A circuit breaker per backend: closed → open → half-open, as in Hystrix and resilience4j.
 *
 * - **closed**: requests flow; outcomes are counted in a rolling window. When at least
 *   `minimumRequests` were seen and the share of failures reaches `failureRatio`, it opens.
 * - **open**: the backend takes no requests for `openTime`; then it turns half-open.
 * - **half-open**: at most `halfOpenRequests` trial requests go through. If all of them succeed it
 *   closes; the first failure opens it again.
 */

/** Options, as the config's `circuitBreaker` section has them. */
export interface BreakerOptions {
  /** @default true */
  readonly enabled: boolean
  /** @default 0.5 */
  readonly failureRatio: number
  /** @default 20 */
  readonly minimumRequests: number
  /** @default 10_000 ms */
  readonly window: number
  /** @default 5000 ms */
  readonly openTime: number
  /** @default 3 */
  readonly halfOpenRequests: number
}

/** The defaults of {@link BreakerOptions}. */
export const DEFAULT_BREAKER_OPTIONS: BreakerOptions = {
  enabled: true,
  failureRatio: 0.5,
  minimumRequests: 20,
  window: 10_000,
  openTime: 5000,
  halfOpenRequests: 3,
}

/** The breaker's state. */
export type BreakerState = 'closed' | 'open' | 'half-open'

/** The window is counted in this many buckets, so that old outcomes fall out in steps. */
const BUCKETS = 10

/** One backend's circuit breaker. Time comes in as `now` (ms, monotonic). */
export class CircuitBreaker {
  #state: BreakerState = 'closed'
  #options: BreakerOptions
  /** When an open breaker turns half-open. */
  #openUntil = 0
  /** Trial requests let through in this half-open period, and those that succeeded. */
  #trials = 0
  #trialSuccesses = 0
  readonly #failures = new Float64Array(BUCKETS)
  readonly #totals = new Float64Array(BUCKETS)
  /** The window step (time / bucket length) that each bucket holds. */
  readonly #steps = new Float64Array(BUCKETS).fill(-Infinity)

  constructor(options: BreakerOptions = DEFAULT_BREAKER_OPTIONS) {
    this.#options = options
  }

  /** The state now; {@link tick} moves open to half-open. */
  get state(): BreakerState {
    return this.#state
  }

  /** When an open breaker turns half-open (0 otherwise). */
  get openUntil(): number {
    return this.#state === 'open' ? this.#openUntil : 0
  }

  /** Replace the options (on reload); the counts so far stay. */
  configure(options: BreakerOptions): void {
    // Buckets are measured in the window's tenths: a new window starts the counts afresh.
    if (options.window !== this.#options.window) this.#steps.fill(-Infinity)
    this.#options = options
    if (!options.enabled && this.#state !== 'closed') this.#close()
  }

  /**
   * Move an open breaker to half-open once its time is up.
   *
   * @returns the new state when it changed
   */
  tick(now: number): BreakerState | undefined {
    if (this.#state !== 'open' || now < this.#openUntil) return undefined
    this.#state = 'half-open'
    this.#trials = 0
    this.#trialSuccesses = 0
    return this.#state
  }

  /**
   * Whether a request may go to the backend now. In half-open, this takes one of the trial slots;
   * give it back with {@link cancelTrial} when the request ends without an outcome.
   */
  tryAcquire(): boolean {
    if (this.#state === 'closed') return true
    if (this.#state === 'open') return false
    if (this.#trials >= this.#options.halfOpenRequests) return false
    this.#trials++
    return true
  }

  /** Whether {@link tryAcquire} would succeed, without taking a slot. */
  admits(): boolean {
    if (this.#state === 'half-open') return this.#trials < this.#options.halfOpenRequests
    return this.#state === 'closed'
  }

  /** A half-open trial ended without telling anything (the client went away). */
  cancelTrial(): void {
    if (this.#state === 'half-open' && this.#trials > this.#trialSuccesses) this.#trials--
  }

  /**
   * Count one request's outcome at `now`.
   *
   * @returns the new state when it changed
   */
  record(failed: boolean, now: number): BreakerState | undefined {
    if (!this.#options.enabled) return undefined
    switch (this.#state) {
      case 'open':
        // A request that started before the breaker opened; it changes nothing.
        return undefined
      case 'half-open':
        if (failed) return this.#open(now)
        this.#trialSuccesses++
        if (this.#trialSuccesses >= this.#options.halfOpenRequests) return this.#close()
        return undefined
      case 'closed': {
        const step = Math.floor(now / (this.#options.window / BUCKETS))
        const at = step % BUCKETS
        if (this.#steps[at] !== step) {
          this.#steps[at] = step
          this.#failures[at] = 0
          this.#totals[at] = 0
        }
        this.#totals[at]!++
        if (failed) this.#failures[at]!++
        if (!failed) return undefined
        const { failures, total } = this.#sum(step)
        if (
          total >= this.#options.minimumRequests &&
          failures / total >= this.#options.failureRatio
        ) {
          return this.#open(now)
        }
        return undefined
      }
    }
  }

  /** Failures and requests counted in the window now (closed state only). */
  counts(now: number): { failures: number; total: number } {
    return this.#sum(Math.floor(now / (this.#options.window / BUCKETS)))
  }

  #sum(step: number): { failures: number; total: number } {
    let failures = 0
    let total = 0
    for (let i = 0; i < BUCKETS; i++) {
      if (this.#steps[i]! > step - BUCKETS) {
        failures += this.#failures[i]!
        total += this.#totals[i]!
      }
    }
    return { failures, total }
  }

  #open(now: number): BreakerState {
    this.#state = 'open'
    this.#openUntil = now + this.#options.openTime
    return this.#state
  }

  #close(): BreakerState {
    this.#state = 'closed'
    this.#steps.fill(-Infinity)
    return this.#state
  }
}
