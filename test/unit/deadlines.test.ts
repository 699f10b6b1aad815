import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { deadlineAfter } from '../../src/deadlines.ts'

describe('deadlineAfter', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs the callback once its time has come, never before', () => {
    const fired: string[] = []
    deadlineAfter(2000, () => fired.push('a'))
    vi.advanceTimersByTime(1999)
    expect(fired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(fired).toEqual(['a'])
    vi.advanceTimersByTime(10_000)
    expect(fired).toEqual(['a'])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('calls the expired method of a listener object', () => {
    const fired: number[] = []
    const start = Date.now()
    deadlineAfter(500, { expired: () => fired.push(Date.now() - start) })
    const cancelled = deadlineAfter(500, { expired: () => fired.push(-1) })
    cancelled.cancel()
    vi.advanceTimersByTime(499)
    expect(fired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(fired).toEqual([500])
    expect(vi.getTimerCount()).toBe(0)
  })

  it('runs each deadline of one duration at its own time, in order, on one timer', () => {
    const timers = vi.spyOn(globalThis, 'setTimeout')
    const fired: [string, number][] = []
    const start = Date.now()
    const at = (name: string) => () => fired.push([name, Date.now() - start])
    deadlineAfter(1000, at('a'))
    vi.advanceTimersByTime(300)
    deadlineAfter(1000, at('b'))
    vi.advanceTimersByTime(300)
    deadlineAfter(1000, at('c'))
    expect(timers).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(2000)
    expect(fired).toEqual([
      ['a', 1000],
      ['b', 1300],
      ['c', 1600],
    ])
    timers.mockRestore()
  })

  it('forgets a cancelled deadline, and clears the timer when none is left', () => {
    const fired: string[] = []
    const a = deadlineAfter(500, () => fired.push('a'))
    const b = deadlineAfter(500, () => fired.push('b'))
    a.cancel()
    a.cancel()
    expect(vi.getTimerCount()).toBe(1)
    b.cancel()
    expect(vi.getTimerCount()).toBe(0)
    vi.advanceTimersByTime(1000)
    expect(fired).toEqual([])
  })

  it('keeps the later deadlines when the first is cancelled, the shared timer armed again', () => {
    const fired: [string, number][] = []
    const start = Date.now()
    const first = deadlineAfter(1000, () => fired.push(['first', Date.now() - start]))
    vi.advanceTimersByTime(400)
    deadlineAfter(1000, () => fired.push(['second', Date.now() - start]))
    first.cancel()
    // The timer still fires at 1000 ms, finds nothing due, and waits for 1400 ms.
    vi.advanceTimersByTime(999)
    expect(fired).toEqual([])
    vi.advanceTimersByTime(1)
    expect(fired).toEqual([['second', 1400]])
  })

  it('keeps durations apart: a short deadline set after a long one fires first', () => {
    const fired: string[] = []
    deadlineAfter(5000, () => fired.push('long'))
    deadlineAfter(100, () => fired.push('short'))
    vi.advanceTimersByTime(100)
    expect(fired).toEqual(['short'])
    vi.advanceTimersByTime(4900)
    expect(fired).toEqual(['short', 'long'])
  })

  it('lets a callback set and cancel other deadlines', () => {
    const fired: string[] = []
    deadlineAfter(100, () => {
      fired.push('a')
      later.cancel()
      deadlineAfter(100, () => fired.push('c'))
    })
    const later = deadlineAfter(100, () => fired.push('b'))
    vi.advanceTimersByTime(100)
    expect(fired).toEqual(['a'])
    vi.advanceTimersByTime(100)
    expect(fired).toEqual(['a', 'c'])
    expect(vi.getTimerCount()).toBe(0)
  })
  it('never runs in the same firing a deadline that a callback set, even when the clock stood still', () => {
    // The timer is faked and the wall clock does not move: the second deadline, set by the
    // first's callback, is due 1000 ms after it, not at once (the clock read when it was set
    // equals the one read when the first was).
    vi.useRealTimers()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const now = vi.spyOn(Date, 'now').mockReturnValue(1_000_000)
    const fired: string[] = []
    deadlineAfter(1000, () => {
      fired.push('a')
      deadlineAfter(1000, () => fired.push('b'))
    })
    vi.advanceTimersByTime(1000)
    expect(fired).toEqual(['a'])
    vi.advanceTimersByTime(999)
    expect(fired).toEqual(['a'])
    vi.advanceTimersByTime(1)
    expect(fired).toEqual(['a', 'b'])
    now.mockRestore()
  })
})
