/**
 * Fault injection on the real entry points: a backend killed under load, a POST that reaches a
 * dying backend, a hung backend, a body reset halfway, and a client that walks away. Each test
 * counts requests end to end, at the client and at the backends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startFaultyBackend, type FaultyBackend } from '../helpers/faults.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'

/** Slack for a 2-core machine that runs other suites at the same time. */
const MARGIN = 1500
/** The response-header deadline these tests run with. */
const HEADERS_TIMEOUT = 500

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * One GET on a fresh connection. `complete` says whether the whole message arrived; a connection
 * reset before or during the response counts as incomplete (status 0 when no head arrived).
 */
function rawGet(
  url: string,
  path: string,
): Promise<{ status: number; body: string; complete: boolean }> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}${path}`, { agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      res.on('error', () => {})
      res.once('close', () => resolve({ status: res.statusCode!, body, complete: res.complete }))
    })
    req.once('error', () => resolve({ status: 0, body: '', complete: false }))
    req.end()
  })
}

/** Concurrent GET load from `workers` clients until stopped; every outcome is kept. */
function load(url: string, workers = 4) {
  const outcomes: (number | string)[] = []
  let running = true
  const done = Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      // Bounded: at most 2000 requests per worker.
      for (let i = 0; running && i < 2000; i++) {
        try {
          const response = await fetch(`${url}/load/${w}/${i}`)
          await response.arrayBuffer()
          outcomes.push(response.status)
        } catch (error) {
          outcomes.push(String((error as Error).cause ?? error))
        }
      }
    }),
  )
  return {
    outcomes,
    async stop() {
      running = false
      await done
    },
  }
}

describe.each(RUNTIMES)('faults on %s', (runtime) => {
  let backends: FaultyBackend[]
  let fulcrum: FulcrumProcess
  let dir: string

  beforeAll(async () => {
    backends = await Promise.all(['a', 'b', 'c'].map((name) => startFaultyBackend(name)))
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-faults-'))
    const config = join(dir, 'fulcrum.json')
    writeFileSync(
      config,
      JSON.stringify({
        backends: backends.map((b) => ({ url: b.url, id: b.name })),
        // Probes are slow here: what these tests see comes from live traffic alone.
        healthCheck: { interval: '30s' },
        timeouts: { responseHeaders: HEADERS_TIMEOUT, upstreamIdle: '1s' },
        // Short ejections, so that one test's ejection is over by the next.
        outlierDetection: { baseEjectionTime: '300ms', maxEjectionTime: '300ms' },
        circuitBreaker: { enabled: false },
      }),
    )
    fulcrum = await startFulcrum(runtime, ['--config', config])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await Promise.all(backends.map((b) => b.close()))
    rmSync(dir, { recursive: true, force: true })
  })
  afterEach(async () => {
    for (const backend of backends) {
      backend.set({ kind: 'ok' })
      if (!backend.server.listening) await backend.revive()
    }
    // Let any ejection end before the next test.
    await sleep(400)
  })

  it('loses no GET while one of three backends is killed under load', async () => {
    const traffic = load(fulcrum.url)
    await sleep(300)
    await backends[1]!.kill()
    await sleep(1200)
    await traffic.stop()
    const failed = traffic.outcomes.filter((o) => o !== 200)
    const retries = fulcrum.logs().filter((l) => l.msg === 'retry')
    console.info(
      `[${runtime}] ${traffic.outcomes.length} requests, ${failed.length} failed, ` +
        `${retries.length} retried, ejected: ${fulcrum.logs().some((l) => l.msg === 'backend ejected')}`,
    )
    expect(traffic.outcomes.length).toBeGreaterThan(50)
    expect(failed).toEqual([])
    // Passive health took it out without waiting for a probe.
    expect(
      fulcrum
        .logs()
        .filter((l) => l.msg === 'backend ejected')
        .map((l) => l.url),
    ).toContain(backends[1]!.url)
  })
  it('answers a POST that reached a dying backend 502, and never sends it twice', async () => {
    const before = backends.map((x) => x.count('POST'))
    // Whichever backend gets it reads the whole request, then drops the connection.
    for (const backend of backends) backend.set({ kind: 'reset' })
    const response = await fetch(`${fulcrum.url}/orders`, { method: 'POST', body: 'order-1' })
    expect(response.status).toBe(502)
    expect(await response.json()).toMatchObject({ error: 'Upstream failed' })
    const after = backends.map((x) => x.count('POST'))
    const delivered = after.reduce((sum, n, i) => sum + n - before[i]!, 0)
    expect(delivered).toBe(1)
    expect(fulcrum.logs().filter((l) => l.msg === 'retry' && l.method === 'POST')).toEqual([])
  })

  it('retries a POST with Idempotency-Key after a reset, on another backend', async () => {
    const [a, b, c] = backends
    a!.set({ kind: 'reset' })
    b!.set({ kind: 'reset' })
    const before = backends.map((x) => x.count('POST'))
    const response = await fetch(`${fulcrum.url}/orders`, {
      method: 'POST',
      body: 'order-2',
      headers: { 'idempotency-key': 'order-2' },
    })
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('c')
    expect(c!.count('POST') - before[2]!).toBe(1)
  })

  it('answers 504 when a backend hangs, within the deadline, and closes its socket', async () => {
    for (const backend of backends) backend.set({ kind: 'hang' })
    const before = backends.reduce((sum, b) => sum + b.count(), 0)
    const startedAt = Date.now()
    const response = await fetch(`${fulcrum.url}/slow`)
    const took = Date.now() - startedAt
    expect(response.status).toBe(504)
    expect(await response.json()).toMatchObject({ error: 'Upstream timed out' })
    expect(took).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50)
    expect(took).toBeLessThan(HEADERS_TIMEOUT + MARGIN)
    // One backend got it (a timeout is not retried), and fulcrum hung up on it at once.
    expect(backends.reduce((sum, b) => sum + b.count(), 0) - before).toBe(1)
    await Promise.all(backends.map((b) => waitFor(() => b.hungSockets() === 0, 1000)))
  })

  it('aborts a response whose backend resets halfway: never a complete-looking response', async () => {
    for (const backend of backends) backend.set({ kind: 'reset-mid-body' })
    const result = await rawGet(fulcrum.url, '/half')
    // The head may or may not have left before the reset; the message must not look whole.
    expect([0, 200]).toContain(result.status)
    expect(result.complete).toBe(false)
    expect(result.body.length).toBeLessThan(1000)
  })

  it('aborts a response whose backend stalls mid-body after upstreamIdle', async () => {
    for (const backend of backends) backend.set({ kind: 'stall-mid-body' })
    const startedAt = Date.now()
    const result = await rawGet(fulcrum.url, '/stall')
    expect(result.complete).toBe(false)
    expect(Date.now() - startedAt).toBeLessThan(1000 + MARGIN)
    expect(fulcrum.logs().some((l) => l.msg === 'upstream body aborted')).toBe(true)
  })

  it('cancels the upstream request at once when the client goes away', async () => {
    for (const backend of backends) backend.set({ kind: 'hang' })
    const client = new AbortController()
    const pending = fetch(`${fulcrum.url}/walk-away`, { signal: client.signal }).catch(() => {})
    // Wait until a backend holds the request.
    const deadline = Date.now() + 5000
    let holder: FaultyBackend | undefined
    while (!holder && Date.now() < deadline) {
      holder = backends.find((b) => b.requests.some((r) => r.url === '/walk-away'))
      await sleep(10)
    }
    expect(holder).toBeDefined()
    client.abort()
    await pending
    // Closed well before the response-header deadline would have closed it.
    await waitFor(() => holder!.hungSockets() === 0, HEADERS_TIMEOUT - 200)
  })
})

/** Resolves once `check()` holds, polling; fails after `timeoutMs`. */
async function waitFor(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Not within ${timeoutMs} ms`)
    await sleep(10)
  }
}
