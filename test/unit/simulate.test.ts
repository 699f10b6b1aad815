import { describe, expect, it } from 'vitest'
import { strategies } from '../../src/strategies/index.ts'
import { runStrategy } from '../../src/simulate/engine.ts'
import { EventQueue } from '../../src/simulate/events.ts'
import { simulate } from '../../src/simulate/index.ts'
import { createRandom } from '../../src/simulate/random.ts'
import { defaultScenario } from '../../src/simulate/scenario.ts'
import { percentile } from '../../src/simulate/summary.ts'
import { generateWorkload } from '../../src/simulate/workload.ts'

describe('simulator building blocks', () => {
  it('replays the same random sequence for a seed, and another for another seed', () => {
    const draw = (seed: number) => Array.from({ length: 5 }, createRandom(seed).next)
    expect(draw(7)).toEqual(draw(7))
    expect(draw(7)).not.toEqual(draw(8))
    for (const value of draw(9)) {
      expect(value).toBeGreaterThanOrEqual(0)
      expect(value).toBeLessThan(1)
    }
  })

  it('draws exponential gaps with the right mean (band: ±3 % over 100,000 draws)', () => {
    const random = createRandom(1)
    let total = 0
    for (let i = 0; i < 100_000; i++) total += random.exponential(2.5)
    expect(total / 100_000).toBeGreaterThan(2.5 * 0.97)
    expect(total / 100_000).toBeLessThan(2.5 * 1.03)
  })

  it('pops events in time order, and in push order for equal times', () => {
    const queue = new EventQueue<string>()
    for (const [time, item] of [
      [5, 'e'],
      [1, 'a'],
      [3, 'c1'],
      [3, 'c2'],
      [2, 'b'],
      [3, 'c3'],
    ] as const)
      queue.push(time, item)
    const order: string[] = []
    while (queue.size) order.push(queue.pop()!.item)
    expect(order).toEqual(['a', 'b', 'c1', 'c2', 'c3', 'e'])
    expect(queue.peekTime()).toBe(Infinity)
  })

  it('takes nearest-rank percentiles', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1)
    expect(percentile(sorted, 0.5)).toBe(50)
    expect(percentile(sorted, 0.99)).toBe(99)
    expect(percentile(sorted, 1)).toBe(100)
    expect(percentile([], 0.5)).toBe(0)
  })

  it('generates Poisson arrivals at the configured rate (band: ±5 %) and Zipf paths', () => {
    const scenario = defaultScenario({ seed: 3, durationMs: 20_000, ratePerSecond: 500 })
    const workload = generateWorkload(scenario)
    expect(workload.at.length).toBeGreaterThan(10_000 * 0.95)
    expect(workload.at.length).toBeLessThan(10_000 * 1.05)
    for (let i = 1; i < workload.at.length; i++) {
      expect(workload.at[i]).toBeGreaterThanOrEqual(workload.at[i - 1]!)
    }
    const hits = new Uint32Array(scenario.paths)
    for (const path of workload.path) hits[path]!++
    // Zipf with s = 1: the top path is asked for about twice as often as the second.
    expect(hits[0]! / hits[1]!).toBeGreaterThan(1.6)
    expect(hits[0]! / hits[1]!).toBeLessThan(2.5)
    expect(generateWorkload(scenario).cost).toEqual(workload.cost)
  })
})

describe('simulate', () => {
  // One small run shared by the assertions below: about 6,000 requests per strategy.
  const result = simulate({ seed: 3, durationMs: 15_000 })
  const by = new Map(result.summaries.map((s) => [s.label, s]))
  const ids = result.scenario.backends.map((b) => b.id)
  const share = (label: string, id: string) => {
    const s = by.get(label)!
    return s.served[ids.indexOf(id)]! / s.served.reduce((a, b) => a + b, 0)
  }

  it('runs every strategy in the registry on the same requests, losing none', () => {
    expect([...by.keys()]).toEqual(Object.keys(strategies))
    const requests = result.summaries[0]!.requests
    expect(requests).toBeGreaterThan(5000)
    for (const s of result.summaries) {
      expect(s.requests, s.label).toBe(requests)
      // Refused connections are retried on the next candidate, so nothing is lost.
      expect(s.errors, s.label).toBe(0)
      expect(
        s.served.reduce((a, b) => a + b, 0),
        s.label,
      ).toBe(requests)
    }
  })

  it('shows load-aware strategies beating load-oblivious ones on p99 with a slow backend', () => {
    const oblivious = Math.min(by.get('random')!.p99, by.get('round-robin')!.p99)
    expect(by.get('least-connections')!.p99).toBeLessThan(oblivious)
    expect(by.get('least-time')!.p99).toBeLessThan(oblivious)
    expect(by.get('power-of-two')!.p99).toBeLessThan(oblivious)
    // Least time sees the slow backend's latency and starves it; round robin does not.
    expect(share('least-time', 'slow')).toBeLessThan(0.06)
    expect(share('round-robin', 'slow')).toBeGreaterThan(0.18)
    // Weights 3 : 2 show in weighted round robin.
    expect(share('weighted-round-robin', 'fast-1')).toBeGreaterThan(
      1.3 * share('weighted-round-robin', 'medium'),
    )
  })

  it('counts requests sent to the crashed backend until the probes take it out', () => {
    const rr = by.get('round-robin')!
    expect(rr.hitFailed).toBeGreaterThan(0)
    // Probes every 2 s with fall 3 take it out within about 8 s of the crash; round robin sends
    // it a fifth of 400 requests per second meanwhile.
    expect(rr.hitFailed).toBeLessThan(80 * 9)
    expect(rr.imbalance).toBeGreaterThan(by.get('least-time')!.imbalance)
  })

  it('is deterministic for a seed', () => {
    const again = simulate({ seed: 3, durationMs: 15_000 })
    expect(again.html).toBe(result.html)
    expect(again.text).toBe(result.text)
    const other = simulate({ seed: 4, durationMs: 15_000 })
    expect(other.text).not.toBe(result.text)
  })

  it('replays a strategy through the real pool, health checks included', () => {
    const scenario = defaultScenario({ seed: 9, durationMs: 12_000 })
    const run = runStrategy(scenario, generateWorkload(scenario), strategies['round-robin'])
    // flaky refuses connections from 40 % to 65 % of the run.
    expect(run.served['flaky']).toBeGreaterThan(0)
    expect(run.hitFailed).toBeGreaterThan(0)
    expect(run.latencies.length).toBe(run.requests)
  })

  it('runs sticky clients as a layer over each strategy', () => {
    const sticky = simulate({ seed: 3, durationMs: 5000, withSticky: true })
    const labels = sticky.summaries.map((s) => s.label)
    expect(labels).toContain('round-robin + sticky')
    expect(labels.length).toBe(2 * Object.keys(strategies).length)
    for (const s of sticky.summaries) expect(s.errors, s.label).toBe(0)
  })

  it('renders a self-contained report and the same table as text and Markdown', () => {
    const { html, text, markdown } = result
    expect(html).toMatch(/^<!doctype html>/)
    expect(html.match(/<svg /g)!.length).toBeGreaterThan(result.summaries.length)
    // Nothing is fetched: no scripts, stylesheets, images or URLs beyond the SVG namespace.
    expect(html).not.toMatch(/<script|<link|<img|src=|url\(/i)
    expect(html.replace(/xmlns="http:\/\/www\.w3\.org\/2000\/svg"/g, '')).not.toMatch(/https?:/)
    for (const label of by.keys()) {
      expect(text).toContain(label)
      expect(markdown).toContain(`| ${label} |`)
      expect(html).toContain(`<th>${label}</th>`)
    }
    expect(text.split('\n')[2]).toMatch(/^strategy +p50 ms +p95 ms +p99 ms +fast-1/)
  })

  it('refuses an unknown strategy', () => {
    expect(() => simulate({ strategies: ['nope' as never] })).toThrow('Unknown strategy "nope"')
  })
})
