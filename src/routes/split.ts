/**
 * A weighted split across pools (a canary): nginx's smooth weighted round robin, so that a 90/10
 * split sends exactly 9 of every 10 requests to the first pool, spread evenly, and a weight
 * changed at run time takes effect at the next request.
 */

/** One pool of a split and its weight. */
export interface SplitShare {
  readonly pool: string
  readonly weight: number
}

/** Picks the pool of each request in a weighted split. */
export class WeightedSplit {
  #shares: SplitShare[] = []
  #current: number[] = []
  #total = 0

  constructor(shares: readonly SplitShare[]) {
    this.setWeights(shares)
  }

  /** The shares in force. */
  get shares(): readonly SplitShare[] {
    return this.#shares
  }

  /**
   * Replace the weights; the smoothing state restarts.
   *
   * @throws {RangeError} when the weights sum to 0
   */
  setWeights(shares: readonly SplitShare[]): void {
    const total = shares.reduce((sum, share) => sum + share.weight, 0)
    if (!(total > 0)) throw new RangeError('The weights sum to 0')
    this.#shares = shares.map(({ pool, weight }) => ({ pool, weight }))
    this.#current = shares.map(() => 0)
    this.#total = total
  }

  /**
   * The next request's pool.
   *
   * @example
   * ```ts
   * const split = new WeightedSplit([{ pool: 'web', weight: 90 }, { pool: 'web-v2', weight: 10 }])
   * split.next() // 'web' nine times in ten
   * ```
   */
  next(): string {
    let best = 0
    for (let i = 0; i < this.#shares.length; i++) {
      this.#current[i]! += this.#shares[i]!.weight
      if (this.#current[i]! > this.#current[best]!) best = i
    }
    this.#current[best]! -= this.#total
    return this.#shares[best]!.pool
  }
}
