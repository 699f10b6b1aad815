/**
 * Runs a task at an interval with jitter. Rounds never overlap: the next is scheduled only after
 * the previous one has finished, like HAProxy's checks and Envoy's health checker.
 */

/** Options for {@link ProbeScheduler}. */
export interface SchedulerOptions {
  /** Time between the end of one round and the start of the next, in ms. */
  interval: number
  /** Each wait is randomised uniformly within ±jitter × interval. @default 0 */
  jitter?: number
  /** @default Math.random */
  random?: () => number
  /** One round. The signal aborts when the scheduler stops. */
  round: (signal: AbortSignal) => Promise<void>
  /** Called when a round throws; the schedule goes on. */
  onError?: (error: unknown) => void
}

/** A never-overlapping, jittered periodic task. */
export class ProbeScheduler {
  readonly #options: SchedulerOptions
  #timer: ReturnType<typeof setTimeout> | undefined
  #running: Promise<void> | undefined
  #stop: AbortController | undefined

  constructor(options: SchedulerOptions) {
    this.#options = options
  }

  /** Whether a round is under way now. */
  get busy(): boolean {
    return this.#running !== undefined
  }

  /** Start: the first round runs at once. Starting twice does nothing. */
  start(): void {
    if (this.#stop) return
    this.#stop = new AbortController()
    this.#run()
  }

  /** Stop scheduling, abort the round under way and wait for it to settle. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#stop?.abort()
    this.#stop = undefined
    await this.#running
  }

  /** The wait before the next round: interval × (1 ± jitter). */
  nextDelay(): number {
    const { interval, jitter = 0, random = Math.random } = this.#options
    return Math.max(0, Math.round(interval * (1 + jitter * (2 * random() - 1))))
  }

  #run(): void {
    const stop = this.#stop
    if (!stop || stop.signal.aborted) return
    this.#running = this.#options
      .round(stop.signal)
      .catch((error) => this.#options.onError?.(error))
      .finally(() => {
        this.#running = undefined
        if (!stop.signal.aborted) this.#timer = setTimeout(() => this.#run(), this.nextDelay())
      })
  }
}
