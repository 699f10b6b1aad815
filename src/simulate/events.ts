/** A min-heap of timed events for the simulator; equal times pop in the order they were pushed. */
export class EventQueue<T> {
  readonly #times: number[] = []
  readonly #seqs: number[] = []
  readonly #items: T[] = []
  #seq = 0

  get size(): number {
    return this.#items.length
  }

  /** The time of the earliest event, or `Infinity` when there is none. */
  peekTime(): number {
    return this.#items.length ? this.#times[0]! : Infinity
  }

  push(time: number, item: T): void {
    let i = this.#items.length
    this.#times.push(time)
    this.#seqs.push(this.#seq++)
    this.#items.push(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(i, parent)) break
      this.#swap(i, parent)
      i = parent
    }
  }

  /** Remove and return the earliest event. */
  pop(): { time: number; item: T } | undefined {
    const count = this.#items.length
    if (count === 0) return undefined
    const time = this.#times[0]!
    const item = this.#items[0]!
    this.#swap(0, count - 1)
    this.#times.pop()
    this.#seqs.pop()
    this.#items.pop()
    const size = count - 1
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      const right = left + 1
      let least = i
      if (left < size && this.#less(left, least)) least = left
      if (right < size && this.#less(right, least)) least = right
      if (least === i) break
      this.#swap(i, least)
      i = least
    }
    return { time, item }
  }

  #less(a: number, b: number): boolean {
    const ta = this.#times[a]!
    const tb = this.#times[b]!
    return ta !== tb ? ta < tb : this.#seqs[a]! < this.#seqs[b]!
  }

  #swap(a: number, b: number): void {
    if (a === b) return
    ;[this.#times[a], this.#times[b]] = [this.#times[b]!, this.#times[a]!]
    ;[this.#seqs[a], this.#seqs[b]] = [this.#seqs[b]!, this.#seqs[a]!]
    ;[this.#items[a], this.#items[b]] = [this.#items[b]!, this.#items[a]!]
  }
}
