import { indexById, rotation } from './fallbacks.ts'
import { optionsFor } from './options.ts'
import type { LoadView, Strategy } from './strategy.ts'

/**
 * Threshold (HAProxy `balance first`): fill the backends in list order, each up to its threshold
 * of in-flight requests (`strategyOptions.threshold.connections` × its weight), then overflow to
 * the next. When every backend is at or above its threshold, the one least above it takes the
 * request (the first of equals). Good for packing load onto few servers so that the
 * rest can scale down. A segment tree over in flight − threshold finds that backend in O(log n);
 * the fallbacks are the backends after it, in list order.
 *
 * @example
 * ```ts
 * const selector = threshold.build([a, b, c], { threshold: { connections: 2 } })
 * // with nothing finishing: a a b b c c, then a b c …
 * ```
 */
export const threshold: Strategy = {
  name: 'threshold',
  build(backends, options) {
    const { connections } = optionsFor(options, 'threshold')
    const count = backends.length
    const at = indexById(backends)
    let leaves = 1
    while (leaves < count) leaves *= 2
    /** Min-tree over in flight − threshold; leaves from `leaves` on, padding is +∞. */
    const tree = new Float64Array(2 * leaves).fill(Infinity)
    let ready = false
    const set = (i: number, view: LoadView) => {
      const backend = backends[i]!
      let node = leaves + i
      tree[node] = view.inflight(backend) - connections * backend.weight
      for (node >>= 1; node >= 1; node >>= 1) {
        tree[node] = Math.min(tree[2 * node]!, tree[2 * node + 1]!)
      }
    }
    /** The leftmost backend below its threshold, else the leftmost least above it. */
    const pick = () => {
      const least = tree[1]!
      const fits = least < 0 ? (v: number) => v < 0 : (v: number) => v <= least
      let node = 1
      while (node < leaves) node = fits(tree[2 * node]!) ? 2 * node : 2 * node + 1
      return node - leaves
    }
    return {
      *candidates(_input, view) {
        if (count === 0) return
        if (!ready) {
          for (let i = 0; i < count; i++) set(i, view)
          ready = true
        }
        const first = pick()
        yield backends[first]!
        yield* rotation(backends, first)
      },
      loadChanged(backend, view) {
        const i = at.get(backend.id)
        if (ready && i !== undefined) set(i, view)
      },
    }
  },
}
