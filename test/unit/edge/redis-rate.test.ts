import { createHash } from 'node:crypto'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { GCRA_SCRIPT, GCRA_SHA, RedisRateStore } from '../../../src/edge/redis-rate.ts'
import type { RedisLike } from '../../../src/redis-client.ts'

const SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex')

interface Call {
  command: string
  args: readonly (string | number)[]
  resolve(reply: unknown): void
  reject(error: Error): void
}

/** A Redis whose every answer the test gives. */
function fakeRedis() {
  const calls: Call[] = []
  const redis: RedisLike = {
    call: (command, args) =>
      new Promise((resolve, reject) => calls.push({ command, args, resolve, reject })),
    close() {},
  }
  return { redis, calls }
}

/** Let queued microtasks (and the script's digest) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0))

// Two requests per second, a burst of 4: T = 500 ms, τ = 2000 ms.
const spec = { requests: 2, per: 1000, burst: 4 }

beforeAll(async () => {
  expect(await GCRA_SHA).toBe(SHA)
})

afterEach(() => {
  vi.useRealTimers()
})

describe('RedisRateStore', () => {
  it('takes the requests of one turn in one EVALSHA, one key per client', async () => {
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec })
    await settle()
    const a = Array.from({ length: 5 }, () => store.take('ip:192.0.2.1'))
    const b = [store.take('ip:192.0.2.2'), store.take('ip:192.0.2.2')]
    await settle()
    expect(calls).toHaveLength(1)
    expect(calls[0]!.command).toBe('EVALSHA')
    expect(calls[0]!.args).toEqual([
      SHA,
      2,
      'fulcrum:rl:ip:192.0.2.1',
      'fulcrum:rl:ip:192.0.2.2',
      500,
      2000,
      5,
      2,
    ])
    // Redis let 4 of 5 through on the first key (its bucket 2000 ms from full), 2 on the second.
    calls[0]!.resolve([4, 2_000_000, 2, 1_000_000])
    const first = await Promise.all(a)
    // The same answers as TokenBuckets gives for the same requests (edge-limits.test.ts).
    expect(first.map((d) => d.allowed)).toEqual([true, true, true, true, false])
    expect(first[0]).toEqual({ allowed: true, limit: 4, remaining: 3, reset: 1, retryAfter: 0 })
    expect(first.map((d) => d.remaining)).toEqual([3, 2, 1, 0, 0])
    expect(first[4]).toEqual({ allowed: false, limit: 4, remaining: 0, reset: 2, retryAfter: 1 })
    expect((await Promise.all(b)).map((d) => [d.allowed, d.remaining])).toEqual([
      [true, 3],
      [true, 2],
    ])
    expect(store.roundTrips).toBe(1)
  })

  it('sends the script whole (EVAL) when Redis does not know it, as after a restart', async () => {
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec })
    await settle()
    const taken = store.take('k')
    await settle()
    calls[0]!.reject(new Error('NOSCRIPT No matching script. Please use EVAL.'))
    await settle()
    expect(calls[1]!.command).toBe('EVAL')
    expect(calls[1]!.args).toEqual([GCRA_SCRIPT, 1, 'fulcrum:rl:k', 500, 2000, 1])
    calls[1]!.resolve([1, 500_000])
    expect(await taken).toMatchObject({ allowed: true, remaining: 3 })
    // One round trip as far as the requests go; the next ones use EVALSHA again.
    expect(store.roundTrips).toBe(1)
    const next = store.take('k')
    await settle()
    expect(calls[2]!.command).toBe('EVALSHA')
    calls[2]!.resolve([1, 1_000_000])
    expect(await next).toMatchObject({ allowed: true, remaining: 2 })
  })

  it('gathers the requests that arrive during a round trip into the next one', async () => {
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec, prefix: 'p:' })
    await settle()
    const first = store.take('a')
    await settle()
    const later = [store.take('a'), store.take('b'), store.take('a')]
    await settle()
    expect(calls).toHaveLength(1)
    calls[0]!.resolve([1, 500_000])
    await first
    await settle()
    expect(calls).toHaveLength(2)
    expect(calls[1]!.args.slice(1)).toEqual([2, 'p:a', 'p:b', 500, 2000, 2, 1])
    calls[1]!.resolve([2, 1_500_000, 1, 500_000])
    expect((await Promise.all(later)).map((d) => d.allowed)).toEqual([true, true, true])
  })

  it('splits a batch beyond maxBatch keys', async () => {
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec, maxBatch: 2 })
    await settle()
    const taken = ['a', 'b', 'c'].map((key) => store.take(key))
    await settle()
    expect(calls[0]!.args[1]).toBe(2)
    calls[0]!.resolve([1, 500_000, 1, 500_000])
    await settle()
    expect(calls[1]!.args.slice(1, 3)).toEqual([1, 'fulcrum:rl:c'])
    calls[1]!.resolve([1, 500_000])
    expect(await Promise.all(taken)).toHaveLength(3)
  })

  it('gives a round trip up after the timeout, and fails the requests waiting behind it', async () => {
    vi.useFakeTimers()
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec, timeout: 100 })
    // The first round trip has 1 s (the client loads and connects)…
    const connecting = store.take('a')
    await vi.advanceTimersByTimeAsync(999)
    calls[0]!.resolve([1, 500_000])
    expect(await connecting).toMatchObject({ allowed: true })
    // …the others 100 ms.
    const first = store.take('a')
    first.catch(() => {})
    await vi.advanceTimersByTimeAsync(0)
    const behind = store.take('b')
    behind.catch(() => {})
    await vi.advanceTimersByTimeAsync(99)
    expect(calls).toHaveLength(2)
    // Given up at 100 ms, one turn of the event loop later.
    await vi.advanceTimersByTimeAsync(2)
    await expect(first).rejects.toThrow('Redis did not answer within 100 ms')
    await expect(behind).rejects.toThrow('Redis did not answer within 100 ms')
    // A late answer changes nothing.
    calls[1]!.resolve([1, 500_000])
  })

  it('gives the first round trip up after firstTimeout', async () => {
    vi.useFakeTimers()
    const { redis } = fakeRedis()
    const store = new RedisRateStore({ redis, spec, timeout: 50, firstTimeout: 300 })
    const first = store.take('a')
    first.catch(() => {})
    await vi.advanceTimersByTimeAsync(302)
    await expect(first).rejects.toThrow('Redis did not answer within 300 ms')
  })

  it('fails the requests on an error reply or an unexpected reply', async () => {
    const { redis, calls } = fakeRedis()
    const store = new RedisRateStore({ redis, spec })
    await settle()
    const a = store.take('a')
    await settle()
    calls[0]!.reject(new Error('LOADING Redis is loading the dataset in memory'))
    await expect(a).rejects.toThrow('LOADING')
    const b = store.take('b')
    await settle()
    calls[1]!.resolve('OK')
    await expect(b).rejects.toThrow('Unexpected reply')
  })
})
