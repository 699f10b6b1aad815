import { rotation } from './fallbacks.ts'
import { hash32 } from './hash32.ts'
import type { Strategy } from './strategy.ts'
import { WeightedHash } from './weighted-hash.ts'

/**
 * IP hash (nginx `ip_hash`, HAProxy `balance source`): the client address decides the backend,
 * in proportion to the weights, and keeps deciding it while the set of backends is stable. The
 * fallbacks are the backends after it, in list order.
 *
 * @example
 * ```ts
 * const selector = ipHash.build([a, b, c])
 * // every request from 192.0.2.7 goes to the same backend
 * ```
 */
export const ipHash: Strategy = {
  name: 'ip-hash',
  build(backends) {
    const slices = new WeightedHash(backends.map((b) => b.weight))
    return {
      *candidates(input) {
        if (backends.length === 0) return
        const first = slices.pick(hash32(input.clientIp ?? ''))
        yield backends[first]!
        yield* rotation(backends, first)
      },
    }
  },
}
