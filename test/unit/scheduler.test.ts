import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { ProbeScheduler } from '../../src/health/scheduler.ts'

/** A promise that resolves after `ms` of (fake) time. */
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

beforeEach(() => {
  vi.useFakeTimers({ now: 0 })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('ProbeScheduler', () => {
  it('runs the first round at once, then one round per interval', async () => {
    const starts: number[] = []
    const scheduler = new ProbeScheduler({
      interval: 1000,
      round: async () => {
        starts.push(Date.now())
      },
    })
    scheduler.start()
    expect(starts).toEqual([0])
    await vi.advanceTimersByTimeAsync(3500)
    expect(starts).toEqual([0, 1000, 2000, 3000])
    await scheduler.stop()
  })

  it('never overlaps rounds: a slow round delays the next one', async () => {
    const starts: number[] = []
    let running = 0
    let maxRunning = 0
    const scheduler = new ProbeScheduler({
      interval: 1000,
      round: async () => {
        starts.push(Date.now())
        running++
        maxRunning = Math.max(maxRunning, running)
        await sleep(starts.length === 1 ? 2500 : 100)
        running--
      },
    })
    scheduler.start()
    expect(scheduler.busy).toBe(true)
    await vi.advanceTimersByTimeAsync(2499)
    // Still in the first round although two intervals have passed.
    expect(starts).toEqual([0])
    await vi.advanceTimersByTimeAsync(1)
    expect(scheduler.busy).toBe(false)
    await vi.advanceTimersByTimeAsync(3000)
    // The interval counts from the end of the previous round.
    expect(starts).toEqual([0, 3500, 4600])
    expect(maxRunning).toBe(1)
    await scheduler.stop()
  })

  it('keeps each wait within interval × (1 ± jitter)', async () => {
    const bounds = (random: number) =>
      new ProbeScheduler({
        interval: 1000,
        jitter: 0.2,
        random: () => random,
        round: async () => {},
      })
    expect(bounds(0).nextDelay()).toBe(800)
    expect(bounds(0.5).nextDelay()).toBe(1000)
    expect(bounds(0.999999).nextDelay()).toBe(1200)

    const scheduler = new ProbeScheduler({ interval: 1000, jitter: 0.2, round: async () => {} })
    const delays = Array.from({ length: 1000 }, () => scheduler.nextDelay())
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(800)
    expect(Math.max(...delays)).toBeLessThanOrEqual(1200)
    // Uniform over ±200 ms: 1000 draws spread across the range (each half gets 50 % ± 10 %).
    expect(delays.filter((d) => d < 1000).length).toBeGreaterThan(400)
    expect(delays.filter((d) => d > 1000).length).toBeGreaterThan(400)
  })

  it('waits the jittered delay between real rounds', async () => {
    const starts: number[] = []
    const randoms = [0, 1, 0.25]
    const scheduler = new ProbeScheduler({
      interval: 1000,
      jitter: 0.1,
      random: () => randoms.shift() ?? 0.5,
      round: async () => {
        starts.push(Date.now())
      },
    })
    scheduler.start()
    await vi.advanceTimersByTimeAsync(4000)
    expect(starts.slice(0, 4)).toEqual([0, 900, 2000, 2950])
    await scheduler.stop()
  })

  it('stop() aborts the round under way, waits for it and schedules no more', async () => {
    let signal: AbortSignal | undefined
    let settled = false
    let rounds = 0
    const scheduler = new ProbeScheduler({
      interval: 100,
      round: (s) => {
        rounds++
        signal = s
        return new Promise<void>((resolve) => {
          s.addEventListener('abort', () =>
            setTimeout(() => {
              settled = true
              resolve()
            }, 50),
          )
        })
      },
    })
    scheduler.start()
    await vi.advanceTimersByTimeAsync(10)
    const stopped = scheduler.stop()
    expect(signal!.aborted).toBe(true)
    let stopResolved = false
    void stopped.then(() => (stopResolved = true))
    await vi.advanceTimersByTimeAsync(10)
    expect(stopResolved).toBe(false)
    await vi.advanceTimersByTimeAsync(40)
    expect(stopResolved).toBe(true)
    expect(settled).toBe(true)
    await vi.advanceTimersByTimeAsync(1000)
    expect(rounds).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('stop() between rounds cancels the pending one', async () => {
    let rounds = 0
    const scheduler = new ProbeScheduler({ interval: 100, round: async () => void rounds++ })
    scheduler.start()
    await vi.advanceTimersByTimeAsync(150)
    expect(rounds).toBe(2)
    await scheduler.stop()
    await vi.advanceTimersByTimeAsync(1000)
    expect(rounds).toBe(2)
  })

  it('goes on after a round throws, reporting the error', async () => {
    const errors: unknown[] = []
    let rounds = 0
    const scheduler = new ProbeScheduler({
      interval: 100,
      round: async () => {
        rounds++
        if (rounds === 1) throw new Error('boom')
      },
      onError: (error) => errors.push(error),
    })
    scheduler.start()
    await vi.advanceTimersByTimeAsync(250)
    expect(rounds).toBe(3)
    expect(errors).toEqual([new Error('boom')])
    await scheduler.stop()
  })

  it('starting twice runs one schedule', async () => {
    let rounds = 0
    const scheduler = new ProbeScheduler({ interval: 100, round: async () => void rounds++ })
    scheduler.start()
    scheduler.start()
    await vi.advanceTimersByTimeAsync(250)
    expect(rounds).toBe(3)
    await scheduler.stop()
  })
})
