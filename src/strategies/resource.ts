import { byScore, indexById } from './fallbacks.ts'
import { IndexedHeap } from './indexed-heap.ts'
import { optionsFor } from './options.ts'
import type { LoadView, Strategy } from './strategy.ts'

/**
 * The least share of its capacity a backend keeps when it reports full utilisation, so that it
 * still answers now and then and its next report can bring it back.
 */
export const MIN_SHARE = 0.01

/**
 * Resource-based: each backend's effective weight is capacity × (1 − utilisation), where the
 * utilisation is what it last reported in an `Endpoint-Load-Metrics` header (ORCA, as Envoy and
 * gRPC read it) on a response or a health check, and the capacity is
 * `strategyOptions.resource.capacity[id]` or else its weight. A backend that has not reported
 * counts as idle. Backends are picked in proportion to their effective weights by earliest
 * deadline first (each pick of a backend moves its next deadline on by 1 / effective weight, as
 * Envoy's weighted round robin does), in O(log n). When a report changes a backend's weight, the
 * rest of its current interval is stretched or shrunk to match. The fallbacks are the others,
 * lowest utilisation first.
 *
 * @example
 * ```ts
 * const selector = resource.build(backends, { resource: { capacity: { big: 4 } } })
 * ```
 */
export const resource: Strategy = {
  name: 'resource',
  needs: { utilisation: true },
  build(backends, options) {
    const { capacity } = optionsFor(options, 'resource')
    const count = backends.length
    const at = indexById(backends)
    const capacities = Float64Array.from(backends, (b) => capacity[b.id] ?? b.weight)
    /** 1 / effective weight: how far each pick moves a backend's deadline. */
    const stride = new Float64Array(count)
    const deadline = new Float64Array(count)
    let now = 0
    let heap: IndexedHeap | undefined
    const less = (a: number, b: number) =>
      deadline[a] !== deadline[b] ? deadline[a]! < deadline[b]! : a < b
    const strideOf = (i: number, view: LoadView) => {
      const reported = view.utilisation(backends[i]!) ?? 0
      return 1 / (capacities[i]! * Math.max(1 - reported, MIN_SHARE))
    }
    const ready = (view: LoadView) => {
      if (heap) return heap
      for (let i = 0; i < count; i++) {
        stride[i] = strideOf(i, view)
        deadline[i] = stride[i]! / 2
      }
      return (heap = new IndexedHeap(count, less))
    }
    return {
      *candidates(_input, view) {
        if (count === 0) return
        const order = ready(view)
        const first = order.top()
        now = deadline[first]!
        deadline[first]! += stride[first]!
        order.update(first)
        yield backends[first]!
        yield* byScore(backends, first, (backend) => view.utilisation(backend) ?? 0)
      },
      loadChanged(backend, view) {
        const i = at.get(backend.id)
        if (heap === undefined || i === undefined) return
        const next = strideOf(i, view)
        const previous = stride[i]!
        if (next === previous) return
        deadline[i] = now + (Math.max(deadline[i]! - now, 0) * next) / previous
        stride[i] = next
        heap.update(i)
      },
    }
  },
}
