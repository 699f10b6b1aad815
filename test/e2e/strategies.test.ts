/**
 * Every strategy, end to end on Node, Deno and Bun: real fulcrum processes in front of real
 * backends on loopback, one process per strategy. Load-aware strategies are shown their load with
 * requests the backends hold open, so that no assertion depends on timing.
 */
import { request as httpRequest, type ServerResponse } from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { startBackend, type BackendHandler, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum } from '../helpers/fulcrum.ts'

/** Utilisation each backend reports in `Endpoint-Load-Metrics` (ORCA text form). */
const REPORTS: Record<string, string> = {
  a: 'TEXT cpu_utilization=0.5, mem_utilization=0.2',
  b: 'TEXT cpu_utilization=0',
  c: 'TEXT mem_utilization=0.75',
}

interface Reply {
  status: number
  backend: string
}

/** GET `path`, on a fresh connection, optionally from another loopback source address. */
function get(
  base: string,
  path: string,
  options: { headers?: Record<string, string>; from?: string } = {},
): Promise<Reply> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { hostname, port, path, headers: options.headers, localAddress: options.from, agent: false },
      (res) => {
        res.resume()
        res.on('end', () =>
          resolve({ status: res.statusCode!, backend: String(res.headers['x-backend']) }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

/** Resolves once `check` holds, polling every 5 ms for up to 10 s. */
async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe.each(RUNTIMES)('every strategy over real HTTP on %s', (runtime) => {
  let backends: TestBackend[]
  /** Backends that hold `/hold` requests open until {@link releaseHeld}. */
  const holding = new Set<string>()
  const held: ServerResponse[] = []
  const handler: BackendHandler = (req, res, name) => {
    res.setHeader('endpoint-load-metrics', REPORTS[name]!)
    if (req.url === '/health') {
      res.end('ok')
      return
    }
    req.resume()
    res.setHeader('x-backend', name)
    if (req.url!.startsWith('/hold') && holding.has(name)) held.push(res)
    else res.end(name)
  }
  const releaseHeld = () => {
    for (const res of held.splice(0)) res.end('released')
  }
  /** Requests each backend got, health checks aside. */
  const served = () =>
    Object.fromEntries(
      backends.map((b) => [b.name, b.requests.filter((r) => r.url !== '/health').length]),
    )
  const total = () => Object.values(served()).reduce((sum, n) => sum + n, 0)

  /** Run `body` against a fulcrum started with `args` in front of a, b and c. */
  async function withFulcrum(
    args: string[],
    weights: number[] | undefined,
    body: (url: string) => Promise<void>,
  ): Promise<void> {
    const list = backends.flatMap((b, i) => [
      '--backend',
      weights ? `${b.url}=${weights[i]}` : b.url,
    ])
    const fulcrum = await startFulcrum(runtime, [...list, ...args])
    try {
      await body(fulcrum.url)
    } finally {
      releaseHeld()
      await fulcrum.stop()
    }
  }

  /** Send `count` GETs one after another; returns the backend of each. */
  async function sequential(url: string, count: number, path = (n: number) => `/r${n}`) {
    const seen: string[] = []
    for (let n = 0; n < count; n++) {
      const reply = await get(url, path(n))
      expect(reply.status).toBe(200)
      seen.push(reply.backend)
    }
    return seen
  }

  /**
   * Send a `/hold` GET and wait until a backend has it (a holding backend keeps it open).
   *
   * @returns the pending reply, wrapped so that awaiting this does not wait for it
   */
  async function holdOne(url: string, headers?: Record<string, string>) {
    const before = total()
    const reply = get(url, '/hold', { headers })
    reply.catch(() => {}) // a held request ends when its fulcrum stops
    await until(() => total() === before + 1, 'the request to reach a backend')
    return { reply }
  }

  const count = (ids: string[], id: string) => ids.filter((x) => x === id).length

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startBackend(name, handler)))
  })
  afterAll(async () => {
    releaseHeld()
    await Promise.all(backends.map((b) => b.close()))
  })
  beforeEach(() => {
    holding.clear()
    for (const b of backends) b.requests.length = 0
  })

  it('weighted-round-robin: weights 5, 1, 1 give a a b a c a a, twice', async () => {
    await withFulcrum(['--strategy', 'weighted-round-robin'], [5, 1, 1], async (url) => {
      expect((await sequential(url, 14)).join(' ')).toBe('a a b a c a a a a b a c a a')
    })
  })

  it('random: weights 4, 1, 1 over 90 requests (each share within 4σ of its mean)', async () => {
    await withFulcrum(['--strategy', 'random'], [4, 1, 1], async (url) => {
      const seen = await sequential(url, 90)
      // Binomial(90, 2/3): mean 60, σ ≈ 4.5; Binomial(90, 1/6): mean 15, σ ≈ 3.5.
      expect(count(seen, 'a')).toBeGreaterThanOrEqual(42)
      expect(count(seen, 'a')).toBeLessThanOrEqual(78)
      for (const id of ['b', 'c']) expect(count(seen, id)).toBeLessThanOrEqual(29)
    })
  })

  for (const strategy of ['least-connections', 'weighted-least-connections', 'power-of-two']) {
    it(`${strategy}: a backend holding a request gets no more while the others are idle`, async () => {
      holding.add('b')
      await withFulcrum(['--strategy', strategy], undefined, async (url) => {
        // Until b holds one request, anything goes; then b must get nothing more.
        for (let n = 0; n < 60 && served().b === 0; n++) await holdOne(url)
        expect(served().b).toBe(1)
        const seen = await sequential(url, 30, () => '/hold')
        expect(count(seen, 'b')).toBe(0)
        expect(served().b).toBe(1)
        if (strategy === 'least-connections') {
          // Idle ties go in turn: a and c alternate.
          for (let n = 1; n < seen.length; n++) expect(seen[n]).not.toBe(seen[n - 1])
        }
      })
    })
  }

  it('least-connections: sequential requests go in turn', async () => {
    await withFulcrum(['--strategy', 'least-connections'], undefined, async (url) => {
      expect((await sequential(url, 9)).join(' ')).toBe('a b c a b c a b c')
    })
  })

  it('weighted-least-connections: idle backends share 2 : 1 : 1 by weight (±4 of 20 : 10 : 10)', async () => {
    await withFulcrum(['--strategy', 'weighted-least-connections'], [2, 1, 1], async (url) => {
      // A client may see the end of a response a moment before fulcrum counts it finished, so
      // the next pick can find the previous backend still busy: a band, not an exact count.
      const seen = await sequential(url, 40)
      expect(Math.abs(count(seen, 'a') - 20)).toBeLessThanOrEqual(4)
      for (const id of ['b', 'c']) expect(Math.abs(count(seen, id) - 10)).toBeLessThanOrEqual(4)
    })
  })

  it('least-time: a backend that is slow to answer (here: not at all) is avoided', async () => {
    holding.add('b')
    await withFulcrum(['--strategy', 'least-time'], undefined, async (url) => {
      // Each unmeasured backend is tried once, in turn: a, then b (held), then c.
      expect((await get(url, '/hold')).backend).toBe('a')
      const pending = await holdOne(url)
      const seen = await sequential(url, 30, () => '/hold')
      expect(served()).toEqual({ a: 1 + count(seen, 'a'), b: 1, c: count(seen, 'c') })
      releaseHeld()
      expect((await pending.reply).backend).toBe('b')
    })
  })

  it('resource: reported utilisation 0.5, 0, 0.75 gives shares 2 : 4 : 1', async () => {
    await withFulcrum(['--strategy', 'resource'], undefined, async (url) => {
      const seen = await sequential(url, 35)
      expect([count(seen, 'a'), count(seen, 'b'), count(seen, 'c')]).toEqual([10, 20, 5])
    })
  })

  it('ip-hash: each client address sticks to one backend; addresses spread', async () => {
    await withFulcrum(['--strategy', 'ip-hash'], undefined, async (url) => {
      const from = Array.from({ length: 24 }, (_, n) => `127.0.0.${n + 2}`)
      const round = async () => {
        const seen: string[] = []
        for (const address of from) seen.push((await get(url, '/', { from: address })).backend)
        return seen
      }
      const first = await round()
      expect(await round()).toEqual(first)
      expect(new Set(first).size).toBeGreaterThanOrEqual(2)
    })
  })

  it('url-hash: each path sticks to one backend, whatever its query; paths spread', async () => {
    await withFulcrum(['--strategy', 'url-hash'], undefined, async (url) => {
      const paths = Array.from({ length: 20 }, (_, n) => `/asset/${n}.png`)
      const first = await sequential(url, 20, (n) => `${paths[n]}?v=1`)
      expect(await sequential(url, 20, (n) => `${paths[n]}?v=2`)).toEqual(first)
      expect(new Set(first).size).toBeGreaterThanOrEqual(2)
    })
  })

  it('consistent-hash: a header key sticks, and bounded loads spill a hot key', async () => {
    holding.add('a').add('b').add('c')
    const args = ['--strategy', 'consistent-hash', '--hash-key', 'header:x-user']
    await withFulcrum(args, undefined, async (url) => {
      const users = Array.from({ length: 20 }, (_, n) => `user-${n}`)
      const byUser = async () => {
        const seen: string[] = []
        for (const user of users) {
          seen.push((await get(url, '/', { headers: { 'x-user': user } })).backend)
        }
        return seen
      }
      const first = await byUser()
      expect(await byUser()).toEqual(first)
      expect(new Set(first).size).toBeGreaterThanOrEqual(2)
      // Three held requests for one key: the second spills past ⌈1.25 × 2/3⌉ = 1 on its node.
      for (const b of backends) b.requests.length = 0
      for (let n = 0; n < 3; n++) await holdOne(url, { 'x-user': 'hot' })
      const loads = Object.values(served()).toSorted()
      expect(loads).toEqual([0, 1, 2])
    })
  })

  it('threshold: fills a, then b, then c, two held requests each, then overflows', async () => {
    holding.add('a').add('b').add('c')
    await withFulcrum(['--strategy', 'threshold', '--threshold', '2'], undefined, async (url) => {
      const order: Record<string, number>[] = []
      for (let n = 0; n < 7; n++) {
        await holdOne(url)
        order.push(served())
      }
      expect(order.map((s) => `${s.a}${s.b}${s.c}`)).toEqual([
        '100',
        '200',
        '210',
        '220',
        '221',
        '222',
        '322',
      ])
    })
  })
})
