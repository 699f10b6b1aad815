/**
 * Map-based weighted hashing (HAProxy's default `hash-type map-based`): a 32-bit hash falls into
 * one of the backends' slices of [0, total weight), found by binary search over the running
 * totals. Stable while the backend set is stable; any change to the set may move any key, which
 * is what `consistent-hash` is for.
 */
export class WeightedHash {
  readonly #ends: Float64Array
  readonly #total: number

  /** @param weights positive weights, one per item */
  constructor(weights: readonly number[]) {
    this.#ends = new Float64Array(weights.length)
    let total = 0
    weights.forEach((w, i) => (this.#ends[i] = total += w))
    this.#total = total
  }

  /** The item whose slice holds `hash` (an unsigned 32-bit integer). There must be an item. */
  pick(hash: number): number {
    const target = (hash / 0x1_0000_0000) * this.#total
    const ends = this.#ends
    let low = 0
    let high = ends.length - 1
    while (low < high) {
      const mid = (low + high) >> 1
      if (ends[mid]! > target) high = mid
      else low = mid + 1
    }
    return low
  }
}
