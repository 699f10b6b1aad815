import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createAccessPolicy } from '../../src/edge/access.ts'
import { BodyLimitError, guardBody } from '../../src/edge/body-limit.ts'
import { clientAddressOf, forwardedFor } from '../../src/edge/client-address.ts'
import { TokenBuckets } from '../../src/edge/rate-limit.ts'
import { createAddressMatcher } from '../../src/net.ts'

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!)
      else c.close()
    },
  })
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<number> {
  let total = 0
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return total
    total += value.byteLength
  }
}

describe('guardBody', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('passes a body within the limit through unchanged', async () => {
    const guarded = guardBody(streamOf([new Uint8Array(40), new Uint8Array(60)]), {
      maxBytes: 100,
      deadline: 0,
    })
    expect(await readAll(guarded.stream)).toBe(100)
    expect(guarded.tripped).toBe(undefined)
  })

  it('errors the stream where the body crosses the limit', async () => {
    const onTrip = vi.fn()
    const guarded = guardBody(streamOf([new Uint8Array(60), new Uint8Array(60)]), {
      maxBytes: 100,
      deadline: 0,
      onTrip,
    })
    await expect(readAll(guarded.stream)).rejects.toBeInstanceOf(BodyLimitError)
    expect(guarded.tripped).toBe('size')
    expect(onTrip).toHaveBeenCalledWith('size')
  })

  it('errors a body that is not complete by the deadline, and not one that is', async () => {
    const never = new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) })
    const onTrip = vi.fn()
    const slow = guardBody(never, { maxBytes: 0, deadline: 1000, onTrip })
    const read = readAll(slow.stream)
    const failed = expect(read).rejects.toThrow('Request body timed out')
    await vi.advanceTimersByTimeAsync(999)
    expect(onTrip).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    await failed
    expect(slow.tripped).toBe('time')

    const fast = guardBody(streamOf([new Uint8Array(5)]), { maxBytes: 0, deadline: 1000 })
    expect(await readAll(fast.stream)).toBe(5)
    await vi.advanceTimersByTimeAsync(5000)
    expect(fast.tripped).toBe(undefined)
  })
})

describe('TokenBuckets', () => {
  it('allows a burst, then the rate, and says when to come back', () => {
    let now = 0
    const buckets = new TokenBuckets({
      requests: 2,
      per: 1000,
      burst: 4,
      maxClients: 10,
      now: () => now,
    })
    const taken = Array.from({ length: 5 }, () => buckets.take('a'))
    expect(taken.map((d) => d.allowed)).toEqual([true, true, true, true, false])
    expect(taken[0]).toMatchObject({ limit: 4, remaining: 3 })
    expect(taken[4]).toMatchObject({ remaining: 0, retryAfter: 1, reset: 2 })
    // Another client has its own bucket.
    expect(buckets.take('b').allowed).toBe(true)
    // Two requests per second: after 500 ms one token is back.
    now = 500
    expect(buckets.take('a').allowed).toBe(true)
    expect(buckets.take('a').allowed).toBe(false)
    now = 2500
    expect(buckets.take('a')).toMatchObject({ allowed: true, remaining: 3 })
  })

  it('keeps at most maxClients buckets, dropping the least recently used', () => {
    let now = 0
    const buckets = new TokenBuckets({
      requests: 1,
      per: 60_000,
      burst: 1,
      maxClients: 3,
      now: () => now,
    })
    for (let i = 0; i < 1000; i++) {
      now++
      buckets.take(`client-${i}`)
    }
    expect(buckets.size).toBeLessThanOrEqual(3)
    // The most recent clients are still limited.
    expect(buckets.take('client-999').allowed).toBe(false)
  })

  it('drops buckets that have refilled, since a fresh one behaves the same', () => {
    let now = 0
    const buckets = new TokenBuckets({
      requests: 10,
      per: 1000,
      burst: 10,
      maxClients: 1000,
      now: () => now,
    })
    for (let i = 0; i < 100; i++) buckets.take(`c${i}`)
    now = 10_000
    buckets.take('late')
    expect(buckets.size).toBe(1)
  })
})

describe('createAccessPolicy', () => {
  it('serves everyone when both lists are empty', () => {
    expect(createAccessPolicy({ allow: [], deny: [] })).toBe(undefined)
  })

  it('applies CIDR allow and deny lists, IPv4 and IPv6, deny first', () => {
    const allowed = createAccessPolicy({
      allow: ['10.0.0.0/8', 'fd00::/8'],
      deny: ['10.6.6.0/24', 'fd00::bad'],
    })!
    expect(allowed('10.1.2.3')).toBe(true)
    expect(allowed('::ffff:10.1.2.3')).toBe(true)
    expect(allowed('10.6.6.6')).toBe(false)
    expect(allowed('fd00::1')).toBe(true)
    expect(allowed('fd00::bad')).toBe(false)
    expect(allowed('192.168.1.1')).toBe(false)
    expect(allowed(undefined)).toBe(false)
    const denyOnly = createAccessPolicy({ allow: [], deny: ['2001:db8::/32'] })!
    expect(denyOnly('2001:db8::1')).toBe(false)
    expect(denyOnly('127.0.0.1')).toBe(true)
  })
})

describe('clientAddressOf', () => {
  const trusted = createAddressMatcher(['127.0.0.1', '10.0.0.0/8'])
  it('uses the peer unless it is a trusted proxy', () => {
    const headers = new Headers({ 'x-forwarded-for': '1.2.3.4' })
    expect(clientAddressOf('192.0.2.1', headers, trusted)).toBe('192.0.2.1')
    expect(clientAddressOf('127.0.0.1', headers, trusted)).toBe('1.2.3.4')
  })

  it('walks X-Forwarded-For or Forwarded from the right past trusted hops', () => {
    const xff = new Headers({ 'x-forwarded-for': '6.6.6.6, 1.2.3.4, 10.0.0.2' })
    expect(clientAddressOf('127.0.0.1', xff, trusted)).toBe('1.2.3.4')
    const fwd = new Headers({
      forwarded: 'for=6.6.6.6, for="[2001:db8::1]:4711";proto=https, for=10.0.0.2:80',
    })
    expect(clientAddressOf('127.0.0.1', fwd, trusted)).toBe('2001:db8::1')
    expect(forwardedFor('for=_hidden, For="1.2.3.4:80"')).toEqual(['_hidden', '1.2.3.4'])
    expect(clientAddressOf('127.0.0.1', new Headers({ forwarded: 'for=unknown' }), trusted)).toBe(
      '127.0.0.1',
    )
  })
})
