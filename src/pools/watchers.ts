/**
 * A list of listeners, copied on write: a listener added or removed while the list is being
 * called takes effect from the next call on, as with `EventTarget`.
 */

/**
 * Listeners of one kind of event.
 *
 * @example
 * ```ts
 * const watchers = new Watchers<string>()
 * const stop = watchers.add((id) => console.log(id))
 * watchers.emit('a') // logs a
 * stop()
 * ```
 */
export class Watchers<T> {
  #listeners: readonly ((value: T) => void)[] = []

  /** How many listeners there are: callers skip building an event nobody listens to. */
  get size(): number {
    return this.#listeners.length
  }

  /**
   * Call `listener` with every event from now on.
   *
   * @returns a function that stops the calls
   */
  add(listener: (value: T) => void): () => void {
    this.#listeners = [...this.#listeners, listener]
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener)
    }
  }

  /** Call every listener with `value`, in the order they were added. */
  emit(value: T): void {
    const listeners = this.#listeners
    for (let i = 0; i < listeners.length; i++) listeners[i]!(value)
  }
}
