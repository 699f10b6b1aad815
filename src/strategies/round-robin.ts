import type { Strategy } from './strategy.ts'

/**
 * Round robin: each request starts one backend further along; the fallbacks follow in order.
 *
 * @example
 * ```ts
 * const selector = roundRobin.build([a, b, c])
 * // first choices over four requests: a, b, c, a
 * ```
 */
export const roundRobin: Strategy = {
  name: 'round-robin',
  build(backends) {
    let next = 0
    return {
      *candidates() {
        const count = backends.length
        if (count === 0) return
        const start = next
        next = start + 1 === count ? 0 : start + 1
        for (let i = 0; i < count; i++) yield backends[(start + i) % count]!
      },
    }
  },
}
