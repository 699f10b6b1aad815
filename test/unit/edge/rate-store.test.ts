import { describe, expect, it } from 'vitest'
import { TokenBuckets } from '../../../src/edge/rate-limit.ts'
import {
  FallbackRateStore,
  LocalShare,
  type RateDecision,
  type RateStore,
  type StoreDownPolicy,
} from '../../../src/edge/rate-store.ts'
import type { Logger } from '../../../src/types.ts'

const spec = { requests: 60, per: 1000, burst: 60 }
const ALLOWED: RateDecision = { allowed: true, limit: 60, remaining: 59, reset: 1, retryAfter: 0 }

/** A store that answers ALLOWED in a Promise, or fails while `down` (as Redis does). */
function fakeStore() {
  const store = {
    down: false,
    calls: 0,
    take(): Promise<RateDecision> {
      store.calls++
      return store.down ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve(ALLOWED)
    },
  }
  return store
}

function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = []
  const logger: Logger = {
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  }
  return { logger, lines }
}

function setup(policy: StoreDownPolicy, members = () => 3) {
  const clock = { now: 0 }
  const remote = fakeStore()
  const { logger, lines } = recordingLogger()
  const store = new FallbackRateStore(remote, {
    spec,
    policy,
    members,
    name: 'redis://127.0.0.1:6379',
    logger,
    now: () => clock.now,
  })
  return { clock, remote, store, lines }
}

/** Take `n` tokens for `key`, answers in order. */
async function takeMany(store: RateStore, key: string, n: number): Promise<RateDecision[]> {
  const answers: RateDecision[] = []
  for (let i = 0; i < n; i++) answers.push(await store.take(key))
  return answers
}

describe('TokenBuckets as a RateStore', () => {
  it('answers at once, never in a Promise', () => {
    const store: RateStore = new TokenBuckets({ ...spec, maxClients: 10 })
    const decision = store.take('ip:192.0.2.1')
    expect(decision).not.toBeInstanceOf(Promise)
    expect(decision).toMatchObject({ allowed: true, limit: 60, remaining: 59 })
  })
})

describe('LocalShare', () => {
  it('gives this instance limit ÷ members, following the count as it changes', () => {
    let members = 3
    let now = 0
    const share = new LocalShare(
      spec,
      () => members,
      100,
      () => now,
    )
    const taken = Array.from({ length: 21 }, () => share.take('k'))
    expect(taken.filter((d) => d.allowed)).toHaveLength(20)
    expect(taken[0]).toMatchObject({ limit: 20, remaining: 19 })
    // 20 per second: a token every 50 ms.
    now = 50
    expect(share.take('k').allowed).toBe(true)
    expect(share.take('k').allowed).toBe(false)
    members = 1
    expect(share.take('k')).toMatchObject({ allowed: true, limit: 60 })
    // A burst of at least one, however large the fleet.
    members = 1000
    expect(share.take('k')).toMatchObject({ allowed: true, limit: 1 })
  })
})

describe('FallbackRateStore', () => {
  it("passes the store's answers through while it is up, and logs nothing", async () => {
    const { remote, store, lines } = setup('local')
    expect(await store.take('k')).toEqual(ALLOWED)
    expect(remote.calls).toBe(1)
    expect(lines).toEqual([])
  })

  it('keeps a synchronous store synchronous', () => {
    const store = new FallbackRateStore(new TokenBuckets({ ...spec, maxClients: 10 }), {
      spec,
      policy: 'deny',
      name: 'local',
    })
    expect(store.take('k')).toMatchObject({ allowed: true })
  })

  it('local: each instance takes limit ÷ members while the store is down', async () => {
    const { clock, remote, store, lines } = setup('local')
    remote.down = true
    // 60 per second and a burst of 60 over 3 members: a burst of 20, then 20 per second.
    const answers = await takeMany(store, 'k', 25)
    expect(answers.map((a) => a.allowed)).toEqual([
      ...Array<boolean>(20).fill(true),
      ...Array<boolean>(5).fill(false),
    ])
    expect(answers[0]).toMatchObject({ limit: 20, remaining: 19 })
    expect(answers[20]).toMatchObject({ allowed: false, remaining: 0, retryAfter: 1 })
    // Logged once, with the policy and the share.
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'rate-limit store unreachable: onStoreDown local',
        fields: {
          store: 'redis://127.0.0.1:6379',
          policy: 'local',
          members: 3,
          reason: 'ECONNREFUSED',
        },
      },
    ])
    // While it is down the store is not asked (until the backoff has passed)…
    expect(remote.calls).toBe(1)
    // …and tokens come back at a third of the rate: 20 per second, one every 50 ms.
    clock.now = 50
    expect((await store.take('k2')).allowed).toBe(true)
  })

  it('starts a fallback from what this instance used, not from a full bucket', async () => {
    const { clock, remote, store } = setup('local')
    // The store lets 15 through; the local share (20) follows: 5 left.
    await takeMany(store, 'k', 15)
    remote.down = true
    const answers = await takeMany(store, 'k', 8)
    expect(answers.map((a) => a.allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ])
    // A client this instance has not seen has its whole share.
    expect((await takeMany(store, 'other', 20)).every((a) => a.allowed)).toBe(true)
    // The shares survive the store's return: a blink does not refill them. 150 ms at 20 per
    // second bring 3 tokens back, and the request through the store took one.
    clock.now = 100
    remote.down = false
    await store.take('k')
    remote.down = true
    clock.now = 150
    expect((await takeMany(store, 'k', 3)).map((a) => a.allowed)).toEqual([true, true, false])
  })

  it('follows the member count as it changes', async () => {
    let members = 2
    const { remote, store } = setup('local', () => members)
    remote.down = true
    expect((await store.take('k')).limit).toBe(30)
    members = 4
    expect((await store.take('k')).limit).toBe(15)
    // Nonsense counts as one member.
    members = 0
    expect((await store.take('k')).limit).toBe(60)
  })

  it('tries the store again after a backoff, one request at a time, and logs its return once', async () => {
    const { clock, remote, store, lines } = setup('local')
    remote.down = true
    await store.take('k')
    expect(store.down).toBe(true)
    expect(remote.calls).toBe(1)
    clock.now = 99
    await store.take('k')
    expect(remote.calls).toBe(1)
    // After 100 ms one request tries it; the others meanwhile are answered locally.
    clock.now = 100
    const probe = store.take('k')
    const other = store.take('k')
    expect(other).not.toBeInstanceOf(Promise)
    await probe
    expect(remote.calls).toBe(2)
    // Still down: the wait doubles (200 ms).
    clock.now = 299
    await store.take('k')
    expect(remote.calls).toBe(2)
    clock.now = 300
    remote.down = false
    expect(await store.take('k')).toEqual(ALLOWED)
    expect(store.down).toBe(false)
    expect(remote.calls).toBe(3)
    // Up again: every request goes to the store.
    await store.take('k')
    expect(remote.calls).toBe(4)
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'rate-limit store unreachable: onStoreDown local'],
      ['info', 'rate-limit store reachable again: the limit is fleet-wide'],
    ])
  })

  it('caps the backoff at 2 s', async () => {
    const { clock, remote, store } = setup('allow')
    remote.down = true
    await store.take('k')
    for (let i = 0; i < 10; i++) {
      clock.now += 2000
      await store.take('k')
    }
    expect(remote.calls).toBe(11)
  })

  it('allow: lets every request through, as a fresh bucket would answer', async () => {
    const { remote, store } = setup('allow')
    remote.down = true
    const answers = await takeMany(store, 'k', 200)
    expect(answers.every((a) => a.allowed)).toBe(true)
    expect(answers[0]).toEqual({ allowed: true, limit: 60, remaining: 59, reset: 1, retryAfter: 0 })
  })

  it('deny: refuses every request, with Retry-After', async () => {
    const { remote, store } = setup('deny')
    remote.down = true
    const answers = await takeMany(store, 'k', 5)
    expect(answers.every((a) => !a.allowed)).toBe(true)
    expect(answers[0]).toMatchObject({ limit: 60, remaining: 0, retryAfter: 1 })
  })

  it('never throws: a store that throws at once counts as down', async () => {
    const { logger, lines } = recordingLogger()
    const store = new FallbackRateStore(
      {
        take() {
          throw new Error('no client')
        },
      },
      { spec, policy: 'deny', name: 'x', logger },
    )
    expect(store.take('k')).toMatchObject({ allowed: false })
    expect(lines).toHaveLength(1)
  })

  it('logs one transition when a whole batch of requests fails together', async () => {
    const { remote, store, lines } = setup('local')
    remote.down = true
    const answers = await Promise.all(Array.from({ length: 50 }, () => store.take('k')))
    expect(answers.filter((a) => a.allowed)).toHaveLength(20)
    expect(lines).toHaveLength(1)
  })
})
