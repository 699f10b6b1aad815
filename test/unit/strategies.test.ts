import { describe, expect, it } from 'vitest'
import { STRATEGY_NAMES, type StrategyName } from '../../src/config.ts'
import { BackendPool } from '../../src/pool.ts'
import { bindSelector } from '../../src/strategies/bind.ts'
import { consistentHash, HashRing, keyReader } from '../../src/strategies/consistent-hash.ts'
import { hash32 } from '../../src/strategies/hash32.ts'
import { strategies } from '../../src/strategies/index.ts'
import { ipHash } from '../../src/strategies/ip-hash.ts'
import { leastConnections } from '../../src/strategies/least-connections.ts'
import { leastTime } from '../../src/strategies/least-time.ts'
import { powerOfTwo } from '../../src/strategies/power-of-two.ts'
import { random } from '../../src/strategies/random.ts'
import { MIN_SHARE, resource } from '../../src/strategies/resource.ts'
import { roundRobin } from '../../src/strategies/round-robin.ts'
import type { PickInput, Selector, Strategy } from '../../src/strategies/strategy.ts'
import { threshold } from '../../src/strategies/threshold.ts'
import { urlHash } from '../../src/strategies/url-hash.ts'
import { weightedLeastConnections } from '../../src/strategies/weighted-least-connections.ts'
import {
  SmoothWeightedSchedule,
  weightedRoundRobin,
} from '../../src/strategies/weighted-round-robin.ts'
import type { Backend } from '../../src/types.ts'
import {
  backend,
  backends,
  FakeView,
  firstChoices,
  firstOf,
  input,
  runStrategyContract,
  tally,
  type WeightContract,
} from './strategy-contract.ts'

/** mulberry32: a small seeded generator, so that the random tests replay exactly. */
function seeded(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Pearson's chi-square statistic of observed counts against expected ones. */
function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  return observed.reduce((sum, o, i) => sum + (o - expected[i]!) ** 2 / expected[i]!, 0)
}

/** χ² critical value for 2 degrees of freedom at p = 10⁻⁵: −2 ln(10⁻⁵). */
const CHI2_DF2_P1E5 = 23.03

/** Backend ids from text: `sequence('a b c')` is `['a', 'b', 'c']`. */
const sequence = (text: string): string[] => text.split(' ')

/** Picks `count` first choices, each acquired and never released (requests that hang on). */
function holdPicks(selector: Selector, view: FakeView, count: number, request = input): string[] {
  const ids: string[] = []
  for (let n = 0; n < count; n++) {
    const b = firstOf(selector.candidates(request(n), view))
    ids.push(b.id)
    view.setInflight(selector, b, view.inflight(b) + 1)
  }
  return ids
}

const CONTRACTS: Record<StrategyName, WeightContract> = {
  'round-robin': { share: 'equal', tolerance: 0, band: 'exact: plain round robin ignores weights' },
  'weighted-round-robin': { share: 'proportional', tolerance: 0, band: 'exact: a 7-pick cycle' },
  random: { share: 'proportional', tolerance: 0.1, band: '±10%, over 5σ for 14,000 draws' },
  'least-connections': { share: 'equal', tolerance: 0, band: 'exact: idle ties go in turn' },
  'weighted-least-connections': {
    share: 'proportional',
    tolerance: 0,
    band: 'exact: idle ties go by stride',
  },
  'least-time': { share: 'equal', tolerance: 0, band: 'exact: unmeasured idle ties go in turn' },
  'power-of-two': { share: 'proportional', tolerance: 0.1, band: '±10%, over 5σ' },
  resource: { share: 'proportional', tolerance: 0.001, band: 'earliest deadline first, ±0.1%' },
  'ip-hash': { share: 'proportional', tolerance: 0.1, band: '±10% over 14,000 addresses, 5σ' },
  'url-hash': { share: 'proportional', tolerance: 0.1, band: '±10% over 14,000 paths, 5σ' },
  'consistent-hash': {
    share: 'proportional',
    tolerance: 0.2,
    band: '±20%: ring shares vary by about 1/√points on top of sampling',
  },
  threshold: {
    share: 'custom',
    band: 'a backend of weight w takes w × connections before the next fills',
    check() {
      const view = new FakeView()
      const selector = threshold.build(backends(2, 1), { threshold: { connections: 2 } })
      expect(holdPicks(selector, view, 6)).toEqual(['a', 'a', 'a', 'a', 'b', 'b'])
    },
  },
}

describe('the strategy registry', () => {
  it('has a strategy for every name the config accepts, under that name', () => {
    expect(Object.keys(strategies).toSorted()).toEqual([...STRATEGY_NAMES].toSorted())
    for (const [name, strategy] of Object.entries(strategies)) expect(strategy.name).toBe(name)
  })
})

for (const strategy of Object.values(strategies)) {
  runStrategyContract(strategy, { weights: CONTRACTS[strategy.name] })
}

describe('bindSelector', () => {
  it('rebuilds only when the eligible set changes, and feeds load changes to the selector', () => {
    const list = backends(1, 1, 1)
    const pool = new BackendPool(list, { fall: 1 })
    let builds = 0
    const heard: string[] = []
    const counting: Strategy = {
      name: 'round-robin',
      build(set) {
        builds++
        const inner = roundRobin.build(set)
        return { candidates: inner.candidates, loadChanged: (b) => heard.push(b.id) }
      },
    }
    const selector = bindSelector(pool, counting)
    for (let n = 0; n < 10; n++) {
      const b = firstOf(selector().candidates(input(n), pool))
      pool.acquire(b)
      pool.observeLatency(b, 5)
      pool.release(b)
    }
    expect(builds).toBe(1)
    expect(heard).toHaveLength(30)
    pool.recordProbe('b', false)
    selector()
    selector()
    expect(builds).toBe(2)
  })
})

describe('round-robin', () => {
  it('picks a b c a b c', () => {
    expect(firstChoices(roundRobin, backends(1, 1, 1), 7)).toEqual(sequence('a b c a b c a'))
  })

  it('moves on only for candidates that were asked for, and yields each backend once', () => {
    const set = backends(1, 1, 1)
    const selector = roundRobin.build(set)
    const pool = new BackendPool(set, { fall: 1 })
    // Candidates never read (a sticky request's pinned backend took it) leave the rotation.
    selector.candidates(input(0), pool)
    selector.candidates(input(0), pool)
    expect([...selector.candidates(input(0), pool)].map((b) => b.id)).toEqual(['a', 'b', 'c'])
    expect([...selector.candidates(input(0), pool)].map((b) => b.id)).toEqual(['b', 'c', 'a'])
  })
})

describe('weighted-round-robin', () => {
  it('picks a a b a c a a for weights 5, 1, 1, cycle after cycle, as nginx does', () => {
    const cycle = ['a', 'a', 'b', 'a', 'c', 'a', 'a']
    expect(firstChoices(weightedRoundRobin, backends(5, 1, 1), 21)).toEqual([
      ...cycle,
      ...cycle,
      ...cycle,
    ])
  })

  it('is plain round robin when the weights are equal', () => {
    expect(firstChoices(weightedRoundRobin, backends(3, 3, 3), 6)).toEqual(sequence('a b c a b c'))
  })

  it('matches nginx’s O(n) loop pick for pick, over three cycles of random weights', () => {
    const draw = seeded(7)
    for (let trial = 0; trial < 60; trial++) {
      const weights = Array.from(
        { length: 1 + Math.floor(draw() * 30) },
        () => 1 + Math.floor(draw() * (trial % 2 ? 9 : 200)),
      )
      // ngx_http_upstream_get_peer: add each weight, take the greatest (the first of equals),
      // subtract the total from it.
      const current = weights.map(() => 0)
      const total = weights.reduce((sum, w) => sum + w, 0)
      const schedule = new SmoothWeightedSchedule(weights)
      for (let step = 0; step < 3 * total; step++) {
        let best = -1
        weights.forEach((w, i) => {
          current[i]! += w
          if (best === -1 || current[i]! > current[best]!) best = i
        })
        current[best]! -= total
        expect(schedule.next(), `weights ${weights.join(',')}, step ${step}`).toBe(best)
      }
    }
  })
})

describe('random', () => {
  it(`is uniform over equal weights (χ², 2 degrees of freedom, below ${CHI2_DF2_P1E5} = p 10⁻⁵)`, () => {
    const counts = tally(firstChoices(random, backends(1, 1, 1), 9000))
    const observed = ['a', 'b', 'c'].map((id) => counts[id] ?? 0)
    expect(chiSquare(observed, [3000, 3000, 3000])).toBeLessThan(CHI2_DF2_P1E5)
  })

  it(`follows weights 6 : 3 : 1 (χ² below ${CHI2_DF2_P1E5}), and fails a uniform fit`, () => {
    const counts = tally(firstChoices(random, backends(6, 3, 1), 10_000))
    const observed = ['a', 'b', 'c'].map((id) => counts[id] ?? 0)
    expect(chiSquare(observed, [6000, 3000, 1000])).toBeLessThan(CHI2_DF2_P1E5)
    expect(chiSquare(observed, [3333, 3333, 3334])).toBeGreaterThan(CHI2_DF2_P1E5)
  })

  it('replays exactly with a seeded generator', () => {
    const run = () => firstChoices(random, backends(1, 2, 3), 50, { random: seeded(42) })
    expect(run()).toEqual(run())
  })
})

describe('least-connections', () => {
  it('breaks ties in turn: a b c a b c under sequential traffic', () => {
    expect(firstChoices(leastConnections, backends(1, 1, 1), 7)).toEqual(sequence('a b c a b c a'))
  })

  it('picks the fewest in flight, equals in turn: with a holding 2, b c b c a b c a', () => {
    const list = backends(1, 1, 1)
    const view = new FakeView()
    const selector = leastConnections.build(list)
    view.inflights.set('a', 2)
    expect(holdPicks(selector, view, 8)).toEqual(['b', 'c', 'b', 'c', 'a', 'b', 'c', 'a'])
  })

  it('sees releases: the backend that frees up comes next', () => {
    const list = backends(1, 1, 1)
    const view = new FakeView()
    const selector = leastConnections.build(list)
    holdPicks(selector, view, 6) // two each
    view.setInflight(selector, list[1]!, 0)
    expect(firstOf(selector.candidates(input(0), view)).id).toBe('b')
  })

  it('offers the fallbacks least loaded first', () => {
    const list = backends(1, 1, 1, 1)
    const view = new FakeView()
    const selector = leastConnections.build(list)
    for (const [id, load] of [
      ['a', 3],
      ['b', 0],
      ['c', 2],
      ['d', 1],
    ] as const) {
      view.setInflight(
        selector,
        list.find((b) => b.id === id)!,
        load,
      )
    }
    expect([...selector.candidates(input(0), view)].map((b) => b.id)).toEqual(['b', 'd', 'c', 'a'])
  })
})

describe('weighted-least-connections', () => {
  it('keeps in flight / weight level: weights 2, 1 fill a b a a b a', () => {
    const view = new FakeView()
    const selector = weightedLeastConnections.build(backends(2, 1))
    const picks = holdPicks(selector, view, 30)
    expect(picks.slice(0, 6)).toEqual(['a', 'b', 'a', 'a', 'b', 'a'])
    expect(tally(picks)).toEqual({ a: 20, b: 10 })
  })

  it('prefers the lowest in flight / weight', () => {
    const list = backends(4, 1)
    const view = new FakeView()
    const selector = weightedLeastConnections.build(list)
    view.setInflight(selector, list[0]!, 3) // 3/4 < 1/1
    view.setInflight(selector, list[1]!, 1)
    expect(firstOf(selector.candidates(input(0), view)).id).toBe('a')
    view.setInflight(selector, list[0]!, 5) // 5/4 > 1/1
    expect(firstOf(selector.candidates(input(0), view)).id).toBe('b')
  })
})

describe('least-time', () => {
  it('picks the lowest latency × (in flight + 1); an unmeasured idle backend first', () => {
    const list = backends(1, 1, 1)
    const view = new FakeView()
    view.latencies.set('a', 10)
    view.latencies.set('b', 50)
    const selector = leastTime.build(list)
    // c has no latency yet and is idle: Finagle tries it first; once busy it is penalised.
    expect(holdPicks(selector, view, 1)).toEqual(['c'])
    // a: 10 × (n + 1) stays below b's 50 × 1 for n < 4; at 4 they tie, and b's turn has come.
    expect(holdPicks(selector, view, 6)).toEqual(['a', 'a', 'a', 'a', 'b', 'a'])
  })

  it('measures a peak EWMA on the pool: peaks at once, blends faster responses, decays', () => {
    let now = 0
    const decay = 1000
    const pool = new BackendPool(backends(1), { clock: () => now, latencyDecay: decay })
    const [a] = pool.eligible() as Backend[]
    pool.observeLatency(a!, 100)
    expect(pool.latency(a!)).toBe(100)
    now = decay
    expect(pool.latency(a!)).toBeCloseTo(100 * Math.exp(-1), 9)
    pool.observeLatency(a!, 10) // 100 × e⁻¹ + 10 × (1 − e⁻¹)
    expect(pool.latency(a!)).toBeCloseTo(100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)), 9)
    pool.observeLatency(a!, 400) // a peak replaces the average at once
    expect(pool.latency(a!)).toBe(400)
  })

  it('decays as configured: a shorter decay forgets a slow spell sooner', () => {
    const after = (decay: number) => {
      let now = 0
      const pool = new BackendPool(backends(1, 1), { clock: () => now, latencyDecay: decay })
      const [a, b] = pool.eligible() as Backend[]
      const selector = bindSelector(pool, leastTime, { leastTime: { decay } })
      pool.observeLatency(a!, 500) // a had one slow response
      pool.observeLatency(b!, 20)
      now = 5000
      pool.observeLatency(a!, 10) // then fast ones
      pool.observeLatency(b!, 20)
      return firstOf(selector().candidates(input(0), pool)).id
    }
    expect(after(1000)).toBe('a') // 500 → ~13 after 5 time constants
    expect(after(60_000)).toBe('b') // still ~460
  })

  it('keeps its order as time passes, because every latency decays alike', () => {
    let now = 0
    const pool = new BackendPool(backends(1, 1), { clock: () => now })
    const [a, b] = pool.eligible() as Backend[]
    const selector = bindSelector(pool, leastTime)
    pool.observeLatency(a!, 20)
    now = 5000
    pool.observeLatency(b!, 30) // a is now 20 × e^-0.5 ≈ 12
    for (const t of [5000, 60_000, 600_000]) {
      now = t
      expect(firstOf(selector().candidates(input(0), pool)).id).toBe('a')
    }
  })
})

describe('power-of-two', () => {
  it('never puts a busier backend before a less busy one among the two drawn', () => {
    const list = backends(1, 1, 1, 1, 1)
    const view = new FakeView()
    const selector = powerOfTwo.build(list, { random: seeded(3) })
    list.forEach((b, i) => view.setInflight(selector, b, i * 2))
    for (let n = 0; n < 2000; n++) {
      const pair = [...selector.candidates(input(n), view)].slice(0, 2)
      expect(view.inflight(pair[0]!)).toBeLessThanOrEqual(view.inflight(pair[1]!))
    }
  })

  it('never picks the busiest of three first; the other two split evenly (5σ band)', () => {
    const list = backends(1, 1, 1)
    const view = new FakeView()
    const selector = powerOfTwo.build(list)
    view.setInflight(selector, list[0]!, 10)
    const counts = tally(
      Array.from({ length: 4000 }, (_, n) => firstOf(selector.candidates(input(n), view)).id),
    )
    expect(counts.a).toBeUndefined()
    // Binomial(4000, ½): σ ≈ 31.6, so 5σ ≈ 158.
    expect(Math.abs((counts.b ?? 0) - 2000)).toBeLessThan(158)
  })
})

describe('resource', () => {
  it('weights by capacity × (1 − utilisation): utilisation 0.5 against 0 gives b a b b a b …', () => {
    const list = backends(1, 1)
    const view = new FakeView()
    view.utilisations.set('a', 0.5)
    const selector = resource.build(list)
    expect(holdPicks(selector, view, 9)).toEqual(['b', 'a', 'b', 'b', 'a', 'b', 'b', 'a', 'b'])
  })

  it('follows new reports, and takes capacity from the options', () => {
    const list = backends(1, 1)
    const view = new FakeView()
    const selector = resource.build(list, { resource: { capacity: { a: 3 } } })
    expect(tally(holdPicks(selector, view, 400))).toEqual({ a: 300, b: 100 })
    // a now reports 0.9 busy: effective weights 0.3 and 1.
    view.utilisations.set('a', 0.9)
    selector.loadChanged!(list[0]!, view)
    const counts = tally(holdPicks(selector, view, 1300))
    expect(Math.abs(counts.a! - 300)).toBeLessThanOrEqual(2)
  })

  it(`keeps ${MIN_SHARE * 100}% of a backend's share when it reports full utilisation`, () => {
    const list = backends(1, 1)
    const view = new FakeView()
    view.utilisations.set('a', 1)
    const counts = tally(holdPicks(resource.build(list), view, 1010))
    expect(counts).toEqual({ a: 10, b: 1000 })
  })
})

describe('ip-hash and url-hash', () => {
  const at = (overrides: Partial<PickInput>): PickInput => ({ ...input(0), ...overrides })

  it('sends one client address to one backend, and spreads addresses', () => {
    const selector = ipHash.build(backends(1, 1, 1))
    const view = new FakeView()
    const of = (ip: string) => firstOf(selector.candidates(at({ clientIp: ip }), view)).id
    const first = of('192.0.2.7')
    for (let n = 0; n < 100; n++) expect(of('192.0.2.7')).toBe(first)
    const spread = new Set(Array.from({ length: 50 }, (_, n) => of(`198.51.100.${n}`)))
    expect(spread.size).toBe(3)
  })

  it('hashes the path, and the query only when asked', () => {
    const view = new FakeView()
    const pick = (selector: Selector, path: string, query: string) =>
      firstOf(selector.candidates(at({ path, query }), view)).id
    const pathOnly = urlHash.build(backends(1, 1, 1))
    const withQuery = urlHash.build(backends(1, 1, 1), { urlHash: { includeQuery: true } })
    const queries = Array.from({ length: 50 }, (_, n) => `v=${n}`)
    expect(new Set(queries.map((q) => pick(pathOnly, '/logo.png', q))).size).toBe(1)
    expect(new Set(queries.map((q) => pick(withQuery, '/logo.png', q))).size).toBe(3)
    expect(pick(withQuery, '/logo.png', 'v=1')).toBe(pick(withQuery, '/logo.png', 'v=1'))
  })
})

describe('consistent-hash', () => {
  const ten = Array.from({ length: 10 }, (_, i) => backend(`node-${i}`))
  const keys = Array.from({ length: 10_000 }, (_, n) => input(n))
  const owners = (list: readonly Backend[]) => {
    const selector = consistentHash.build(list)
    const view = new FakeView()
    return keys.map((key) => firstOf(selector.candidates(key, view)).id)
  }

  it('moves only the removed backend’s keys when one of 10 leaves', () => {
    const before = owners(ten)
    const after = owners(ten.filter((b) => b.id !== 'node-3'))
    let moved = 0
    before.forEach((owner, n) => {
      if (owner === 'node-3') moved++
      else expect(after[n]).toBe(owner)
    })
    expect(moved).toBeGreaterThan(0)
  })

  it('moves about 1/(N+1) of the keys, all to the newcomer, when an 11th joins (0.5× to 1.5×)', () => {
    const before = owners(ten)
    const after = owners([...ten, backend('node-10')])
    let moved = 0
    before.forEach((owner, n) => {
      if (after[n] === owner) return
      moved++
      expect(after[n]).toBe('node-10')
    })
    const expected = keys.length / 11
    expect(moved).toBeGreaterThan(expected * 0.5)
    expect(moved).toBeLessThan(expected * 1.5)
  })

  it('builds the same ring in two independent builds, whatever the backend order', () => {
    const one = new HashRing(ten, 160)
    const two = new HashRing(ten.toReversed(), 160)
    expect(one.points).toEqual(two.points)
    expect([...one.owners].map((o) => ten[o]!.id)).toEqual(
      [...two.owners].map((o) => ten.toReversed()[o]!.id),
    )
    expect(owners(ten)).toEqual(owners(ten.toReversed()))
  })

  it('places virtual nodes in proportion to weight, and finds points by binary search', () => {
    const ring = new HashRing([backend('x', 1), backend('y', 3)], 160)
    expect(ring.points.length).toBe(640)
    expect([...ring.owners].filter((o) => o === 1)).toHaveLength(480)
    for (let n = 0; n < 2000; n++) {
      const hash = hash32(`probe-${n}`)
      const linear = ring.points.findIndex((p) => p >= hash)
      expect(ring.seek(hash)).toBe(linear === -1 ? 0 : linear)
    }
  })

  it('reads its key from the address, the path, a header or a cookie; without one, in turn', () => {
    const request = input(5)
    expect(keyReader('ip')(request)).toBe('10.0.0.5')
    expect(keyReader('path')(request)).toBe('/items/5')
    expect(keyReader('header:x-user')(request)).toBe('user-5')
    expect(keyReader('cookie:user')(request)).toBe('user-5')
    expect(keyReader('cookie:none')(request)).toBeUndefined()
    const byHeader = consistentHash.build(ten, { consistentHash: { key: 'header:x-user' } })
    const view = new FakeView()
    const user = (n: number) => firstOf(byHeader.candidates(input(n), view)).id
    for (let n = 0; n < 20; n++) expect(user(n)).toBe(user(n))
    const keyless = { ...input(0), header: () => null }
    const turns = Array.from({ length: 10 }, () => firstOf(byHeader.candidates(keyless, view)).id)
    expect(new Set(turns).size).toBe(10)
  })

  it('keeps every node within ⌈1.25 × average⌉ under skewed keys (ε = 0.25), and only with the bound', () => {
    const draw = seeded(11)
    const skewed = (n: number): PickInput => {
      const r = draw()
      const key = r < 0.5 ? 'hot' : r < 0.8 ? `warm-${n % 5}` : `cold-${n}`
      return { ...input(n), header: () => key }
    }
    const run = (epsilon: number | null) => {
      const view = new FakeView()
      const selector = consistentHash.build(ten, { consistentHash: { key: 'header:k', epsilon } })
      let worst = 0
      for (let m = 1; m <= 2000; m++) {
        const b = firstOf(selector.candidates(skewed(m), view))
        view.setInflight(selector, b, view.inflight(b) + 1)
        const max = Math.max(...ten.map((x) => view.inflight(x)))
        worst = Math.max(worst, max / Math.ceil((1.25 * m) / 10))
      }
      return worst
    }
    expect(run(0.25)).toBeLessThanOrEqual(1)
    expect(run(null)).toBeGreaterThan(2) // the hot key alone holds half of all requests
  })
})

describe('threshold', () => {
  it('fills in order up to the threshold, then overflows: a a b b c c a b c', () => {
    const list = backends(1, 1, 1)
    const view = new FakeView()
    const selector = threshold.build(list, { threshold: { connections: 2 } })
    expect(holdPicks(selector, view, 9)).toEqual(['a', 'a', 'b', 'b', 'c', 'c', 'a', 'b', 'c'])
    // When b frees a slot it is the first below its threshold: a, c stay full.
    view.setInflight(selector, list[1]!, 1)
    expect(firstOf(selector.candidates(input(0), view)).id).toBe('b')
  })

  it('sends everything to the first backend while it stays under its threshold', () => {
    expect(new Set(firstChoices(threshold, backends(1, 1, 1), 50))).toEqual(new Set(['a']))
  })
})
