import { afterEach, describe, expect, it, vi } from 'vitest'
import { enterEvent, leaveEvent, monotonicClock, wallClock } from '../../src/clock.ts'

afterEach(() => {
  vi.useRealTimers()
})

describe('the clocks, read once per socket event', () => {
  it('read afresh outside an event, so a fake clock is seen at once', () => {
    vi.useFakeTimers({ now: 1_000 })
    expect(wallClock()).toBe(1_000)
    vi.advanceTimersByTime(250)
    expect(wallClock()).toBe(1_250)
    const before = monotonicClock()
    vi.advanceTimersByTime(40)
    expect(monotonicClock() - before).toBe(40)
  })

  it('keep the first reading of each clock for the rest of the event', () => {
    vi.useFakeTimers({ now: 5_000 })
    enterEvent()
    const mono = monotonicClock()
    expect(wallClock()).toBe(5_000)
    vi.advanceTimersByTime(30)
    expect(wallClock()).toBe(5_000)
    expect(monotonicClock()).toBe(mono)
    leaveEvent()
    expect(wallClock()).toBe(5_030)
    expect(monotonicClock()).toBe(mono + 30)
  })

  it('read a clock at its first use in the event, not when the event starts', () => {
    vi.useFakeTimers({ now: 0 })
    enterEvent()
    vi.advanceTimersByTime(7)
    expect(wallClock()).toBe(7)
    leaveEvent()
  })

  it('share one reading across nested events until the outermost ends', () => {
    vi.useFakeTimers({ now: 100 })
    enterEvent()
    expect(wallClock()).toBe(100)
    enterEvent()
    vi.advanceTimersByTime(5)
    expect(wallClock()).toBe(100)
    leaveEvent()
    expect(wallClock()).toBe(100)
    leaveEvent()
    expect(wallClock()).toBe(105)
  })

  it('recover from an unbalanced leave: reads stay fresh', () => {
    vi.useFakeTimers({ now: 0 })
    leaveEvent()
    vi.advanceTimersByTime(3)
    expect(wallClock()).toBe(3)
    enterEvent()
    expect(wallClock()).toBe(3)
    leaveEvent()
    vi.advanceTimersByTime(1)
    expect(wallClock()).toBe(4)
  })
})
