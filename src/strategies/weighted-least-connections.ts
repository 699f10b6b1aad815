import { byScore, indexById } from './fallbacks.ts'
import { IndexedHeap } from './indexed-heap.ts'
import type { LoadView, Strategy } from './strategy.ts'

/**
 * Weighted least connections: the backend with the lowest in-flight / weight (nginx `least_conn`
 * and HAProxy `leastconn` with weights). Ties go to the backend whose picks lag its weight most,
 * as in stride scheduling (its k-th pick is due at (k + ½) / weight), so that idle backends are
 * picked in proportion to their weights, smoothly. A heap kept up to date through
 * {@link Selector.loadChanged} makes a pick O(log n). The fallbacks are the others, lowest
 * in-flight / weight first.
 *
 * @example
 * ```ts
 * const selector = weightedLeastConnections.build([a2, b1])
 * // with nothing in flight, first choices: a b a a b a …
 * ```
 */
export const weightedLeastConnections: Strategy = {
  name: 'weighted-least-connections',
  build(backends) {
    const count = backends.length
    const at = indexById(backends)
    const weight = Float64Array.from(backends, (b) => b.weight)
    const inflight = new Float64Array(count)
    const picks = new Float64Array(count)
    let heap: IndexedHeap | undefined
    // Cross-multiplied, so that the comparisons are exact: a/wa < b/wb ⇔ a·wb < b·wa.
    const less = (a: number, b: number) => {
      const load = inflight[a]! * weight[b]! - inflight[b]! * weight[a]!
      if (load !== 0) return load < 0
      const due = (2 * picks[a]! + 1) * weight[b]! - (2 * picks[b]! + 1) * weight[a]!
      return due !== 0 ? due < 0 : a < b
    }
    const ready = (view: LoadView) => {
      if (heap) return heap
      backends.forEach((backend, i) => (inflight[i] = view.inflight(backend)))
      return (heap = new IndexedHeap(count, less))
    }
    return {
      *candidates(_input, view) {
        if (count === 0) return
        const order = ready(view)
        const first = order.top()
        picks[first]!++
        order.update(first)
        yield backends[first]!
        yield* byScore(backends, first, (backend) => view.inflight(backend) / backend.weight)
      },
      loadChanged(backend, view) {
        const i = at.get(backend.id)
        if (heap === undefined || i === undefined) return
        const now = view.inflight(backend)
        if (now === inflight[i]) return
        inflight[i] = now
        heap.update(i)
      },
    }
  },
}
