/**
 * Weighted sampling in O(1) per draw, with Vose's alias method: an O(n) table built once per
 * backend set, then one random number per draw.
 */
export class AliasTable {
  readonly #probability: Float64Array
  readonly #alias: Int32Array
  readonly #uniform: boolean

  /** @param weights positive weights, one per item */
  constructor(weights: readonly number[]) {
    const n = weights.length
    this.#probability = new Float64Array(n)
    this.#alias = new Int32Array(n)
    this.#uniform = weights.every((w) => w === weights[0])
    if (this.#uniform || n === 0) return
    const total = weights.reduce((sum, w) => sum + w, 0)
    const scaled = weights.map((w) => (w * n) / total)
    const small: number[] = []
    const large: number[] = []
    scaled.forEach((p, i) => (p < 1 ? small : large).push(i))
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!
      const l = large.pop()!
      this.#probability[s] = scaled[s]!
      this.#alias[s] = l
      scaled[l] = scaled[l]! + scaled[s]! - 1
      ;(scaled[l]! < 1 ? small : large).push(l)
    }
    for (const i of large) this.#probability[i] = 1
    for (const i of small) this.#probability[i] = 1 // rounding leftovers
  }

  /** Draw an index with probability proportional to its weight. */
  sample(random: () => number): number {
    const n = this.#probability.length
    const u = random() * n
    const i = Math.min(Math.floor(u), n - 1)
    if (this.#uniform) return i
    return u - i < this.#probability[i]! ? i : this.#alias[i]!
  }
}
