import { rotation } from './fallbacks.ts'
import type { Strategy } from './strategy.ts'

/**
 * nginx's smooth weighted round robin, in O(log n) per pick. nginx adds each weight to its peer's
 * current weight, picks the greatest (the first of equals), and takes the total weight off the
 * one picked: weights 5, 1, 1 give a a b a c a a. After `t` picks of which `k` went to a peer of
 * weight `w`, its current weight is `t·w − total·k`, a line in `t`. A kinetic tournament tree keeps
 * the greatest line at its root and records, at each node, the step at which the other child's
 * line overtakes; a pick re-plays only the nodes whose step has come and the picked peer's path.
 * Every `total` picks each peer has been picked exactly `weight` times and every current weight is
 * 0 again, so the schedule restarts there and its numbers stay small.
 */
export class SmoothWeightedSchedule {
  readonly #weight: Float64Array
  readonly #total: number
  /** −total × picks so far, per item: the item's current weight is `base + step × weight`. */
  readonly #base: Float64Array
  /** Leaves start here; node `i` has children `2i` and `2i + 1`. */
  readonly #leaves: number
  readonly #winner: Int32Array
  /** The earliest step at which some node in the subtree may change its winner. */
  readonly #expiry: Float64Array
  #step = 0

  /** @param weights positive whole numbers, one per item */
  constructor(weights: readonly number[]) {
    const n = weights.length
    this.#weight = Float64Array.from(weights)
    this.#total = weights.reduce((sum, w) => sum + w, 0)
    this.#base = new Float64Array(n)
    let leaves = 1
    while (leaves < n) leaves *= 2
    this.#leaves = leaves
    this.#winner = new Int32Array(2 * leaves).fill(-1)
    this.#expiry = new Float64Array(2 * leaves).fill(Infinity)
    this.#restart()
  }

  /** The next item, as nginx would pick it. There must be at least one item. */
  next(): number {
    if (this.#step === this.#total) this.#restart()
    const step = ++this.#step
    this.#refresh(1, step)
    const item = this.#winner[1]!
    this.#base[item]! -= this.#total
    for (let node = (this.#leaves + item) >> 1; node >= 1; node >>= 1) this.#compute(node, step)
    return item
  }

  #restart(): void {
    this.#step = 0
    this.#base.fill(0)
    for (let i = 0; i < this.#base.length; i++) this.#winner[this.#leaves + i] = i
    for (let node = this.#leaves - 1; node >= 1; node--) this.#compute(node, 0)
  }

  /** Bring every node whose winner may have changed by `step` up to date. */
  #refresh(node: number, step: number): void {
    if (node >= this.#leaves || this.#expiry[node]! > step) return
    this.#refresh(2 * node, step)
    this.#refresh(2 * node + 1, step)
    this.#compute(node, step)
  }

  /** The winner of `node` at `step` from its children's, and when that may change. */
  #compute(node: number, step: number): void {
    const left = this.#winner[2 * node]!
    const right = this.#winner[2 * node + 1]!
    let winner = left
    let changes = Infinity
    if (left >= 0 && right >= 0) {
      const w = this.#weight
      const l = this.#base[left]! + step * w[left]!
      const r = this.#base[right]! + step * w[right]!
      if (l >= r) {
        // The left (lower) item wins ties; the right overtakes once strictly greater.
        const gain = w[right]! - w[left]!
        if (gain > 0) changes = step + Math.floor((l - r) / gain) + 1
      } else {
        winner = right
        const gain = w[left]! - w[right]!
        if (gain > 0) changes = step + Math.ceil((r - l) / gain)
      }
    } else if (left < 0) {
      winner = right
    }
    this.#winner[node] = winner
    this.#expiry[node] = Math.min(changes, this.#expiry[2 * node]!, this.#expiry[2 * node + 1]!)
  }
}

/**
 * Smooth weighted round robin, exactly as nginx's `upstream` does it: weights 5, 1, 1 give
 * a a b a c a a, not a a a a a b c. Equal weights make it plain round robin. The fallbacks are
 * the backends after the first choice, in list order.
 *
 * @example
 * ```ts
 * const selector = weightedRoundRobin.build([a5, b1, c1])
 * // first choices: a a b a c a a, then again
 * ```
 */
export const weightedRoundRobin: Strategy = {
  name: 'weighted-round-robin',
  build(backends) {
    // Slow start scales weights by tenths: the schedule counts in whole numbers.
    const whole = backends.every((b) => Number.isInteger(b.weight))
    const schedule = new SmoothWeightedSchedule(
      backends.map((b) => (whole ? b.weight : Math.max(1, Math.round(b.weight * 100)))),
    )
    return {
      *candidates() {
        if (backends.length === 0) return
        const first = schedule.next()
        yield backends[first]!
        yield* rotation(backends, first)
      },
    }
  },
}
