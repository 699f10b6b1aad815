import { rotation } from './fallbacks.ts'
import { hash32 } from './hash32.ts'
import { optionsFor } from './options.ts'
import type { Strategy } from './strategy.ts'
import { WeightedHash } from './weighted-hash.ts'

/**
 * URL hash (HAProxy `balance uri`, nginx `hash $request_uri`): the raw path, and with
 * `strategyOptions.urlHash.includeQuery` the query too, decides the backend, in proportion to the
 * weights, while the set of backends is stable. Good for caches: each URL lives on one backend.
 * The fallbacks are the backends after it, in list order.
 *
 * @example
 * ```ts
 * const selector = urlHash.build(backends, { urlHash: { includeQuery: true } })
 * ```
 */
export const urlHash: Strategy = {
  name: 'url-hash',
  build(backends, options) {
    const { includeQuery } = optionsFor(options, 'urlHash')
    const slices = new WeightedHash(backends.map((b) => b.weight))
    return {
      *candidates(input) {
        if (backends.length === 0) return
        const key = includeQuery && input.query ? `${input.path}?${input.query}` : input.path
        const first = slices.pick(hash32(key))
        yield backends[first]!
        yield* rotation(backends, first)
      },
    }
  },
}
