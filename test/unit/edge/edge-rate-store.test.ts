/**
 * The edge with a fleet-wide rate limit (`rateLimit.store`): its answer comes in a Promise, the
 * local limit's stays synchronous, the fields are the same, and a store that is down never
 * makes a 500.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig, type Config, type ConfigInput } from '../../../src/config.ts'
import { createEdge } from '../../../src/edge/edge.ts'
import type { RedisFactory, RedisLike } from '../../../src/redis-client.ts'
import type { Logger } from '../../../src/types.ts'

/** A Redis that runs the script's arithmetic for fresh buckets: `burst` per key, no refill. */
function fakeRedis(options: { down?: boolean } = {}) {
  const used = new Map<string, number>()
  const state = { opened: [] as string[], closed: 0, calls: 0, down: options.down ?? false }
  const factory: RedisFactory = (url) => {
    state.opened.push(url)
    const client: RedisLike = {
      async call(_command, args) {
        state.calls++
        if (state.down) throw new Error('connect ECONNREFUSED')
        const count = Number(args[1])
        const keys = args.slice(2, 2 + count) as string[]
        const [period, tolerance] = args.slice(2 + count, 4 + count).map(Number) as [number, number]
        const wanted = args.slice(4 + count).map(Number)
        const burst = Math.round(tolerance / period)
        return keys.flatMap((key, i) => {
          const before = used.get(key) ?? 0
          const allowed = Math.max(0, Math.min(wanted[i]!, burst - before))
          used.set(key, before + allowed)
          return [allowed, (before + allowed) * period * 1000]
        })
      },
      close: () => void state.closed++,
    }
    return client
  }
  return { factory, state }
}

function silent() {
  const lines: string[] = []
  const logger: Logger = {
    info: (msg) => lines.push(msg),
    warn: (msg) => lines.push(msg),
    error: (msg) => lines.push(msg),
  }
  return { logger, lines }
}

const get = (headers: Record<string, string> = {}) =>
  new Request('http://x/a', { headers: { host: 'x', ...headers } })
const ok = () => new Response('ok')

function edgeWith(input: ConfigInput, redis?: RedisFactory, members?: () => number) {
  let config: Config = parseConfig(input)
  const { logger, lines } = silent()
  const edge = createEdge({
    config: () => config,
    deps: { clientAddress: () => '192.0.2.1', redis },
    logger,
    members,
  })
  return { edge, lines, reload: (next: ConfigInput) => (config = parseConfig(next)) }
}

const fields = (response: Response) =>
  Object.fromEntries(
    [...response.headers].filter(
      ([name]) => name.startsWith('ratelimit') || name === 'retry-after',
    ),
  )

describe('the edge with a rate-limit store', () => {
  it('keeps the local limit synchronous', () => {
    const { edge } = edgeWith({ rateLimit: { requests: 2, burst: 2 } })
    const screened = edge.screen(get(), undefined)
    expect(screened).not.toBeInstanceOf(Promise)
    expect(screened).not.toBeInstanceOf(Response)
    // Nothing to wait for behind it either: a synchronous answer stays synchronous.
    expect(edge.handle(get(), undefined, ok)).toBeInstanceOf(Response)
  })

  it('answers in a Promise with the same RateLimit fields as the local limit', async () => {
    const redis = fakeRedis()
    const remote = edgeWith(
      { rateLimit: { requests: 2, burst: 2, store: 'redis://127.0.0.1:6390/2' } },
      redis.factory,
    )
    const local = edgeWith({ rateLimit: { requests: 2, burst: 2 } })
    expect(remote.edge.screen(get(), undefined)).toBeInstanceOf(Promise)
    // (the screen above took a token: take one locally as well)
    local.edge.screen(get(), undefined)
    const [r1, r2] = [
      await remote.edge.handle(get(), undefined, ok),
      await remote.edge.handle(get(), undefined, ok),
    ]
    const [l1, l2] = [
      await local.edge.handle(get(), undefined, ok),
      await local.edge.handle(get(), undefined, ok),
    ]
    expect([r1.status, r2.status]).toEqual([200, 429])
    expect(fields(r1)).toEqual(fields(l1))
    expect(fields(r2)).toEqual(fields(l2))
    expect(fields(r2)).toEqual({
      'ratelimit-limit': '2',
      'ratelimit-policy': '2;w=1',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '1',
      'retry-after': '1',
    })
    expect(redis.state.opened).toEqual(['redis://127.0.0.1:6390/2'])
  })

  it('refuses bad input after the store has decided, with its fields', async () => {
    const redis = fakeRedis()
    const { edge } = edgeWith(
      { rateLimit: { requests: 5, store: 'redis://127.0.0.1:6390' } },
      redis.factory,
    )
    const refused = await edge.handle(get({ host: 'a b' }), undefined, ok)
    expect(refused.status).toBe(400)
    expect(refused.headers.get('ratelimit-remaining')).toBe('4')
  })

  it('falls back to limit ÷ members when Redis is down, and never answers 500', async () => {
    const redis = fakeRedis({ down: true })
    const { edge, lines } = edgeWith(
      { rateLimit: { requests: 60, store: 'redis://:secret@127.0.0.1:6390', members: 3 } },
      redis.factory,
    )
    const statuses: number[] = []
    for (let i = 0; i < 30; i++) statuses.push((await edge.handle(get(), undefined, ok)).status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(20)
    expect(statuses.filter((s) => s === 429)).toHaveLength(10)
    const last = await edge.handle(get(), undefined, ok)
    expect(last.headers.get('ratelimit-limit')).toBe('20')
    expect(lines).toEqual(['rate-limit store unreachable: onStoreDown local'])
  })

  it('deny and allow decide while the store is down', async () => {
    const deny = edgeWith(
      { rateLimit: { requests: 60, store: 'redis://127.0.0.1:6390', onStoreDown: 'deny' } },
      fakeRedis({ down: true }).factory,
    )
    expect((await deny.edge.handle(get(), undefined, ok)).status).toBe(429)
    const allow = edgeWith(
      { rateLimit: { requests: 1, store: 'redis://127.0.0.1:6390', onStoreDown: 'allow' } },
      fakeRedis({ down: true }).factory,
    )
    for (let i = 0; i < 5; i++) {
      expect((await allow.edge.handle(get(), undefined, ok)).status).toBe(200)
    }
  })

  it('applies onStoreDown where the runtime has no Redis client', async () => {
    const { edge, lines } = edgeWith({
      rateLimit: { requests: 1, store: 'redis://127.0.0.1:6390', onStoreDown: 'deny' },
    })
    expect((await edge.handle(get(), undefined, ok)).status).toBe(429)
    expect(lines[0]).toBe('rateLimit.store: this runtime has no Redis client')
  })

  it('prefers the live member count to the configured one', async () => {
    const { edge } = edgeWith(
      { rateLimit: { requests: 60, store: 'redis://127.0.0.1:6390', members: 3 } },
      fakeRedis({ down: true }).factory,
      () => 4,
    )
    expect((await edge.handle(get(), undefined, ok)).headers.get('ratelimit-limit')).toBe('15')
  })

  it('takes its share in a fleet without a store, synchronously', () => {
    const { edge } = edgeWith({ rateLimit: { requests: 60 } }, undefined, () => 3)
    const answers = Array.from({ length: 21 }, () => edge.screen(get(), undefined))
    expect(answers.some((a) => a instanceof Promise)).toBe(false)
    expect(answers.filter((a) => a instanceof Response).map((a) => (a as Response).status)).toEqual(
      [429],
    )
  })

  it('keeps the connection across reloads that keep the URL, and closes it when it goes', async () => {
    const redis = fakeRedis()
    const { edge, reload } = edgeWith(
      { rateLimit: { requests: 5, store: 'redis://127.0.0.1:6390' } },
      redis.factory,
    )
    await edge.handle(get(), undefined, ok)
    reload({ rateLimit: { requests: 10, store: 'redis://127.0.0.1:6390' } })
    await edge.handle(get(), undefined, ok)
    expect(redis.state.opened).toHaveLength(1)
    reload({ rateLimit: { requests: 10, store: 'redis://127.0.0.1:6391' } })
    await edge.handle(get(), undefined, ok)
    expect(redis.state.opened).toEqual(['redis://127.0.0.1:6390', 'redis://127.0.0.1:6391'])
    expect(redis.state.closed).toBe(1)
    reload({ rateLimit: { requests: 10 } })
    expect(edge.handle(get(), undefined, ok)).toBeInstanceOf(Response)
    expect(redis.state.closed).toBe(2)
    edge.close()
  })
})

describe('rateLimit.store in the config', () => {
  it('takes redis URLs with a port, a database and credentials', () => {
    for (const store of [
      'redis://127.0.0.1',
      'redis://127.0.0.1:6379',
      'redis://127.0.0.1:6379/0',
      'redis://user:pw@redis.internal:6380/15',
      'rediss://[::1]:6379',
    ]) {
      expect(parseConfig({ rateLimit: { requests: 1, store } }).rateLimit?.store).toBe(store)
    }
  })

  it('refuses anything else, naming the field', () => {
    for (const store of ['http://127.0.0.1:6379', 'redis://', 'redis://h:1/x', '127.0.0.1:6379']) {
      expect(() => parseConfig({ rateLimit: { requests: 1, store } })).toThrow(
        /rateLimit\.store: Expected redis:\/\/host\[:port\]\[\/db\]/,
      )
    }
  })

  it('defaults onStoreDown to local and members to 1', () => {
    expect(parseConfig({ rateLimit: { requests: 1 } }).rateLimit).toMatchObject({
      onStoreDown: 'local',
      members: 1,
    })
    expect(() => parseConfig({ rateLimit: { requests: 1, onStoreDown: 'open' } })).toThrow(
      /rateLimit\.onStoreDown/,
    )
  })
})
