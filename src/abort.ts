/**
 * A light abort signal for the per-request path. A real `AbortController` is an `EventTarget`
 * and costs a few microseconds to build on Node, where it was one of the largest items in a
 * profile under load (and half of the short-lived objects V8 promoted); a load balancer needs one
 * or two per request. The upstream clients and the queue only read `aborted` and `reason` and
 * add or remove `'abort'` listeners, which is all this offers.
 */

/**
 * An abort listener: a function, or an object whose `handleEvent` is called, as an `EventTarget`
 * takes either. An object that is its own listener costs no closure per request.
 */
export type AbortListener = (() => void) | { handleEvent(): void }

/** The part of `AbortSignal` that the upstream clients and the queue use. */
export interface AbortSignalLike {
  readonly aborted: boolean
  readonly reason: unknown
  addEventListener(type: 'abort', listener: AbortListener, options?: { once?: boolean }): void
  removeEventListener(type: 'abort', listener: AbortListener): void
}

/**
 * An abort signal and its controller in one object. Nearly every signal has one listener at
 * most: it is held in a field, and only later ones take an array.
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
  /** The earliest listener still registered. */
  #first: AbortListener | undefined = undefined
  /** The listeners after it, in the order they were added. */
  #more: AbortListener[] | undefined = undefined

  /** Listeners run once, at the abort (every listener is `once`: there is only one abort). */
  addEventListener(_type: 'abort', listener: AbortListener): void {
    if (this.aborted) return
    if (this.#first === undefined) this.#first = listener
    else (this.#more ??= []).push(listener)
  }

  removeEventListener(_type: 'abort', listener: AbortListener): void {
    const more = this.#more
    if (this.#first === listener) this.#first = more?.length ? more.shift() : undefined
    else if (more) {
      const at = more.indexOf(listener)
      if (at !== -1) more.splice(at, 1)
    }
  }

  /** Abort with `reason` (an `AbortError` by default); later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError')
    const first = this.#first
    const more = this.#more
    this.#first = this.#more = undefined
    if (first !== undefined) notify(first)
    if (more !== undefined) for (const listener of more) notify(listener)
  }
}

/**
 * One signal aborted as the module loads. V8 marks an object field as constant while it has only
 * ever been written by its initializer, and optimized code that reads it (`aborted`, nearly every
 * function on the request path) takes the value as fixed. The first abort under load, usually a
 * client gone with its request in flight, then deoptimized about twenty hot functions at once,
 * and TurboFan compiled them again on the same core (0.5 s of it on Deno, `--trace-deopt`:
 * "dependent field type constness changed"). Written once here, the fields are plain ones
 * before anything is optimized.
 */
new LightSignal().abort(null)

/** Call a listener, a function or an `EventListener` object. */
function notify(listener: AbortListener): void {
  if (typeof listener === 'function') listener()
  else listener.handleEvent()
}
