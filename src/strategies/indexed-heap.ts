/**
 * A binary min-heap over the items `0 … size − 1` that can re-order one item after its key
 * changed, in O(log n). The order comes from `less`, which reads the keys from the caller's arrays.
 */
export class IndexedHeap {
  readonly #heap: Int32Array
  readonly #position: Int32Array
  readonly #less: (a: number, b: number) => boolean

  constructor(size: number, less: (a: number, b: number) => boolean) {
    this.#heap = new Int32Array(size)
    this.#position = new Int32Array(size)
    this.#less = less
    for (let i = 0; i < size; i++) this.#heap[i] = this.#position[i] = i
    for (let i = (size >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  /** The least item, or -1 when the heap is empty. */
  top(): number {
    return this.#heap.length === 0 ? -1 : this.#heap[0]!
  }

  /** Restore the order after `item`'s key changed. */
  update(item: number): void {
    const at = this.#position[item]!
    if (at > 0 && this.#less(item, this.#heap[(at - 1) >> 1]!)) this.#up(at)
    else this.#down(at)
  }

  #up(at: number): void {
    const heap = this.#heap
    const item = heap[at]!
    while (at > 0) {
      const parent = (at - 1) >> 1
      const above = heap[parent]!
      if (!this.#less(item, above)) break
      heap[at] = above
      this.#position[above] = at
      at = parent
    }
    heap[at] = item
    this.#position[item] = at
  }

  #down(at: number): void {
    const heap = this.#heap
    const size = heap.length
    const item = heap[at]!
    for (;;) {
      let child = 2 * at + 1
      if (child >= size) break
      if (child + 1 < size && this.#less(heap[child + 1]!, heap[child]!)) child++
      const below = heap[child]!
      if (!this.#less(below, item)) break
      heap[at] = below
      this.#position[below] = at
      at = child
    }
    heap[at] = item
    this.#position[item] = at
  }
}
