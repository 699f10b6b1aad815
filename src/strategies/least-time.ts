import type { Backend } from '../types.ts'
import { byScore, indexById } from './fallbacks.ts'
import { IndexedHeap } from './indexed-heap.ts'
import { optionsFor } from './options.ts'
import type { LoadView, Strategy } from './strategy.ts'

/** Finagle's load for a backend that has requests in flight but no response yet: huge. */
const PENALTY = 2 ** 47

/**
 * Finagle's peak-EWMA load: latency × (in flight + 1); a backend with no latency yet costs
 * nothing while idle and {@link PENALTY} once busy.
 */
export function peakEwmaLoad(view: LoadView, backend: Backend): number {
  const latency = view.latency(backend)
  const inflight = view.inflight(backend)
  if (latency === 0) return inflight === 0 ? 0 : PENALTY + inflight
  return latency * (inflight + 1)
}

/**
 * Least time: the backend with the lowest peak-EWMA response time × (in flight + 1), as Finagle's
 * and linkerd's `PeakEwma` balancers weigh them (nginx plus `least_time` picks by time too). The
 * EWMA jumps to a slower response at once and decays with the time constant
 * `strategyOptions.leastTime.decay`, so a backend that slowed down is avoided at once and tried
 * again as it recovers. Every latency decays by the same factor, so their order only changes
 * when a response or an in-flight count changes: a heap ordered by
 * ln(latency) + now / decay + ln(in flight + 1), updated through {@link Selector.loadChanged},
 * makes a pick O(log n). Ties are broken in turn. Weights are ignored.
 *
 * @example
 * ```ts
 * const selector = leastTime.build(backends, { leastTime: { decay: 10_000 } })
 * ```
 */
export const leastTime: Strategy = {
  name: 'least-time',
  build(backends, options) {
    const { decay } = optionsFor(options, 'leastTime')
    const count = backends.length
    const at = indexById(backends)
    /** 0: no latency yet and idle; 1: by score; 2: no latency yet but busy (by in flight). */
    const rank = new Uint8Array(count)
    const score = new Float64Array(count)
    const lastPick = Float64Array.from(backends, (_, i) => i - count)
    let picks = 0
    let heap: IndexedHeap | undefined
    const less = (a: number, b: number) => {
      if (rank[a] !== rank[b]) return rank[a]! < rank[b]!
      if (score[a] !== score[b]) return score[a]! < score[b]!
      return lastPick[a]! < lastPick[b]!
    }
    const measure = (i: number, view: LoadView) => {
      const backend = backends[i]!
      const latency = view.latency(backend)
      const inflight = view.inflight(backend)
      if (latency > 0) {
        rank[i] = 1
        score[i] = Math.log(latency) + view.now() / decay + Math.log1p(inflight)
      } else {
        rank[i] = inflight === 0 ? 0 : 2
        score[i] = inflight
      }
    }
    const ready = (view: LoadView) => {
      if (heap) return heap
      for (let i = 0; i < count; i++) measure(i, view)
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
        yield* byScore(backends, first, (backend) => peakEwmaLoad(view, backend))
      },
      loadChanged(backend, view) {
        const i = at.get(backend.id)
        if (heap === undefined || i === undefined) return
        measure(i, view)
        heap.update(i)
      },
    }
  },
}
