/**
 * The wait queue for requests whose every candidate backend is full (at its `maxConnections`, or
 * a half-open circuit with its trial slots taken), as HAProxy's `maxconn` and `timeout queue`:
 * bounded, first come first served, each wait limited in time. A slot that frees up wakes the
 * request at the head.
 */
import type { AbortSignalLike } from './abort.ts'

/** Options for {@link RequestQueue}. */
export interface QueueOptions {
  /** Requests waiting at most; 0 turns queueing off. @default 1000 */
  size: number
  /** How long one request waits, in ms. @default 5000 */
  timeout: number
}

/** How a wait ended: a slot may be free, or the request gives up. */
export type QueueResult = 'ready' | 'full' | 'timeout' | 'aborted'

interface Waiter {
  resolve(result: QueueResult): void
}

/** A bounded FIFO of waiting requests. */
export class RequestQueue {
  #options: QueueOptions
  readonly #waiters: Waiter[] = []

  constructor(options: QueueOptions) {
    this.#options = options
  }

  /** Requests waiting now. */
  get length(): number {
    return this.#waiters.length
  }

  /** The options in force. */
  get options(): QueueOptions {
    return this.#options
  }

  /** Replace the options (on reload). Requests already waiting keep their deadline. */
  configure(options: QueueOptions): void {
    this.#options = options
  }

  /**
   * Wait for a slot. `front` puts the request back at the head, for one that was woken but lost
   * the slot it was woken for.
   *
   * @returns `ready` when woken, `full` at once when the queue is full, `timeout` after the
   * queue timeout, `aborted` when `signal` aborts
   */
  wait(signal?: AbortSignalLike, front = false): Promise<QueueResult> {
    if (signal?.aborted) return Promise.resolve('aborted')
    if (this.#waiters.length >= this.#options.size) return Promise.resolve('full')
    return new Promise<QueueResult>((resolve) => {
      const settle = (result: QueueResult) => {
        clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        const at = this.#waiters.indexOf(waiter)
        if (at !== -1) this.#waiters.splice(at, 1)
        resolve(result)
      }
      const waiter: Waiter = { resolve: settle }
      const onAbort = () => settle('aborted')
      const timer = setTimeout(() => settle('timeout'), this.#options.timeout)
      signal?.addEventListener('abort', onAbort, { once: true })
      if (front) this.#waiters.unshift(waiter)
      else this.#waiters.push(waiter)
    })
  }

  /** A slot freed up: wake the request at the head. */
  wake(): void {
    this.#waiters[0]?.resolve('ready')
  }

  /** Something changed for every waiter (a backend came back, the config changed): wake all. */
  wakeAll(): void {
    for (const waiter of [...this.#waiters]) waiter.resolve('ready')
  }
}
