import { describe, expect, it } from 'vitest'
import { DEFAULT_LATENCY_DECAY, LoadMeter } from '../../../src/pools/load.ts'
import { backend, stateOf } from './fake-pool.ts'

/** A meter on a clock the test moves, with every load event it announces. */
function meterWith(decay?: number) {
  let time = 0
  const meter = new LoadMeter(() => time, decay)
  const events: string[] = []
  meter.watch((b) => events.push(b.id))
  return { meter, events, advance: (ms: number) => (time += ms), at: (ms: number) => (time = ms) }
}

describe('LoadMeter in flight', () => {
  it('counts up and down, announcing each change, and never below zero', () => {
    const { meter, events } = meterWith()
    const a = stateOf(backend('a'))
    const b = stateOf(backend('b'))
    meter.acquire(a)
    meter.acquire(b)
    meter.acquire(a)
    expect([a.inflight, b.inflight]).toEqual([2, 1])
    expect(meter.release(a)).toBe(true)
    expect(meter.release(b)).toBe(true)
    expect(meter.release(b)).toBe(false)
    expect([a.inflight, b.inflight]).toEqual([1, 0])
    expect(events).toEqual(['a', 'b', 'a', 'a', 'b'])
  })

  it('announces the backend object the record holds now', () => {
    const { meter } = meterWith()
    const state = stateOf(backend('a'))
    const seen: unknown[] = []
    meter.watch((b) => seen.push(b))
    state.backend = { ...state.backend, weight: 5 }
    meter.acquire(state)
    expect(seen).toEqual([state.backend])
    expect(seen[0]).toBe(state.backend)
  })
})

describe('LoadMeter peak-EWMA latency', () => {
  it('is 0 before the first response, however the clock moves', () => {
    const { meter, advance } = meterWith()
    const state = stateOf(backend('a'))
    expect(meter.latency(state)).toBe(0)
    advance(60_000)
    expect(meter.latency(state)).toBe(0)
  })

  it('takes a slower response at once and decays it with the time constant', () => {
    const { meter, at } = meterWith(1000)
    const state = stateOf(backend('a'))
    at(500)
    meter.observeLatency(state, 100)
    expect([state.latency, state.latencyAt]).toEqual([100, 500])
    expect(meter.latency(state)).toBe(100)
    at(1500)
    expect(meter.latency(state)).toBeCloseTo(100 * Math.exp(-1), 10)
    at(2500)
    expect(meter.latency(state)).toBeCloseTo(100 * Math.exp(-2), 10)
  })

  it('blends a faster response in with weight 1 − e^(−elapsed / decay)', () => {
    const { meter, at } = meterWith(1000)
    const state = stateOf(backend('a'))
    meter.observeLatency(state, 100)
    at(1000)
    meter.observeLatency(state, 50)
    const keep = Math.exp(-1)
    expect(state.latency).toBeCloseTo(100 * keep + 50 * (1 - keep), 10)
    expect(state.latencyAt).toBe(1000)
    // Two responses at the same instant: the second one, faster, changes nothing.
    meter.observeLatency(state, 10)
    expect(state.latency).toBeCloseTo(100 * keep + 50 * (1 - keep), 10)
    // A slower one replaces the average at once.
    meter.observeLatency(state, 400)
    expect(state.latency).toBe(400)
  })

  it('takes the time of the response from the caller when it has just read the clock', () => {
    const { meter, at } = meterWith(1000)
    const state = stateOf(backend('a'))
    meter.observeLatency(state, 100)
    at(5000)
    // The caller read the clock at 1000: the blend weighs 1 s, not 5 s, and the mark is 1000.
    meter.observeLatency(state, 50, 1000)
    const keep = Math.exp(-1)
    expect(state.latency).toBeCloseTo(100 * keep + 50 * (1 - keep), 10)
    expect(state.latencyAt).toBe(1000)
  })

  it('never grows when the clock reads earlier than the last response', () => {
    const { meter, at } = meterWith(1000)
    const state = stateOf(backend('a'))
    at(5000)
    meter.observeLatency(state, 100)
    at(4000)
    expect(meter.latency(state)).toBe(100)
  })

  it('defaults its time constant to 10 s, and takes a new one at once', () => {
    const { meter, at } = meterWith()
    const state = stateOf(backend('a'))
    expect(meter.decay).toBe(DEFAULT_LATENCY_DECAY)
    expect(DEFAULT_LATENCY_DECAY).toBe(10_000)
    meter.observeLatency(state, 100)
    at(10_000)
    expect(meter.latency(state)).toBeCloseTo(100 * Math.exp(-1), 10)
    meter.decay = 5000
    expect(meter.latency(state)).toBeCloseTo(100 * Math.exp(-2), 10)
  })

  it('announces every response', () => {
    const { meter, events } = meterWith()
    const state = stateOf(backend('a'))
    meter.observeLatency(state, 100)
    meter.observeLatency(state, 100)
    expect(events).toEqual(['a', 'a'])
  })
})

describe('LoadMeter utilisation', () => {
  it('records what the backend reports, announcing only a change', () => {
    const { meter, events } = meterWith()
    const state = stateOf(backend('a'))
    expect(state.utilisation).toBeUndefined()
    meter.reportUtilisation(state, 0.4)
    meter.reportUtilisation(state, 0.4)
    meter.reportUtilisation(state, 0.7)
    expect(state.utilisation).toBe(0.7)
    expect(events).toEqual(['a', 'a'])
  })
})
