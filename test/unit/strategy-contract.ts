/**
 * The contract every balancing strategy meets (DESIGN: `runStrategyContract`). Each check drives
 * the real selector, through a real `BackendPool` where load matters.
 */
import { describe, expect, it } from 'vitest'
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { BackendPool } from '../../src/pool.ts'
import { bindSelector } from '../../src/strategies/bind.ts'
import type {
  BuildOptions,
  LoadView,
  PickInput,
  Selector,
  Strategy,
} from '../../src/strategies/strategy.ts'
import type { Backend } from '../../src/types.ts'

/** A backend named `id`. */
export function backend(id: string, weight = 1): Backend {
  return { id, url: `http://${id}.test:80`, weight }
}

/** Backends `a`, `b`, `c`, … with the given weights. */
export function backends(...weights: number[]): Backend[] {
  return weights.map((weight, i) => backend(String.fromCharCode(97 + i), weight))
}

/** A request whose client address, path, query, `x-user` header and `user` cookie vary with `n`. */
export function input(n: number): PickInput {
  const user = `user-${n}`
  return {
    clientIp: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
    path: `/items/${n}`,
    query: `page=${n % 7}`,
    header: (name) => (name.toLowerCase() === 'x-user' ? user : null),
    cookie: (name) => (name === 'user' ? user : undefined),
  }
}

/** A hand-set load view: every backend idle and unmeasured unless set otherwise. */
export class FakeView implements LoadView {
  readonly inflights = new Map<string, number>()
  readonly latencies = new Map<string, number>()
  readonly utilisations = new Map<string, number>()
  clock = 0

  inflight(b: Backend): number {
    return this.inflights.get(b.id) ?? 0
  }
  latency(b: Backend): number {
    return this.latencies.get(b.id) ?? 0
  }
  utilisation(b: Backend): number | undefined {
    return this.utilisations.get(b.id)
  }
  now(): number {
    return this.clock
  }
  /** Set a backend's in-flight count and tell `selector`, as a pool would. */
  setInflight(selector: Selector, b: Backend, inflight: number): void {
    this.inflights.set(b.id, inflight)
    selector.loadChanged?.(b, this)
  }
}

/** The first choice for each of `count` requests, made one at a time through a real pool. */
export function firstChoices(
  strategy: Strategy,
  list: readonly Backend[],
  count: number,
  options?: BuildOptions,
  request: (n: number) => PickInput = input,
): string[] {
  const pool = new BackendPool(list)
  const selector = bindSelector(pool, strategy, options)
  const picks: string[] = []
  for (let n = 0; n < count; n++) {
    const first = firstOf(selector().candidates(request(n), pool))
    picks.push(first.id)
    pool.acquire(first)
    pool.release(first)
  }
  return picks
}

/** The first backend a selector yields; throws when it yields none. */
export function firstOf(candidates: Iterable<Backend>): Backend {
  for (const b of candidates) return b
  throw new Error('No candidate')
}

/** How often each id occurs. */
export function tally(ids: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {}
  for (const id of ids) counts[id] = (counts[id] ?? 0) + 1
  return counts
}

/** How a strategy treats backend weights, and how closely the contract checks it. */
export type WeightContract =
  | {
      /** First choices over many requests follow the weights 4 : 2 : 1. */
      share: 'proportional'
      /** The largest relative error allowed for each backend's share. */
      tolerance: number
      /** Why the band is that wide (shown in the test name). */
      band: string
    }
  | {
      /** Weights don't count: each backend gets the same share. */
      share: 'equal'
      tolerance: number
      band: string
    }
  | {
      /** The strategy honours weights in its own way, checked by `check`. */
      share: 'custom'
      band: string
      check: () => void
    }

/** Options for {@link runStrategyContract}. */
export interface ContractOptions {
  weights: WeightContract
  /** Passed to `build` throughout. */
  build?: BuildOptions
}

/**
 * Check that `strategy` never yields an ineligible backend, yields distinct candidates, copes
 * with an empty set (503), and honours weights as `options.weights` says.
 */
export function runStrategyContract(strategy: Strategy, options: ContractOptions): void {
  const build = (list: readonly Backend[]) => strategy.build(list, options.build)

  describe(`${strategy.name} meets the strategy contract`, () => {
    it('yields nothing for an empty set', () => {
      expect([...build([]).candidates(input(1), new FakeView())]).toEqual([])
    })

    it('answers 503 through the proxy when no backend is eligible', async () => {
      const balancer = createBalancer(
        parseConfig({ strategy: strategy.name, healthCheck: { enabled: false } }),
        {
          fetch: async () => new Response('never'),
          clientAddress: () => '192.0.2.1',
          tcpConnect: async () => {},
          readTextFile: async () => '',
          logger: silentLogger,
        },
      )
      const response = await balancer.app.request('http://shop.example/')
      expect(response.status).toBe(503)
    })

    it('always yields the only backend of a set of one', () => {
      const only = backend('only', 3)
      const selector = build([only])
      for (let n = 0; n < 20; n++) {
        expect([...selector.candidates(input(n), new FakeView())]).toEqual([only])
      }
    })

    it('yields every eligible backend exactly once per request, under any load', () => {
      const list = backends(1, 2, 3, 1, 5, 1, 2)
      const view = new FakeView()
      const selector = build(list)
      for (let n = 0; n < 300; n++) {
        // Shuffle the load between requests, telling the selector as a pool would.
        const b = list[n % list.length]!
        view.latencies.set(b.id, 1 + ((n * 37) % 50))
        view.utilisations.set(b.id, ((n * 13) % 10) / 10)
        view.setInflight(selector, b, (n * 7) % 5)
        const ids = [...selector.candidates(input(n), view)].map((c) => c.id)
        expect(ids.toSorted()).toEqual(list.map((c) => c.id))
      }
    })

    it('keeps each request’s candidates distinct when requests interleave', () => {
      const list = backends(1, 1, 2, 3)
      const view = new FakeView()
      const selector = build(list)
      // Request 1 takes its first choice, then request 2 runs to the end, then request 1 goes on.
      const first = selector.candidates(input(1), view)[Symbol.iterator]()
      const seen = [first.next().value!.id]
      view.setInflight(
        selector,
        list.find((b) => b.id === seen[0])!,
        1,
      )
      const second = [...selector.candidates(input(2), view)].map((c) => c.id)
      for (let next = first.next(); !next.done; next = first.next()) seen.push(next.value.id)
      expect(seen.toSorted()).toEqual(['a', 'b', 'c', 'd'])
      expect(second.toSorted()).toEqual(['a', 'b', 'c', 'd'])
    })

    it('never yields a down, disabled, draining or ejected backend, however idle it looks', () => {
      const list = backends(1, 2, 1, 1, 3, 1)
      const pool = new BackendPool(list, { fall: 1 })
      pool.get('c')!.enabled = false // disabled before the eligible set is first computed
      const selector = bindSelector(pool, strategy, options.build)
      pool.recordProbe('b', false, 'down') // down
      pool.setDraining('e', true) // draining
      pool.remove('f') // ejected or removed: gone from the pool
      const excluded = new Set(['b', 'c', 'e', 'f'])
      // The excluded ones look best: the busy ones carry load, slow latency, high utilisation.
      for (const id of ['a', 'd']) {
        const b = list.find((x) => x.id === id)!
        for (let i = 0; i < 5; i++) pool.acquire(b)
        pool.observeLatency(b, 500)
        pool.reportUtilisation(b, 0.9)
      }
      for (let n = 0; n < 500; n++) {
        const all = [...selector().candidates(input(n), pool)]
        expect(all.map((b) => b.id).toSorted()).toEqual(['a', 'd'])
        pool.acquire(all[0]!)
        if (n % 3 === 0) pool.release(all[0]!)
      }
      // The same through a hand-set view that knows the excluded backends and calls them idle.
      const view = new FakeView()
      const eligible = list.filter((b) => !excluded.has(b.id))
      const direct = build(eligible)
      for (const b of list) {
        view.latencies.set(b.id, excluded.has(b.id) ? 0.1 : 100)
        view.utilisations.set(b.id, excluded.has(b.id) ? 0 : 0.95)
        view.setInflight(direct, b, excluded.has(b.id) ? 0 : 50)
      }
      for (let n = 0; n < 500; n++) {
        for (const b of direct.candidates(input(n), view)) expect(excluded.has(b.id)).toBe(false)
      }
    })

    const { weights } = options
    if (weights.share === 'custom') {
      it(`honours weights: ${weights.band}`, weights.check)
    } else {
      const share = weights.share
      it(`${share === 'equal' ? 'gives equal shares whatever the weights' : 'shares first choices 4 : 2 : 1 by weight'} (${weights.band})`, () => {
        const count = 14_007 // divisible by 3 and by 7
        const counts = tally(firstChoices(strategy, backends(4, 2, 1), count, options.build))
        const expected =
          share === 'equal'
            ? { a: count / 3, b: count / 3, c: count / 3 }
            : { a: (count * 4) / 7, b: (count * 2) / 7, c: count / 7 }
        for (const [id, want] of Object.entries(expected)) {
          const got = counts[id] ?? 0
          expect(
            Math.abs(got - want) / want,
            `${id}: ${got} of ${count}, expected ${want.toFixed(0)} ± ${(weights.tolerance * 100).toFixed(0)}%`,
          ).toBeLessThanOrEqual(weights.tolerance)
        }
      })
    }
  })
}
