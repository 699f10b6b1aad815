/**
 * Fleet-wide rate limits in Redis (issue 14, point 4 and its "Done when"), with a real
 * `redis-server` that the test starts, stops and starts again on a free loopback port.
 *
 * - The store alone, on Node, through the runtime's client (runtimes/start/redis.ts): the Lua
 *   script answers the exact sequence the local buckets answer, its keys expire once full, a
 *   burst of concurrent requests costs a few round trips, and a Redis that hangs (SIGSTOP) is
 *   given up after the 100 ms timeout.
 * - Three fulcrum instances, one per runtime (Node's dist/node.js, Deno with deno.json's task
 *   flags, Bun), with one limit of 60 requests per second (burst 60) keyed by client address,
 *   all from 127.0.0.1 so one bucket, and `members: 3`. The load is 300 requests per second spread
 *   evenly over the three (five times the limit), for 1.5 s to empty the bucket, then 4 s
 *   measured; requests count by when they were sent. A run in which an answer took over 1 s (the
 *   machine stalled) is run again, up to 3 times. None answers anything but 200 or 429.
 *   - With Redis: 60 ± 10% per second let through, over all three together.
 *   - Redis stopped: each instance logs the store unreachable once and lets through its share,
 *     20 ± 15% per second (60 ÷ 3 members, burst 20).
 *   - Redis started again (empty, without the script: EVALSHA's NOSCRIPT path): each logs it
 *     reachable again within a few seconds, and the limit is 60 ± 10% per second again; each
 *     instance logged every change once (down, up, down, up…).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { connect as connectTcp, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { connectRedis } from '../../runtimes/start/redis.ts'
import { TokenBuckets } from '../../src/edge/rate-limit.ts'
import { FallbackRateStore } from '../../src/edge/rate-store.ts'
import { RedisRateStore } from '../../src/edge/redis-rate.ts'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const REDIS_SERVER = (process.env.PATH ?? '')
  .split(':')
  .map((dir) => join(dir, 'redis-server'))
  .find((path) => existsSync(path))

/** A port free on 127.0.0.1 now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Whether Redis on `port` answers PING. */
function pings(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1')
    let reply = ''
    socket.setTimeout(500, () => socket.destroy())
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      reply += chunk.toString('latin1')
      if (reply.includes('\r\n')) socket.end()
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(reply.startsWith('+PONG')))
  })
}

/** `redis-server` on 127.0.0.1:`port`, without persistence, started and stopped by the test. */
class RedisServer {
  #child: ChildProcess | undefined
  #exited: Promise<unknown> = Promise.resolve()
  constructor(readonly port: number) {}

  get pid(): number {
    return this.#child!.pid!
  }

  async start(): Promise<void> {
    const child = spawn(
      REDIS_SERVER!,
      [
        ...['--port', String(this.port), '--bind', '127.0.0.1', '--save', ''],
        ...['--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'],
      ],
      { stdio: 'ignore' },
    )
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('exit', resolve))
    const deadline = Date.now() + 10_000
    while (!(await pings(this.port))) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${this.port}`)
      await sleep(50)
    }
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await this.#exited
  }
}

/** One request's outcome. */
interface Sent {
  instance: number
  /** When it was sent, in ms from the start of the load. */
  at: number
  status: number
  /** How long it took to answer, in ms. */
  took: number
  /** Why there was no answer (status 0). */
  error?: string
}

/**
 * `perSecond` requests per second spread evenly over `urls` (in turn), for `ms` or until `done()`:
 * open loop, 10 ms ticks. Resolves with every outcome once all have answered (status 0: none).
 */
async function spreadLoad(
  urls: readonly string[],
  perSecond: number,
  ms: number,
  done: () => boolean = () => false,
): Promise<Sent[]> {
  const sent: Promise<Sent>[] = []
  const start = performance.now()
  let next = 0
  for (let tick = 0; performance.now() - start < ms && !done(); tick++) {
    // Catch up on whatever the ticks so far should have sent.
    const due = Math.floor(((performance.now() - start) * perSecond) / 1000)
    while (sent.length < due) {
      const instance = next++ % urls.length
      const at = performance.now() - start
      sent.push(
        // Once more on a connection closed under it: the keep-alive race that clients retry
        // idempotent requests on (fulcrum closes a connection idle for 5 s, undici reuses one
        // idle up to 4 s, and a stalled machine blurs the two).
        fetchRetrying(`${urls[instance]}/r`)
          .then(async (response) => {
            await response.arrayBuffer()
            return { instance, at, status: response.status, took: performance.now() - start - at }
          })
          .catch((error: Error) => ({
            instance,
            at,
            status: 0,
            took: performance.now() - start - at,
            error: `${error.cause ?? error} (instance ${instance}, at ${Math.round(at)} ms)`,
          })),
      )
    }
    await sleep(Math.max(0, start + (tick + 1) * 10 - performance.now()))
  }
  return Promise.all(sent)
}

/** `fetch`, once more when the connection broke before any answer. */
function fetchRetrying(url: string): Promise<Response> {
  return fetch(url).catch((error: Error) => {
    if (!/other side closed|ECONNRESET/.test(String(error.cause ?? error))) throw error
    return fetch(url)
  })
}

/** Requests let through per second in [from, to) ms, in all and per instance. */
function rates(sent: readonly Sent[], from: number, to: number, instances: number) {
  const seconds = (to - from) / 1000
  const inWindow = sent.filter((s) => s.at >= from && s.at < to && s.status === 200)
  const each = Array.from(
    { length: instances },
    (_, i) => inWindow.filter((s) => s.instance === i).length / seconds,
  )
  // Per whole second, for the report.
  const bins = Array.from(
    { length: Math.floor(seconds) },
    (_, i) =>
      inWindow.filter((s) => s.at >= from + i * 1000 && s.at < from + (i + 1) * 1000).length,
  )
  const slowest = Math.round(Math.max(...sent.map((s) => s.took)))
  const errors = [...new Set(sent.flatMap((s) => (s.error ? [s.error] : [])))]
  return { total: inWindow.length / seconds, each, bins, slowest, errors }
}

/**
 * The spread load, warm-up then measured window: the outcomes and the figures of the first run
 * without a stall (or of the last run).
 */
async function measure(urls: readonly string[], label: string, report: string[]) {
  for (let attempt = 1; ; attempt++) {
    const sent = await spreadLoad(urls, LOAD, WARM_MS + MEASURE_MS)
    const figures = rates(sent, WARM_MS, WARM_MS + MEASURE_MS, urls.length)
    const stalled = figures.slowest > STALL_MS
    report.push(describeRates(`${label}${stalled ? ' (stalled, again)' : ''}`, figures))
    if (!stalled || attempt === ATTEMPTS) return { sent, ...figures }
  }
}

/** One line of figures for the report. */
function describeRates(label: string, r: ReturnType<typeof rates>): string {
  return (
    `${label}: ${r.total}/s (each ${r.each.join(', ')}; per second ${r.bins.join(', ')};` +
    ` slowest answer ${r.slowest} ms${r.errors.length ? `; errors ${r.errors.join(', ')}` : ''})`
  )
}

const statusesOf = (sent: readonly Sent[]) => [...new Set(sent.map((s) => s.status))].sort()

const LIMIT = 60
const LOAD = 300
const WARM_MS = 1500
const MEASURE_MS = 4000
/**
 * An answer slower than this means the machine stalled (a shared 2-core machine does, for seconds
 * at a time): requests sent before the stall are then decided after it, on tokens from outside
 * the window, and the count no longer measures the limiter. Such a run is repeated.
 */
const STALL_MS = 1000
const ATTEMPTS = 3

if (!REDIS_SERVER) {
  it.skip('fleet-wide rate limits: skipped, redis-server is not installed (apt-get install redis-server)', () => {})
} else {
  let redis: RedisServer
  beforeAll(async () => {
    redis = new RedisServer(await freePort())
    await redis.start()
  })
  afterAll(async () => {
    await redis?.stop()
  })

  describe('the Redis store, on Node', () => {
    it('answers the same sequence as the local buckets, with keys that expire once full', async () => {
      const client = connectRedis(`redis://127.0.0.1:${redis.port}/3`, { timeout: 100 })
      try {
        // Two per second, a burst of 4: as TokenBuckets in edge-limits.test.ts.
        const spec = { requests: 2, per: 1000, burst: 4 }
        const store = new RedisRateStore({ redis: client, spec, prefix: 'test:seq:' })
        const local = new TokenBuckets({ ...spec, maxClients: 10 })
        const remote = []
        for (let i = 0; i < 5; i++) remote.push(await store.take('a'))
        const expected = Array.from({ length: 5 }, () => local.take('a'))
        expect(remote).toEqual(expected)
        expect(remote.map((d) => d.allowed)).toEqual([true, true, true, true, false])
        // The key lives until the bucket is full again: 2 s from empty.
        const ttl = Number(await client.call('PTTL', ['test:seq:a']))
        expect(ttl).toBeGreaterThan(1500)
        expect(ttl).toBeLessThanOrEqual(2000)
        // A token every 500 ms.
        await sleep(550)
        expect((await store.take('a')).allowed).toBe(true)
        expect((await store.take('a')).allowed).toBe(false)
        // Another client has its own key.
        expect(await store.take('b')).toMatchObject({ allowed: true, remaining: 3 })
      } finally {
        client.close()
      }
    })

    it('takes a burst of concurrent requests in a few round trips, exactly', async () => {
      const client = connectRedis(`redis://127.0.0.1:${redis.port}/3`, { timeout: 100 })
      try {
        const store = new RedisRateStore({
          redis: client,
          spec: { requests: 100, per: 60_000, burst: 100 },
          prefix: 'test:burst:',
        })
        await store.take('warm')
        const before = store.roundTrips
        const answers = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => store.take(`k${i % 5}`)),
        )
        // 5 clients × 100 tokens: exactly 500 let through, in one round trip.
        expect(answers.filter((d) => d.allowed)).toHaveLength(500)
        expect(store.roundTrips - before).toBe(1)
      } finally {
        client.close()
      }
    })

    it('gives a hung Redis up after 100 ms, falls back, and comes back when it does', async () => {
      const client = connectRedis(`redis://127.0.0.1:${redis.port}/3`, { timeout: 100 })
      const spec = { requests: 60, per: 1000, burst: 60 }
      const logged: string[] = []
      const store = new FallbackRateStore(
        new RedisRateStore({ redis: client, spec, prefix: 'test:hung:' }),
        {
          spec,
          policy: 'local',
          members: () => 3,
          name: 'redis',
          logger: {
            info: (msg) => logged.push(msg),
            warn: (msg) => logged.push(msg),
            error: (msg) => logged.push(msg),
          },
        },
      )
      try {
        expect((await store.take('a')).limit).toBe(60)
        process.kill(redis.pid, 'SIGSTOP')
        const started = performance.now()
        const decision = await store.take('a')
        const waited = performance.now() - started
        expect(decision).toMatchObject({ allowed: true, limit: 20 })
        expect(waited).toBeGreaterThanOrEqual(95)
        expect(waited).toBeLessThan(400)
        // Down: answered at once from the local share.
        expect(store.take('a')).not.toBeInstanceOf(Promise)
        process.kill(redis.pid, 'SIGCONT')
        let back = false
        for (let i = 0; i < 60 && !back; i++) {
          await sleep(100)
          back = (await store.take('a')).limit === 60
        }
        expect(back).toBe(true)
        expect(logged).toEqual([
          'rate-limit store unreachable: onStoreDown local',
          'rate-limit store reachable again: the limit is fleet-wide',
        ])
      } finally {
        process.kill(redis.pid, 'SIGCONT')
        client.close()
      }
    })
  })

  describe('three instances, one per runtime, share one limit', () => {
    let dir: string
    let backend: TestBackend
    let fleet: FulcrumProcess[] = []
    const report: string[] = []

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'fulcrum-rl-redis-'))
      backend = await startBackend('b')
      const config = join(dir, 'fleet.json')
      writeFileSync(
        config,
        JSON.stringify({
          rateLimit: {
            requests: LIMIT,
            per: '1s',
            burst: LIMIT,
            store: `redis://127.0.0.1:${redis.port}/1`,
            // The fleet's size for the local share while Redis is down (no etcd here).
            members: 3,
          },
        }),
      )
      fleet = await Promise.all(
        RUNTIMES.map((runtime) =>
          startFulcrum(runtime, ['--backend', backend.url, '--config', config, '--no-admin']),
        ),
      )
    })

    afterAll(async () => {
      await Promise.all(fleet.map((f) => f.stop()))
      await backend?.close()
      rmSync(dir, { recursive: true, force: true })
      for (const [i, f] of fleet.entries()) {
        const lines = f
          .logs()
          .filter((l) => l.msg.startsWith('rate-limit store') || l.level === 'error')
        report.push(
          `${RUNTIMES[i]}: ${lines.map((l) => `${l.time} ${l.msg} ${l.error ?? l.reason ?? ''}`).join(' | ')}`,
        )
      }
      console.log(`rate-limit-redis figures:\n${report.join('\n')}`)
    })

    const urls = () => fleet.map((f) => f.url)
    /**
     * An instance's transitions so far, `down` or `up`, in time order (warnings and the rest come
     * on two pipes, which may arrive out of order).
     */
    const transitions = (f: FulcrumProcess) =>
      f
        .logs()
        .filter((l) => l.msg.startsWith('rate-limit store'))
        .sort((a, b) => String(a.time).localeCompare(String(b.time)))
        .map((l) => (l.msg.startsWith('rate-limit store unreachable') ? 'down' : 'up'))
    const stateOf = (f: FulcrumProcess) => transitions(f).at(-1) ?? 'up'

    it(`lets through ${LIMIT} ± 10% per second of a load spread over all three`, async () => {
      const { sent, total } = await measure(urls(), 'with Redis', report)
      expect(statusesOf(sent)).toEqual([200, 429])
      expect(total).toBeGreaterThanOrEqual(LIMIT * 0.9)
      expect(total).toBeLessThanOrEqual(LIMIT * 1.1)
    })

    it('with Redis stopped, each lets through about a third, and none answers 500', async () => {
      await redis.stop()
      const before = fleet.map((f) => transitions(f).length)
      const wasDown = fleet.map((f) => stateOf(f) === 'down')
      const { sent, each } = await measure(urls(), 'Redis stopped', report)
      expect(statusesOf(sent)).toEqual([200, 429])
      for (const rate of each) {
        expect(rate).toBeGreaterThanOrEqual((LIMIT / 3) * 0.85)
        expect(rate).toBeLessThanOrEqual((LIMIT / 3) * 1.15)
      }
      // Each logged it once (unless it was down already), and tried again in vain.
      for (const [i, f] of fleet.entries()) {
        expect(stateOf(f)).toBe('down')
        expect(transitions(f).slice(before[i])).toEqual(wasDown[i] ? [] : ['down'])
      }
      const warning = fleet[0]!.logs().findLast((l) => l.msg.includes('unreachable'))
      expect(warning).toMatchObject({
        level: 'warn',
        msg: 'rate-limit store unreachable: onStoreDown local',
        policy: 'local',
        members: 3,
      })
    })

    it('with Redis back, the limit is global again', async () => {
      await redis.start()
      // A light load until every instance has tried Redis again and logged it back.
      const started = performance.now()
      let back = false
      const light = spreadLoad(urls(), 30, 10_000, () => back)
      await Promise.all(fleet.map((f) => f.waitForLog(() => stateOf(f) === 'up', 10_000)))
      back = true
      report.push(
        `Redis back: every instance logged it within ${Math.round(performance.now() - started)} ms`,
      )
      expect(statusesOf(await light).filter((s) => s !== 200 && s !== 429)).toEqual([])
      const { sent, total } = await measure(urls(), 'Redis back', report)
      expect(statusesOf(sent)).toEqual([200, 429])
      expect(total).toBeGreaterThanOrEqual(LIMIT * 0.9)
      expect(total).toBeLessThanOrEqual(LIMIT * 1.1)
      // Each transition was logged once: down, up, down, up…
      for (const f of fleet) {
        const seen = transitions(f)
        expect(seen.length).toBeGreaterThanOrEqual(2)
        seen.forEach((state, i) => expect(state).toBe(i % 2 === 0 ? 'down' : 'up'))
      }
    })
  })
}
