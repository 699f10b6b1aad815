import { describe, expect, it } from 'vitest'
import {
  CircuitBreaker,
  DEFAULT_BREAKER_OPTIONS,
  type BreakerOptions,
} from '../../src/health/breaker.ts'

const options: BreakerOptions = {
  ...DEFAULT_BREAKER_OPTIONS,
  failureRatio: 0.5,
  minimumRequests: 4,
  window: 10_000,
  openTime: 5000,
  halfOpenRequests: 2,
}

/** Record `n` outcomes at `now`; returns the transitions seen. */
function feed(breaker: CircuitBreaker, failed: boolean, n: number, now: number) {
  const seen: string[] = []
  for (let i = 0; i < n; i++) {
    const to = breaker.record(failed, now)
    if (to) seen.push(to)
  }
  return seen
}

describe('circuit breaker', () => {
  it('stays closed below the minimum number of requests, however many fail', () => {
    const breaker = new CircuitBreaker(options)
    expect(feed(breaker, true, 3, 0)).toEqual([])
    expect(breaker.state).toBe('closed')
    expect(breaker.tryAcquire()).toBe(true)
  })

  it('opens when the failure ratio in the window reaches the threshold', () => {
    const breaker = new CircuitBreaker(options)
    feed(breaker, false, 2, 0)
    expect(feed(breaker, true, 1, 100)).toEqual([])
    // 2 failures of 4: ratio 0.5 reaches the threshold.
    expect(feed(breaker, true, 1, 200)).toEqual(['open'])
    expect(breaker.state).toBe('open')
    expect(breaker.openUntil).toBe(5200)
    expect(breaker.tryAcquire()).toBe(false)
  })

  it('forgets outcomes older than the window', () => {
    const breaker = new CircuitBreaker(options)
    feed(breaker, true, 3, 0)
    // 11 s later the three failures have left the 10 s window: one more is 1 of 1.
    expect(feed(breaker, true, 1, 11_000)).toEqual([])
    expect(breaker.counts(11_000)).toEqual({ failures: 1, total: 1 })
    expect(breaker.state).toBe('closed')
  })

  it('turns half-open after openTime and lets only halfOpenRequests trials through', () => {
    const breaker = new CircuitBreaker(options)
    feed(breaker, true, 4, 0)
    expect(breaker.tick(4999)).toBeUndefined()
    expect(breaker.state).toBe('open')
    expect(breaker.tick(5000)).toBe('half-open')
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(false)
    expect(breaker.admits()).toBe(false)
  })

  it('closes when every trial succeeds', () => {
    const breaker = new CircuitBreaker(options)
    feed(breaker, true, 4, 0)
    breaker.tick(5000)
    breaker.tryAcquire()
    breaker.tryAcquire()
    expect(breaker.record(false, 5100)).toBeUndefined()
    expect(breaker.record(false, 5200)).toBe('closed')
    expect(breaker.tryAcquire()).toBe(true)
    // The old failures are gone: it takes a fresh window to open again.
    expect(feed(breaker, true, 3, 5300)).toEqual([])
  })

  it('opens again on the first failed trial', () => {
    const breaker = new CircuitBreaker(options)
    feed(breaker, true, 4, 0)
    breaker.tick(5000)
    breaker.tryAcquire()
    expect(breaker.record(true, 5100)).toBe('open')
    expect(breaker.openUntil).toBe(10_100)
  })

  it('gives a cancelled trial slot back', () => {
    const breaker = new CircuitBreaker({ ...options, halfOpenRequests: 1 })
    feed(breaker, true, 4, 0)
    breaker.tick(5000)
    expect(breaker.tryAcquire()).toBe(true)
    expect(breaker.tryAcquire()).toBe(false)
    breaker.cancelTrial()
    expect(breaker.tryAcquire()).toBe(true)
  })

  it('does nothing when disabled', () => {
    const breaker = new CircuitBreaker({ ...options, enabled: false })
    expect(feed(breaker, true, 100, 0)).toEqual([])
    expect(breaker.state).toBe('closed')
  })
})
