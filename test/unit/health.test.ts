import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import { createHealthChecker } from '../../src/health/checker.ts'
import { httpProbe, tcpProbe, type HealthProbe } from '../../src/health/probe.ts'
import { BackendPool } from '../../src/pool.ts'
import type { Backend, Logger, UpstreamInit } from '../../src/types.ts'

const backends = parseConfig({
  backends: ['http://127.0.0.1:9001', 'http://127.0.0.1:9002', 'http://127.0.0.1:9003'],
}).backends
const [a, b, c] = backends as [Backend, Backend, Backend]

/** A logger that keeps its lines. */
function recordingLogger() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = []
  const logger: Logger = {
    info: (msg, fields) => lines.push({ level: 'info', msg, fields }),
    warn: (msg, fields) => lines.push({ level: 'warn', msg, fields }),
    error: (msg, fields) => lines.push({ level: 'error', msg, fields }),
  }
  return { logger, lines }
}

/** A probe whose answer per backend is set by the test; `hang` waits until the deadline. */
function scriptedProbe() {
  const outcome = new Map<string, 'ok' | 'refused' | 'hang'>()
  const calls: string[] = []
  const probe: HealthProbe = {
    check(backend, signal) {
      calls.push(backend.id)
      const what = outcome.get(backend.id) ?? 'ok'
      if (what === 'ok') return Promise.resolve()
      if (what === 'refused') {
        return Promise.reject(
          new TypeError('fetch failed', {
            cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }),
          }),
        )
      }
      return new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
      )
    },
  }
  return { probe, outcome, calls }
}

describe('BackendPool rise and fall', () => {
  it('starts every backend healthy and eligible', () => {
    const pool = new BackendPool(backends)
    expect(pool.eligible()).toEqual(backends)
  })

  it('takes a backend down after exactly `fall` consecutive failures and logs the reason', () => {
    const { logger, lines } = recordingLogger()
    const pool = new BackendPool(backends, { rise: 2, fall: 3, logger })
    const version = pool.version
    pool.recordProbe(a.id, false, 'ECONNREFUSED')
    pool.recordProbe(a.id, false, 'ECONNREFUSED')
    expect(pool.get(a.id)!.healthy).toBe(true)
    expect(pool.version).toBe(version)
    pool.recordProbe(a.id, false, 'Status 500, expected 200-399')
    expect(pool.get(a.id)!.healthy).toBe(false)
    expect(pool.version).toBeGreaterThan(version)
    expect(pool.eligible()).toEqual([b, c])
    expect(lines).toEqual([
      {
        level: 'warn',
        msg: 'backend down',
        fields: { backend: a.id, url: a.url, reason: 'Status 500, expected 200-399', failures: 3 },
      },
    ])
  })

  it('needs the failures to be consecutive', () => {
    const pool = new BackendPool(backends, { fall: 3 })
    for (const ok of [false, false, true, false, false, true]) pool.recordProbe(a.id, ok)
    expect(pool.get(a.id)!.healthy).toBe(true)
  })

  it('brings a backend up after exactly `rise` consecutive successes and logs it', () => {
    const { logger, lines } = recordingLogger()
    const pool = new BackendPool(backends, { rise: 2, fall: 1, logger })
    pool.recordProbe(b.id, false, 'ECONNREFUSED')
    expect(pool.eligible()).toEqual([a, c])
    pool.recordProbe(b.id, true)
    pool.recordProbe(b.id, false, 'ECONNREFUSED')
    pool.recordProbe(b.id, true)
    expect(pool.get(b.id)!.healthy).toBe(false)
    pool.recordProbe(b.id, true)
    expect(pool.get(b.id)!.healthy).toBe(true)
    expect(pool.eligible()).toEqual([a, b, c])
    expect(lines.map((l) => l.msg)).toEqual(['backend down', 'backend up'])
    expect(lines[1]!.fields).toEqual({
      backend: b.id,
      url: b.url,
      reason: '2 consecutive probe successes',
    })
  })

  it('logs nothing while the state does not change', () => {
    const { logger, lines } = recordingLogger()
    const pool = new BackendPool(backends, { logger })
    for (let i = 0; i < 10; i++) pool.recordProbe(a.id, true)
    expect(lines).toEqual([])
  })

  it('keeps backups out of the rotation while a primary is up', () => {
    const [p, q] = parseConfig({
      backends: ['http://127.0.0.1:1', { url: 'http://127.0.0.1:2', backup: true }],
    }).backends as [Backend, Backend]
    const pool = new BackendPool([p, q], { fall: 1 })
    expect(pool.eligible()).toEqual([p])
    pool.recordProbe(p.id, false, 'down')
    expect(pool.eligible()).toEqual([q])
  })
})

describe('createHealthChecker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 0 })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('probes every backend in the first round at once, then each interval', async () => {
    const pool = new BackendPool(backends)
    const { probe, calls } = scriptedProbe()
    const checker = createHealthChecker(pool, probe, { interval: 1000, timeout: 500, jitter: 0 })
    checker.start()
    expect(calls).toEqual([a.id, b.id, c.id])
    await vi.advanceTimersByTimeAsync(2000)
    expect(calls).toHaveLength(9)
    await checker.stop()
  })

  it('takes a refusing backend down within fall × interval, with the reason', async () => {
    const { logger, lines } = recordingLogger()
    const pool = new BackendPool(backends, { rise: 2, fall: 3, logger })
    const { probe, outcome } = scriptedProbe()
    outcome.set(b.id, 'refused')
    const checker = createHealthChecker(pool, probe, { interval: 1000, timeout: 500, jitter: 0 })
    checker.start()
    await vi.advanceTimersByTimeAsync(1000)
    expect(pool.get(b.id)!.healthy).toBe(true)
    // Rounds at 0, 1000 and 2000 ms: the third failure is the fall threshold.
    await vi.advanceTimersByTimeAsync(1000)
    expect(pool.get(b.id)!.healthy).toBe(false)
    expect(pool.eligible()).toEqual([a, c])
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'backend down',
        fields: expect.objectContaining({ backend: b.id, reason: 'ECONNREFUSED' }),
      }),
    )

    outcome.set(b.id, 'ok')
    await vi.advanceTimersByTimeAsync(1000)
    expect(pool.get(b.id)!.healthy).toBe(false)
    await vi.advanceTimersByTimeAsync(1000)
    expect(pool.get(b.id)!.healthy).toBe(true)
    expect(lines.at(-1)).toMatchObject({ msg: 'backend up', fields: { backend: b.id } })
    await checker.stop()
  })

  it('fails a probe that outlasts the timeout, with a reason naming it', async () => {
    const pool = new BackendPool(backends, { fall: 1 })
    const { probe, outcome } = scriptedProbe()
    outcome.set(c.id, 'hang')
    const checker = createHealthChecker(pool, probe, { interval: 1000, timeout: 300, jitter: 0 })
    checker.start()
    await vi.advanceTimersByTimeAsync(299)
    expect(pool.get(c.id)!.lastProbe).toBeUndefined()
    expect(pool.get(a.id)!.lastProbe).toEqual({ ok: true, at: 0, reason: undefined })
    await vi.advanceTimersByTimeAsync(1)
    expect(pool.get(c.id)!.lastProbe).toEqual({
      ok: false,
      at: 300,
      reason: 'Timed out after 300 ms',
    })
    expect(pool.get(c.id)!.healthy).toBe(false)
    // The next round starts an interval after the slow round ended, not after it started.
    const calls: number[] = []
    const spy = vi.spyOn(probe, 'check').mockImplementation(async () => void calls.push(Date.now()))
    await vi.advanceTimersByTimeAsync(1000)
    expect(calls).toEqual([1300, 1300, 1300])
    spy.mockRestore()
    await checker.stop()
  })

  it('skips disabled backends', async () => {
    const pool = new BackendPool(backends)
    pool.get(a.id)!.enabled = false
    const { probe, calls } = scriptedProbe()
    const checker = createHealthChecker(pool, probe, { interval: 1000, timeout: 500, jitter: 0 })
    checker.start()
    expect(calls).toEqual([b.id, c.id])
    await checker.stop()
  })

  it('records nothing from a round that stop() aborted', async () => {
    const pool = new BackendPool(backends, { fall: 1 })
    const { probe, outcome } = scriptedProbe()
    for (const backend of backends) outcome.set(backend.id, 'hang')
    const checker = createHealthChecker(pool, probe, { interval: 1000, timeout: 500, jitter: 0 })
    checker.start()
    await vi.advanceTimersByTimeAsync(100)
    await checker.stop()
    for (const backend of backends) {
      expect(pool.get(backend.id)!.lastProbe).toBeUndefined()
      expect(pool.get(backend.id)!.healthy).toBe(true)
    }
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('httpProbe', () => {
  const probeWith = (status: number, expect = { low: 200, high: 399 }) => {
    const seen: { url: string; init: UpstreamInit }[] = []
    const probe = httpProbe(
      async (url, init) => {
        seen.push({ url, init })
        return new Response('body', { status })
      },
      { path: '/healthz', expectStatus: expect },
    )
    return { probe, seen }
  }

  it('GETs the health path without following redirects', async () => {
    const { probe, seen } = probeWith(200)
    await probe.check(a, new AbortController().signal)
    expect(seen).toHaveLength(1)
    expect(seen[0]!.url).toBe('http://127.0.0.1:9001/healthz')
    expect(seen[0]!.init.method).toBe('GET')
    expect(seen[0]!.init.redirect).toBe('manual')
    expect(new Headers(seen[0]!.init.headers).get('user-agent')).toBe('fulcrum-health-check')
  })

  it('accepts statuses in range and refuses the others with a reason', async () => {
    const signal = new AbortController().signal
    await expect(probeWith(399).probe.check(a, signal)).resolves.toBeUndefined()
    await expect(probeWith(500).probe.check(a, signal)).rejects.toThrow(
      'Status 500, expected 200-399',
    )
    await expect(probeWith(200, { low: 204, high: 204 }).probe.check(a, signal)).rejects.toThrow(
      'Status 200, expected 204-204',
    )
  })

  it('passes the deadline signal to fetch', async () => {
    const controller = new AbortController()
    const probe = httpProbe(
      (_url, init) =>
        new Promise((_, reject) =>
          init.signal!.addEventListener('abort', () => reject(init.signal!.reason)),
        ),
      { path: '/health', expectStatus: { low: 200, high: 399 } },
    )
    const checking = probe.check(a, controller.signal)
    controller.abort(new Error('deadline'))
    await expect(checking).rejects.toThrow('deadline')
  })
})

describe('tcpProbe', () => {
  it('connects to the host and port of the backend, with default ports and bare IPv6', async () => {
    const seen: [string, number][] = []
    const probe = tcpProbe(async (host, port) => void seen.push([host, port]))
    const signal = new AbortController().signal
    const [x, y, z] = parseConfig({
      backends: ['http://127.0.0.1:9001', 'https://[::1]', 'http://localhost'],
    }).backends
    for (const backend of [x!, y!, z!]) await probe.check(backend, signal)
    expect(seen).toEqual([
      ['127.0.0.1', 9001],
      ['::1', 443],
      ['localhost', 80],
    ])
  })
})
