import { describe, expect, it } from 'vitest'
import { DEFAULT_SLOW_START_OPTIONS } from '../../../src/health/slow-start.ts'
import type { Sweep } from '../../../src/pools/context.ts'
import { isRamping, SlowStart, stopRamp } from '../../../src/pools/slow-start.ts'
import { backend, recordingContext, stateOf } from './fake-pool.ts'

const linear = { window: 1000, aggression: 1, minWeightPercent: 10 }

/**
 * Step a ramp every `every` ms from `from` to `to` (pool clock); per step, the factor, `*` when it
 * changed, and when the next step is due.
 */
function walk(
  ramp: SlowStart,
  state: ReturnType<typeof stateOf>,
  from: number,
  to: number,
  every: number,
) {
  const seen: string[] = []
  for (let now = from; now <= to; now += every) {
    const sweep: Sweep = { changed: false, next: Infinity }
    ramp.step(state, now, sweep)
    seen.push(`${state.rampFactor}${sweep.changed ? '*' : ''}@${sweep.next}`)
  }
  return seen
}

describe('SlowStart', () => {
  it('is off by default: a backend that comes back takes its full weight at once', () => {
    const { context, events } = recordingContext()
    const ramp = new SlowStart(context)
    const state = stateOf(backend('a'))
    ramp.start(state)
    expect(DEFAULT_SLOW_START_OPTIONS.window).toBe(0)
    expect([state.rampFactor, state.rampStart]).toEqual([1, undefined])
    expect(events).toEqual([])
  })

  it('starts at the minimum weight and asks to be woken when the next step begins', () => {
    const { context, events } = recordingContext()
    const state = stateOf(backend('a'))
    new SlowStart(context, linear).start(state)
    expect([state.rampFactor, state.rampStart]).toEqual([0.1, 1000])
    expect(events).toEqual(['schedule 1200'])
  })

  it('climbs one tenth per step over the window, then ends at full weight', () => {
    const { context } = recordingContext()
    const ramp = new SlowStart(context, linear)
    const state = stateOf(backend('a'))
    ramp.start(state)
    expect(walk(ramp, state, 1100, 2100, 100)).toEqual([
      '0.1@1200',
      '0.2*@1300',
      '0.3*@1400',
      '0.4*@1500',
      '0.5*@1600',
      '0.6*@1700',
      '0.7*@1800',
      '0.8*@1900',
      '0.9*@2000',
      '1*@Infinity',
      '1@Infinity',
    ])
    expect(state.rampStart).toBeUndefined()
  })

  it('skips the steps a late refresh missed, straight to where the curve is now', () => {
    const { context } = recordingContext()
    const ramp = new SlowStart(context, linear)
    const state = stateOf(backend('a'))
    ramp.start(state)
    expect(walk(ramp, state, 1650, 1650, 1)).toEqual(['0.6*@1700'])
  })

  it('follows the aggression curve and the minimum weight (Envoy slow_start_config)', () => {
    const { context, events, take } = recordingContext()
    const state = stateOf(backend('a'))
    // (elapsed / window)^(1 / 2): half the weight a quarter of the way in.
    const ramp = new SlowStart(context, { ...linear, aggression: 2 })
    ramp.start(state)
    take()
    expect(walk(ramp, state, 1250, 1250, 1)).toEqual(['0.5*@1360'])
    new SlowStart(context, { ...linear, minWeightPercent: 30 }).start(state)
    expect(state.rampFactor).toBe(0.3)
    expect(events).toEqual(['schedule 1400'])
  })

  it('follows new options from the next step on', () => {
    const { context } = recordingContext()
    const ramp = new SlowStart(context, linear)
    const state = stateOf(backend('a'))
    ramp.start(state)
    expect(walk(ramp, state, 1500, 1500, 1)).toEqual(['0.5*@1600'])
    ramp.configure({ ...linear, window: 2000 })
    expect(walk(ramp, state, 1500, 1500, 1)).toEqual(['0.2*@1600'])
  })

  it('ends a ramp at once on stopRamp', () => {
    const { context } = recordingContext()
    const state = stateOf(backend('a'))
    new SlowStart(context, linear).start(state)
    expect(isRamping([stateOf(backend('b')), state])).toBe(true)
    stopRamp(state)
    expect([state.rampFactor, state.rampStart]).toEqual([1, undefined])
    expect(isRamping([stateOf(backend('b')), state])).toBe(false)
  })
})
