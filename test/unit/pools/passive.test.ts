import { describe, expect, it } from 'vitest'
import { DEFAULT_BREAKER_OPTIONS, type BreakerOptions } from '../../../src/health/breaker.ts'
import {
  DEFAULT_OUTLIER_OPTIONS,
  type Outcome,
  type OutlierOptions,
} from '../../../src/health/outlier.ts'
import type { SlowStartOptions } from '../../../src/health/slow-start.ts'
import { BackendSet } from '../../../src/pools/backend-set.ts'
import { createBackendState } from '../../../src/pools/backend-state.ts'
import type { Sweep } from '../../../src/pools/context.ts'
import { PassiveHealth, type PassiveOptions } from '../../../src/pools/passive.ts'
import { SlowStart } from '../../../src/pools/slow-start.ts'
import { backend, recordingContext } from './fake-pool.ts'

const outlier: OutlierOptions = {
  ...DEFAULT_OUTLIER_OPTIONS,
  consecutive5xx: 3,
  consecutiveErrors: 3,
  baseEjectionTime: 1000,
  maxEjectionTime: 10_000,
  maxEjectionPercent: 50,
}
const breaker: BreakerOptions = {
  ...DEFAULT_BREAKER_OPTIONS,
  failureRatio: 0.5,
  minimumRequests: 4,
  window: 10_000,
  openTime: 5000,
  halfOpenRequests: 2,
}
const off = { enabled: false }

/** Passive health over backends a, b and c on a fake clock (1000 ms at first). */
function passiveWith(options: PassiveOptions, slowStart?: SlowStartOptions) {
  const recording = recordingContext()
  const ramp = new SlowStart(recording.context, slowStart)
  const passive = new PassiveHealth(recording.context, ramp, options)
  const set = new BackendSet()
  for (const name of ['a', 'b', 'c']) {
    set.insert(createBackendState(backend(name), passive.createBreaker()))
  }
  const state = (id: string) => set.get(id)!
  return {
    ...recording,
    passive,
    set,
    state,
    record: (id: string, outcome: Outcome, n = 1) => {
      for (let i = 0; i < n; i++) passive.record(state(id), outcome, set)
    },
    /** One refresh pass over every backend at the clock's time. */
    refresh: () => {
      const sweep: Sweep = { changed: false, next: Infinity }
      const now = recording.context.clock()
      for (const s of set.values()) passive.refresh(s, now, sweep)
      return sweep
    },
  }
}

describe('PassiveHealth ejection', () => {
  it('ejects on the nth failure in a row: log, wake-up, eligible set, transition', () => {
    const { record, state, events, fields } = passiveWith({
      outlier,
      breaker: { ...breaker, ...off },
    })
    record('a', 'http5xx', 2)
    expect(events).toEqual([])
    record('a', 'http5xx')
    expect(events).toEqual([
      'warn backend ejected',
      'schedule 2000',
      'changed',
      'transition a ejected: 3 consecutive 5xx responses',
    ])
    expect(fields[0]).toEqual({
      backend: 'a',
      url: 'http://a.test',
      reason: '3 consecutive 5xx responses',
      ejectionTime: 1000,
      ejections: 1,
    })
    expect(state('a').ejected).toBe(true)
    // An ejected backend's outcomes feed no second ejection.
    record('a', 'http5xx', 5)
    expect(events).toHaveLength(4)
  })

  it('ends a ramp under way when it ejects', () => {
    const { record, state } = passiveWith({ outlier, breaker: { ...breaker, ...off } })
    Object.assign(state('a'), { rampFactor: 0.3, rampStart: 900 })
    record('a', 'timeout', 3)
    expect([state('a').rampFactor, state('a').rampStart]).toEqual([1, undefined])
  })

  it('never ejects more than maxEjectionPercent of the pool; the next failure tries again', () => {
    const { record, state, take, advance, refresh } = passiveWith({
      outlier,
      breaker: { ...breaker, ...off },
    })
    record('a', 'connect', 3)
    take()
    // Half of three backends, rounded down: one at a time.
    record('b', 'connect', 3)
    expect(take()).toEqual([])
    expect(state('b').ejected).toBe(false)
    advance(1000)
    refresh()
    take()
    record('b', 'reset')
    expect(take()).toEqual([
      'warn backend ejected',
      'schedule 3000',
      'changed',
      'transition b ejected: 4 consecutive errors (last: reset)',
    ])
  })

  it('does nothing when outlier detection is off', () => {
    const { record, events, state } = passiveWith({
      outlier: { ...outlier, ...off },
      breaker: { ...breaker, ...off },
    })
    record('a', 'http5xx', 10)
    expect(events).toEqual([])
    expect(state('a').ejected).toBe(false)
  })

  it('lets a backend return when its time is up, and ramps it up', () => {
    const { record, take, advance, refresh, state, fields } = passiveWith(
      { outlier, breaker: { ...breaker, ...off } },
      { window: 1000, aggression: 1, minWeightPercent: 10 },
    )
    record('a', 'http5xx', 3)
    take()
    advance(999)
    expect(refresh()).toEqual({ changed: false, next: 2000 })
    expect(take()).toEqual([])
    advance(1)
    expect(refresh()).toEqual({ changed: true, next: Infinity })
    expect(take()).toEqual([
      'info backend returned',
      'transition a up: ejection time ended',
      'schedule 2200',
    ])
    expect(fields.at(-1)).toEqual({
      backend: 'a',
      url: 'http://a.test',
      reason: 'ejection time ended',
    })
    expect(state('a')).toMatchObject({ ejected: false, rampFactor: 0.1, rampStart: 2000 })
    expect(state('a').outlier.returnedAt).toBe(2000)
  })

  it('returns a backend that is not available without a ramp', () => {
    const { record, take, advance, refresh, state } = passiveWith(
      { outlier, breaker: { ...breaker, ...off } },
      { window: 1000, aggression: 1, minWeightPercent: 10 },
    )
    record('a', 'http5xx', 3)
    state('a').enabled = false
    take()
    advance(1000)
    refresh()
    expect(take()).toEqual(['info backend returned', 'transition a up: ejection time ended'])
    expect(state('a').rampFactor).toBe(1)
  })

  it('ends an ejection early when the probes bring the backend up', () => {
    const { record, passive, advance, state, take } = passiveWith({
      outlier,
      breaker: { ...breaker, ...off },
    })
    record('a', 'http5xx', 3)
    take()
    advance(300)
    passive.release(state('a'))
    expect(state('a').ejected).toBe(false)
    expect(state('a').outlier.ejectedUntil).toBe(0)
    expect(state('a').outlier.returnedAt).toBe(1300)
    // The pool announces it; a backend that was not ejected is left alone.
    passive.release(state('b'))
    expect(state('b').outlier.returnedAt).toBe(0)
    expect(take()).toEqual([])
  })
})

describe('PassiveHealth circuit breaker', () => {
  it('opens, turns half-open when its time is up, and closes after the trials succeed', () => {
    const { record, state, take, advance, refresh, fields } = passiveWith({
      outlier: { ...outlier, ...off },
      breaker,
    })
    record('a', 'success', 2)
    record('a', 'http5xx')
    expect(take()).toEqual([])
    record('a', 'http5xx')
    // The transition comes before the new eligible set here, as it always has.
    expect(take()).toEqual([
      'warn circuit open',
      'schedule 6000',
      'transition a circuit-open: 2 of 4 requests failed',
      'changed',
    ])
    expect(fields.at(-1)).toEqual({
      backend: 'a',
      url: 'http://a.test',
      from: 'closed',
      reason: '2 of 4 requests failed',
      openTime: 5000,
    })
    expect(state('a').circuit).toBe('open')
    advance(4999)
    expect(refresh()).toEqual({ changed: false, next: 6000 })
    advance(1)
    expect(refresh()).toEqual({ changed: true, next: Infinity })
    expect(take()).toEqual(['info circuit half-open', 'transition a circuit-half-open', 'changed'])
    expect(fields.at(-1)).toEqual({ backend: 'a', url: 'http://a.test', from: 'open', trials: 2 })
    state('a').breaker.tryAcquire()
    state('a').breaker.tryAcquire()
    record('a', 'success')
    expect(take()).toEqual([])
    record('a', 'success')
    expect(take()).toEqual([
      'info circuit closed',
      'transition a circuit-closed: trial requests succeeded',
      'changed',
    ])
    expect(state('a').circuit).toBe('closed')
  })

  it('opens again on a failed trial, and ramps up a backend whose circuit closes', () => {
    const { record, state, take, advance, refresh } = passiveWith(
      { outlier: { ...outlier, ...off }, breaker },
      { window: 1000, aggression: 1, minWeightPercent: 10 },
    )
    record('a', 'connect', 4)
    advance(5000)
    refresh()
    take()
    state('a').breaker.tryAcquire()
    record('a', 'timeout')
    expect(take()).toEqual([
      'warn circuit open',
      'schedule 11000',
      'transition a circuit-open: a trial request failed',
      'changed',
    ])
    advance(5000)
    refresh()
    take()
    record('a', 'success', 2)
    expect(take()).toEqual([
      'info circuit closed',
      'schedule 11200',
      'transition a circuit-closed: trial requests succeeded',
      'changed',
    ])
    expect(state('a').rampFactor).toBe(0.1)
  })

  it('gives a half-open trial slot back when the client went away, and counts nothing', () => {
    const { record, state, take, advance, refresh } = passiveWith({
      outlier,
      breaker: { ...breaker, halfOpenRequests: 1 },
    })
    state('a').outlier.consecutive5xx = 2
    record('a', 'cancelled')
    expect(state('a').outlier.consecutive5xx).toBe(2)
    record('a', 'connect', 4)
    advance(5000)
    refresh()
    take()
    expect(state('a').breaker.tryAcquire()).toBe(true)
    expect(state('a').breaker.admits()).toBe(false)
    record('a', 'cancelled')
    expect(state('a').breaker.admits()).toBe(true)
    expect(take()).toEqual([])
  })

  it('applies new breaker options to every backend: disabled closes open circuits', () => {
    const { record, state, passive, set, take } = passiveWith({
      outlier: { ...outlier, ...off },
      breaker,
    })
    record('a', 'connect', 4)
    take()
    passive.configure({ breaker: { ...breaker, ...off } }, set.values())
    expect(state('a').circuit).toBe('closed')
    expect(state('a').breaker.state).toBe('closed')
    // The pool announces the reload itself.
    expect(take()).toEqual([])
    record('a', 'connect', 10)
    expect(state('a').circuit).toBe('closed')
  })
})
