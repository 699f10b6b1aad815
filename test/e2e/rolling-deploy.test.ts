/**
 * A rolling deploy under steady load (issue 12), on the real entry points of Node, Deno and Bun:
 * one route splits its traffic between the pools `web` (web-1, web-2) and `web-v2` (v2-1, v2-2),
 * 90/10. While keep-alive clients send at a steady rate, `PATCH /routes/site` on the admin API
 * shifts it to 50/50, then to 0/100; then the old pool's backends are drained and removed with
 * `DELETE /pools/web/backends/:id`. Every response is counted: not one may fail.
 *
 * The band. The split is smooth weighted round robin, restarted by each change, so any run of `m`
 * consecutive picks gives web-v2 its share `p` of them to within one request. A phase counts the
 * requests sent after its PATCH was answered and answered before the next PATCH was sent; with
 * `c` clients, at most `c` picks at each end of the phase's run are left out (in flight across a
 * PATCH). So web-v2's count `k` of the `n` counted requests obeys
 * |k − n·p| ≤ 1 + 2c·(1 + p): with c = 4 and n ≥ 300, about ±3 percentage points at 50/50.
 * After 0/100 the share is exact: no request reaches `web`.
 */
import { Agent, request } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

/** Client loops, each with its own keep-alive connection. */
const CLIENTS = 4
/** Each loop starts a request at most this often: 4 × 100 requests per second at most. */
const PERIOD_MS = 10
/** Requests counted in each phase, at least. */
const PER_PHASE = 300

/** One request of the load. */
interface Outcome {
  sentAt: number
  doneAt: number
  /** The status, or the error's text for a request that got no answer. */
  status: number | string
  backend?: string
  /** The request went on a connection an earlier request had used. */
  reused: boolean
}

/**
 * Steady keep-alive load: {@link CLIENTS} loops of sequential GETs, each paced to one request per
 * {@link PERIOD_MS}, every outcome kept. Nothing is retried.
 */
function keepAliveLoad(base: string) {
  const { hostname, port } = new URL(base)
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS })
  const outcomes: Outcome[] = []
  let running = true
  const once = (path: string) =>
    new Promise<Outcome>((resolve) => {
      const sentAt = performance.now()
      const req = request({ hostname, port, path, agent }, (res) => {
        res.resume()
        res.once('end', () =>
          resolve({
            sentAt,
            doneAt: performance.now(),
            status: res.statusCode!,
            backend: String(res.headers['x-backend']),
            reused: req.reusedSocket,
          }),
        )
        res.once('error', (error) =>
          resolve({ sentAt, doneAt: performance.now(), status: String(error), reused: false }),
        )
      })
      req.once('error', (error) =>
        resolve({ sentAt, doneAt: performance.now(), status: String(error), reused: false }),
      )
      req.end()
    })
  const loops = Array.from({ length: CLIENTS }, async (_, loop) => {
    for (let i = 0; running; i++) {
      const startedAt = performance.now()
      outcomes.push(await once(`/deploy/${loop}/${i}`))
      const wait = startedAt + PERIOD_MS - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
  })
  return {
    outcomes,
    async stop() {
      running = false
      await Promise.all(loops)
      agent.destroy()
    },
  }
}

/** Resolves once `check` holds, polling every 20 ms. */
async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** The requests sent after `from` and answered before `to`. */
const between = (outcomes: readonly Outcome[], from: number, to = Infinity) =>
  outcomes.filter((o) => o.sentAt >= from && o.doneAt <= to)

/** The pool of a backend, by its name. */
const poolOf = (backend: string | undefined) => (backend?.startsWith('v2-') ? 'web-v2' : 'web')

let backends: TestBackend[]
let dir: string

beforeAll(async () => {
  backends = await Promise.all(['web-1', 'web-2', 'v2-1', 'v2-2'].map((n) => startBackend(n)))
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-rolling-'))
})
afterAll(async () => {
  await Promise.all((backends ?? []).map((b) => b.close()))
  rmSync(dir, { recursive: true, force: true })
})

describe.each(RUNTIMES)('a rolling deploy under steady load on %s', (runtime) => {
  let fulcrum: FulcrumProcess

  const members = (prefix: string) =>
    backends.filter((b) => b.name.startsWith(prefix)).map((b) => ({ url: b.url, id: b.name }))
  /** Requests a backend got, health probes aside. */
  const served = (name: string) =>
    backends.find((b) => b.name === name)!.requests.filter((r) => r.url !== '/health').length

  const api = (
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string> } = {},
  ) =>
    fetch(`${fulcrum.adminUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${fulcrum.adminToken}`,
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    })

  beforeAll(async () => {
    const file = join(dir, `rolling-${runtime}.json`)
    writeFileSync(
      file,
      JSON.stringify({
        pools: { web: { backends: members('web-') }, 'web-v2': { backends: members('v2-') } },
        routes: [
          {
            name: 'site',
            pools: [
              { pool: 'web', weight: 90 },
              { pool: 'web-v2', weight: 10 },
            ],
          },
        ],
      }),
    )
    fulcrum = await startFulcrum(runtime, ['--config', file])
  })
  afterAll(async () => {
    await fulcrum?.stop()
  })

  it('shifts 90/10 → 50/50 → 0/100 through PATCH /routes/site, then drains web, with zero failed requests', async () => {
    const load = keepAliveLoad(fulcrum.url)
    const phases: { name: string; share: number; from: number; to: number }[] = []
    /** Send PATCH /routes/site with the weights; returns when it was sent and answered. */
    const shift = async (web: number, v2: number, etag: string) => {
      const sentAt = performance.now()
      const response = await api('PATCH', '/routes/site', {
        body: {
          pools: [
            { pool: 'web', weight: web },
            { pool: 'web-v2', weight: v2 },
          ],
        },
        headers: { 'if-match': etag },
      })
      const answeredAt = performance.now()
      expect(response.status).toBe(200)
      expect(await response.json()).toMatchObject({
        name: 'site',
        pools: [
          { pool: 'web', weight: web },
          { pool: 'web-v2', weight: v2 },
        ],
      })
      return { sentAt, answeredAt, etag: response.headers.get('etag')! }
    }
    const countedSince = (from: number) => () => between(load.outcomes, from).length >= PER_PHASE

    try {
      // 90/10, from the config.
      const startedAt = performance.now()
      await until(countedSince(startedAt), '300 requests at 90/10')
      const listed = await api('GET', '/routes')
      expect(listed.status).toBe(200)
      const etag0 = listed.headers.get('etag')!
      expect(etag0).toMatch(/^"[^"]+"$/)
      expect((await listed.json()).routes).toMatchObject([
        { name: 'site', pools: [{ weight: 90 }, { weight: 10 }] },
      ])

      // 50/50.
      const half = await shift(50, 50, etag0)
      phases.push({ name: '90/10', share: 0.1, from: startedAt, to: half.sentAt })
      expect(half.etag).not.toBe(etag0)
      await until(countedSince(half.answeredAt), '300 requests at 50/50')

      // A PATCH on a stale ETag changes nothing (RFC 9110 §13.1.1).
      const stale = await api('PATCH', '/routes/site', {
        body: { pools: [{ pool: 'web', weight: 1 }] },
        headers: { 'if-match': etag0 },
      })
      expect(stale.status).toBe(412)

      // 0/100.
      const all = await shift(0, 100, half.etag)
      phases.push({ name: '50/50', share: 0.5, from: half.answeredAt, to: all.sentAt })
      await until(countedSince(all.answeredAt), '300 requests at 0/100')
      const webServed = served('web-1') + served('web-2')
      // To the end: the removal must not bring web back either.
      phases.push({ name: '0/100', share: 1, from: all.answeredAt, to: Infinity })

      // Drain and remove the old pool's backends while the load goes on.
      for (const id of ['web-1', 'web-2']) {
        const removed = await api('DELETE', `/pools/web/backends/${id}`)
        expect([200, 202]).toContain(removed.status)
        expect(await removed.json()).toMatchObject({ id })
      }
      for (const id of ['web-1', 'web-2']) {
        await until(
          async () => (await api('GET', `/pools/web/backends/${id}`)).status === 404,
          `${id} to be drained and removed`,
        )
      }
      const pools = (await (await api('GET', '/pools')).json()) as {
        pools: { name: string; backends: { id: string }[] }[]
      }
      expect(pools.pools.find((p) => p.name === 'web')?.backends).toEqual([])
      expect(pools.pools.find((p) => p.name === 'web-v2')?.backends.map((b) => b.id)).toEqual([
        'v2-1',
        'v2-2',
      ])
      const removedAt = performance.now()
      await until(() => between(load.outcomes, removedAt).length >= 100, '100 more requests')
      // Since 0/100 took effect, web has had nothing.
      expect(served('web-1') + served('web-2')).toBe(webServed)
    } finally {
      await load.stop()
    }

    // Zero failed requests: every one answered 2xx.
    const failed = load.outcomes.filter((o) => typeof o.status !== 'number' || o.status >= 300)
    const reused = load.outcomes.filter((o) => o.reused).length
    const report = phases.map((phase) => {
      const counted = between(load.outcomes, phase.from, phase.to)
      const v2 = counted.filter((o) => poolOf(o.backend) === 'web-v2').length
      return { ...phase, n: counted.length, v2 }
    })
    console.info(
      `[${runtime}] rolling deploy: ${load.outcomes.length} requests, ${failed.length} failed, ` +
        `${reused} on reused connections; ` +
        report
          .map(
            (r) => `${r.name}: ${r.v2}/${r.n} to web-v2 (expected ${(r.n * r.share).toFixed(1)})`,
          )
          .join(', '),
    )
    expect(failed).toEqual([])
    expect(load.outcomes.length).toBeGreaterThan(3 * PER_PHASE + 100)
    // Keep-alive: all but each client's first request went on an open connection (a few
    // reconnects allowed).
    expect(reused).toBeGreaterThan(load.outcomes.length * 0.95)

    for (const { name, share, n, v2 } of report) {
      expect(n, name).toBeGreaterThanOrEqual(PER_PHASE)
      const band = share === 1 ? 0 : 1 + 2 * CLIENTS * (1 + share)
      expect(Math.abs(v2 - n * share), `${name}: ${v2} of ${n} to web-v2`).toBeLessThanOrEqual(band)
    }
    // Within each pool, round robin shares its part evenly.
    const last = between(load.outcomes, phases[2]!.from)
    const byBackend = (name: string) => last.filter((o) => o.backend === name).length
    expect(Math.abs(byBackend('v2-1') - byBackend('v2-2'))).toBeLessThanOrEqual(CLIENTS + 1)
  })
})
