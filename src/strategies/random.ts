import { AliasTable } from './alias.ts'
import { rotation } from './fallbacks.ts'
import type { Strategy } from './strategy.ts'

/**
 * Random: each backend is picked with probability weight / total weight (uniform when the
 * weights are equal), in O(1) through an alias table. The fallbacks are the backends after the
 * first choice, in list order.
 *
 * @example
 * ```ts
 * const selector = random.build([a, b, c], { random: seededRandom })
 * ```
 */
export const random: Strategy = {
  name: 'random',
  build(backends, options) {
    const draw = options?.random ?? Math.random
    const table = new AliasTable(backends.map((b) => b.weight))
    return {
      *candidates() {
        if (backends.length === 0) return
        const first = table.sample(draw)
        yield backends[first]!
        yield* rotation(backends, first)
      },
    }
  },
}
