import { byScore, indexById } from './fallbacks.ts'
import { IndexedHeap } from './indexed-heap.ts'
import type { LoadView, Strategy } from './strategy.ts'

/**
 * Least connections: the backend with the fewest requests in flight. Among equals, the one picked
 * least recently goes first, so that ties are broken in turn (a b c a b c under sequential
 * traffic), not always in favour of the first. Weights are ignored; see
 * `weighted-least-connections`. The backends sit in a heap ordered by (in flight, last pick), kept
 * up to date through {@link Selector.loadChanged}, so a pick costs O(log n). The fallbacks are the
 * others, least loaded first.
 *
 * @example
 * ```ts
 * const selector = leastConnections.build([a, b, c])
 * selector.candidates(input, pool) // the least busy backend first
 * ```
 */
export const leastConnections: Strategy = {
  name: 'least-connections',
  build(backends) {
    const count = backends.length
    const at = indexById(backends)
    const inflight = new Float64Array(count)
    /** The pick sequence number of each backend's last pick; list order before any pick. */
    const lastPick = Float64Array.from(backends, (_, i) => i - count)
    let picks = 0
    let heap: IndexedHeap | undefined
    const less = (a: number, b: number) =>
      inflight[a] !== inflight[b] ? inflight[a]! < inflight[b]! : lastPick[a]! < lastPick[b]!
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
        lastPick[first] = ++picks
        order.update(first)
        yield backends[first]!
        yield* byScore(backends, first, (backend) => view.inflight(backend))
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
