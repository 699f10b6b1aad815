import type { Backend } from '../types.ts'
import type { Selector, Strategy } from './strategy.ts'

/**
 * Round robin: each request starts one backend further along; the fallbacks follow in order.
 *
 * @example
 * ```ts
 * const selector = roundRobin.build([a, b, c])
 * // first choices over four requests: a, b, c, a
 * ```
 */
export const roundRobin: Strategy = {
  name: 'round-robin',
  build(backends) {
    return new RoundRobin(backends)
  },
}

/** The selector: where the next request starts. */
class RoundRobin implements Selector {
  #next = 0

  constructor(readonly backends: readonly Backend[]) {}

  /** A property, not a method: callers may take it off the selector. */
  readonly candidates = (): Iterable<Backend> => new Rotation(this)

  /** The start of one request's rotation; the next request starts one further along. */
  take(): number {
    const start = this.#next
    this.#next = start + 1 === this.backends.length ? 0 : start + 1
    return start
  }
}

/**
 * One request's candidates: the backends from its start on, wrapping around, each once. Its own
 * iterator, a plain object rather than a generator made for every request; as a generator's, its
 * start is taken at the first `next()`, so that candidates never asked for (a sticky request's
 * pinned backend took it) do not move the rotation.
 */
class Rotation implements IterableIterator<Backend> {
  readonly #selector: RoundRobin
  /** The index of the first backend, or -1 before the first `next()`. */
  #start = -1
  #at = 0

  constructor(selector: RoundRobin) {
    this.#selector = selector
  }

  next(): IteratorResult<Backend> {
    const backends = this.#selector.backends
    const count = backends.length
    if (this.#at >= count) return { done: true, value: undefined }
    if (this.#start === -1) this.#start = this.#selector.take()
    const index = this.#start + this.#at++
    return { done: false, value: backends[index < count ? index : index - count]! }
  }

  [Symbol.iterator](): this {
    return this
  }
}
