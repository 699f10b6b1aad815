import { AliasTable } from './alias.ts'
import { rotation } from './fallbacks.ts'
import type { Strategy } from './strategy.ts'

/**
 * Power of two choices (Mitzenmacher; Envoy's `LEAST_REQUEST`, HAProxy `random(2)`): draw two
 * different backends at random, weighted by weight, and take the one with the lower
 * in-flight / weight; on a tie, the first drawn. O(1) per pick, and it needs no shared order,
 * which is why it copes well with stale load. The fallbacks are the other one drawn, then the
 * rest in list order.
 *
 * @example
 * ```ts
 * const selector = powerOfTwo.build(backends, { random: seededRandom })
 * ```
 */
export const powerOfTwo: Strategy = {
  name: 'power-of-two',
  build(backends, options) {
    const draw = options?.random ?? Math.random
    const count = backends.length
    const table = new AliasTable(backends.map((b) => b.weight))
    return {
      *candidates(_input, view) {
        if (count === 0) return
        if (count === 1) {
          yield backends[0]!
          return
        }
        const a = table.sample(draw)
        let b = table.sample(draw)
        // A few more weighted draws for a different second one, then a uniform one.
        for (let tries = 0; b === a && tries < 4; tries++) b = table.sample(draw)
        if (b === a) b = (a + 1 + Math.min(Math.floor(draw() * (count - 1)), count - 2)) % count
        const first = backends[a]!
        const second = backends[b]!
        // a/wa ≤ b/wb, cross-multiplied.
        const aWins = view.inflight(first) * second.weight <= view.inflight(second) * first.weight
        yield aWins ? first : second
        yield aWins ? second : first
        yield* rotation(backends, a, b)
      },
    }
  },
}
