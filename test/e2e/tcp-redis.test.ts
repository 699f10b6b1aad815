/**
 * Layer 4 in front of Redis (issue 13, "Done when"): two real `redis-server`s on loopback behind
 * one fulcrum TCP listener per runtime (Node's dist/node.js, Deno with deno.json's task flags,
 * Bun), round-robin, `tcp` checks every second with fall 2.
 *
 * - `redis-benchmark -q -n 20000 -c 20` through fulcrum completes, and its connections are spread
 *   over both servers: each takes 40 % to 60 % of them (fulcrum's per-backend connection
 *   counters; round-robin alternates, so about half).
 * - Kill one (SIGKILL) under load: a keep-alive `redis-benchmark` and two loops of fresh
 *   connections run through the kill. Once its check has taken it down (the fall window), every
 *   new connection of the loops succeeds, all on the other server; a `redis-benchmark -k 0`
 *   (a new connection per request) completes after it. Restarted, it rejoins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RUNTIMES } from '../helpers/fulcrum.ts'
import {
  redisCommand,
  redisMissing,
  run,
  startRedis,
  connectionLoops,
  startTcpFulcrum,
  until,
  which,
  type RedisInstance,
  type TcpFulcrum,
} from '../helpers/tcp-servers.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const INTERVAL_MS = 1000
const FALL = 2
const REQUESTS = 20_000

type View = { id: string; state: string; healthy: boolean }

const missing = redisMissing()

if (missing) {
  it.skip(`Redis behind fulcrum: skipped, ${missing}`, () => {})
} else {
  let redis: Record<'a' | 'b', RedisInstance>

  beforeAll(async () => {
    const [a, b] = await Promise.all([startRedis(), startRedis()])
    redis = { a, b }
  })
  afterAll(async () => {
    await Promise.all(Object.values(redis ?? {}).map((server) => server.stop()))
  })

  describe.each(RUNTIMES)('Redis behind a TCP listener on %s', (runtime) => {
    let fulcrum: TcpFulcrum
    let port: number
    const ids = { a: 'redis-a', b: 'redis-b' }

    const views = async () =>
      (await fulcrum.admin<{ backends: View[] }>('GET', '/pools/redis/backends')).body.backends
    /** One fresh connection through fulcrum: the port of the server that answered. */
    const serverPort = async () => {
      const reply = (await redisCommand(port, ['CONFIG', 'GET', 'port'])) as string[]
      return Number(reply[1])
    }
    /** fulcrum's count of connections relayed to each backend so far. */
    const relayed = async () => {
      const text = (await fulcrum.admin<string>('GET', '/metrics')).body
      const count = (id: string) =>
        Number(
          new RegExp(
            `^fulcrum_tcp_backend_connections_total\\{pool="redis",backend="${id}"\\} (\\d+)`,
            'm',
          ).exec(text)?.[1] ?? 0,
        )
      return { a: count(ids.a), b: count(ids.b) }
    }
    const benchmark = (args: readonly string[], signal?: AbortSignal) =>
      run(which('redis-benchmark')!, ['-h', '127.0.0.1', '-p', String(port), ...args], { signal })

    beforeAll(async () => {
      fulcrum = await startTcpFulcrum(runtime, {
        pools: {
          redis: {
            backends: [
              { url: redis.a.url, id: ids.a },
              { url: redis.b.url, id: ids.b },
            ],
            healthCheck: { type: 'tcp', interval: `${INTERVAL_MS}ms`, fall: FALL, rise: 2 },
          },
        },
        tcp: [
          {
            name: 'redis',
            listen: { host: '127.0.0.1', port: 0 },
            pool: 'redis',
            idleTimeout: '10m',
          },
        ],
      })
      port = fulcrum.ports.get('redis')!
      await until(async () => (await views()).every((v) => v.state === 'up'), 'both up')
    })
    afterAll(async () => {
      await fulcrum?.stop()
      // A kill test that failed half-way leaves its victim down: the next runtime needs both.
      for (const server of Object.values(redis ?? {})) if (!server.running()) await server.restart()
    })

    it(`completes redis-benchmark -q -n ${REQUESTS} -c 20, spread over both`, async () => {
      const before = await relayed()
      const result = await benchmark([
        '-q',
        '-n',
        String(REQUESTS),
        '-c',
        '20',
        '-t',
        'ping,set,get',
      ])
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0)
      // One line per test: "SET: 41152.26 requests per second, p50=0.255 msec".
      const rates = [...result.stdout.matchAll(/^(\S+): ([\d.]+) requests per second/gm)]
      expect(rates.map((m) => m[1])).toEqual(['PING_INLINE', 'PING_MBULK', 'SET', 'GET'])
      for (const rate of rates) expect(Number(rate[2])).toBeGreaterThan(0)
      expect(result.stderr).not.toMatch(/error/i)
      const after = await relayed()
      const a = after.a - before.a
      const b = after.b - before.b
      // 20 connections per test (4 tests), and one more for its CONFIG GET: about 81.
      expect(a + b).toBeGreaterThanOrEqual(80)
      expect(a / (a + b)).toBeGreaterThanOrEqual(0.4)
      expect(b / (a + b)).toBeGreaterThanOrEqual(0.4)
    })

    it('kills one under load: new connections keep working on the other', async () => {
      const victim = redis.a
      const survivor = redis.b
      // The load: keep-alive benchmarks, one after the other until the end. The one running at
      // the kill loses its connections to the victim ("Server closed the connection"); the next
      // ones, started after the kill, must only stop when told to.
      const stopLoad = new AbortController()
      const runs: { at: number; code: number | null; stderr: string }[] = []
      const load = (async () => {
        while (!stopLoad.signal.aborted) {
          const at = Date.now()
          const args = ['-q', '-n', '10000000', '-c', '20', '-t', 'set']
          const { code, stderr } = await benchmark(args, stopLoad.signal)
          runs.push({ at, code, stderr })
        }
      })()
      const { attempts, stop } = connectionLoops(serverPort)
      let downAt = 0
      let killedAt = 0
      try {
        await sleep(500)
        killedAt = Date.now()
        await victim.kill()
        await until(
          async () => !(await views()).find((v) => v.id === ids.a)!.healthy,
          'the killed server down',
          10_000,
        )
        downAt = Date.now()
        expect(downAt - killedAt).toBeLessThanOrEqual((FALL + 2) * INTERVAL_MS * 1.1 + 1000)
        await sleep(2000)
      } finally {
        stopLoad.abort()
        await Promise.all([stop(), load])
      }
      const after = attempts.filter((a) => a.at >= downAt)
      expect(attempts.filter((a) => a.at < downAt).length).toBeGreaterThan(0)
      expect(after.length).toBeGreaterThanOrEqual(20)
      expect(after.filter((a) => !a.ok)).toEqual([])
      expect(new Set(after.map((a) => a.port))).toEqual(new Set([survivor.port]))

      // A new connection for every request, now that one server is gone: all succeed.
      const fresh = await benchmark(['-q', '-n', '2000', '-c', '10', '-k', '0', '-t', 'ping'])
      expect(fresh.code, `${fresh.stdout}\n${fresh.stderr}`).toBe(0)
      expect(fresh.stdout).toMatch(/PING_INLINE: [\d.]+ requests per second/)

      expect(runs.length).toBeGreaterThanOrEqual(2)
      for (const later of runs.slice(1)) {
        expect(later.at).toBeGreaterThanOrEqual(killedAt)
        expect(later.stderr).not.toMatch(/error/i)
      }

      await victim.restart()
      await until(
        async () => (await views()).find((v) => v.id === ids.a)!.state === 'up',
        'the restarted server up',
        10_000,
      )
      const seen = new Set<number>()
      for (let i = 0; i < 6; i++) seen.add(await serverPort())
      expect(seen).toEqual(new Set([victim.port, survivor.port]))
    })
  })
}
