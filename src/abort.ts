/**
 * A light abort signal for the per-request path. A real `AbortController` is an `EventTarget`
 * and costs a few microseconds to build on Node, where it was one of the largest items in a
 * profile under load (and half of the short-lived objects V8 promoted); a load balancer needs one
 * or two per request. The upstream clients and the queue only read `aborted` and `reason` and
 * add or remove `'abort'` listeners, which is all this offers.
 */

/** The part of `AbortSignal` that the upstream clients and the queue use. */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: () => void): void
}

/**
 * An abort signal and its controller in one object.
 *
 * @example
 * ```ts
 * const signal = new LightSignal()
 * signal.addEventListener('abort', () => console.log('aborted:', signal.reason))
 * signal.abort(new Error('Deadline'))
 * ```
 */
export class LightSignal implements AbortSignalLike {
  aborted = false
  reason: unknown = undefined
  #listeners: (() => void)[] = []

  /** Listeners run once, at the abort (every listener is `once`: there is only one abort). */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.aborted) this.#listeners.push(listener)
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const at = this.#listeners.indexOf(listener)
    if (at !== -1) this.#listeners.splice(at, 1)
  }

  /** Abort with `reason` (an `AbortError` by default); later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError')
    const listeners = this.#listeners
    this.#listeners = []
    for (const listener of listeners) listener()
  }
}
