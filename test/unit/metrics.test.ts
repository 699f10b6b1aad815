import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { UpstreamConnectError } from '../../src/errors.ts'
import {
  bucketQuantile,
  Histogram,
  LATENCY_BUCKETS,
  Metrics,
  PrometheusWriter,
} from '../../src/metrics.ts'
import { adminBalancer } from './admin-helpers.ts'

/** Prometheus' own parser and linter, from Debian's `prometheus` package. */
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p))

/** Run `promtool check metrics`: exit 0 and no output means it parsed and passed the lint. */
function promtool(text: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL!, ['check', 'metrics'], { input: text, encoding: 'utf8' })
  return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() }
}

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'

afterEach(() => {
  vi.useRealTimers()
})

describe('Histogram and quantiles', () => {
  it('counts each value in the first bucket whose bound is at least the value', () => {
    const h = new Histogram([0.1, 1])
    for (const v of [0.05, 0.1, 0.5, 1, 2]) h.observe(v)
    expect([...h.counts]).toEqual([2, 2, 1])
    expect(h.count).toBe(5)
    expect(h.sum).toBeCloseTo(3.65)
  })

  it('interpolates quantiles within a bucket, as histogram_quantile does', () => {
    const counts = [0, 10, 0, 0]
    expect(bucketQuantile([1, 2, 3], counts, 0.5)).toBeCloseTo(1.5)
    expect(bucketQuantile([1, 2, 3], [0, 0, 0, 0], 0.5)).toBeUndefined()
    // Above the last bound: the last bound.
    expect(bucketQuantile([1, 2, 3], [0, 0, 0, 4], 0.99)).toBe(3)
    const h = new Histogram()
    for (let i = 0; i < 99; i++) h.observe(0.002)
    h.observe(4)
    expect(bucketQuantile(LATENCY_BUCKETS, h.counts, 0.5)).toBeGreaterThan(0.001)
    expect(bucketQuantile(LATENCY_BUCKETS, h.counts, 0.5)).toBeLessThanOrEqual(0.0025)
    expect(bucketQuantile(LATENCY_BUCKETS, h.counts, 0.999)).toBeGreaterThan(2.5)
  })

  it('counts responses by class and failures by kind per backend', () => {
    const metrics = new Metrics()
    metrics.response('b1', 204, 0.001)
    metrics.response('b1', 503, 0.002)
    metrics.response('b1', 99, 0.002)
    metrics.failure('b1', 'timeout')
    metrics.retry('b1')
    const b1 = metrics.backend('b1')
    expect([...b1.responses]).toEqual([1, 1, 0, 0, 1])
    expect([...b1.failures]).toEqual([0, 1, 0])
    expect(b1.retries).toBe(1)
    expect(metrics.retries).toBe(1)
    metrics.forget('b1')
    expect(metrics.backend('b1').retries).toBe(0)
  })
})

describe('PrometheusWriter', () => {
  it('escapes label values and help text', () => {
    const out = new PrometheusWriter()
    out.family('x_total', 'counter', 'Help with \\ and\nnewline', [
      { labels: { path: 'a"b\\c\nd' }, value: 1 },
      { value: Infinity },
    ])
    expect(out.text()).toBe(
      '# HELP x_total Help with \\\\ and\\nnewline\n# TYPE x_total counter\n' +
        'x_total{path="a\\"b\\\\c\\nd"} 1\nx_total +Inf\n',
    )
  })

  it.skipIf(!PROMTOOL)('writes what promtool parses, histograms included', () => {
    const out = new PrometheusWriter()
    const h = new Histogram([0.5, 1])
    h.observe(0.2)
    h.observe(3)
    out.family('odd_total', 'counter', 'Odd labels', [{ labels: { l: 'q"\\\n' }, value: 2 }])
    out.histogram('lat_seconds', 'Latency', [{ labels: { b: 'x' }, histogram: h }])
    const text = out.text()
    expect(text).toContain('lat_seconds_bucket{b="x",le="+Inf"} 2')
    expect(text).toContain('lat_seconds_bucket{b="x",le="0.5"} 1')
    expect(promtool(text)).toEqual({ status: 0, output: '' })
  })
})

describe('GET /metrics', () => {
  it.skipIf(!PROMTOOL)(
    'passes promtool check metrics after traffic, failures, retries and probes',
    async () => {
      const { admin, get, balancer } = adminBalancer(
        { backends: [A, B, 'http://127.0.0.1:9003'] },
        (url) => {
          if (url.startsWith('http://127.0.0.1:9003')) throw new UpstreamConnectError('refused')
          return new Response('x'.repeat(10), { status: url.startsWith(B) ? 500 : 200 })
        },
      )
      for (let i = 0; i < 12; i++) await get('/')
      const [first] = balancer.pool.eligible()
      balancer.pool.recordProbe(first!.id, true)
      balancer.pool.recordProbe(first!.id, false, 'timeout')
      const response = await admin('GET', '/metrics')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
      const text = await response.text()
      expect(promtool(text)).toEqual({ status: 0, output: '' })

      const sample = (line: string) => {
        const found = text.split('\n').find((l) => l.startsWith(`${line} `))
        return found === undefined ? undefined : Number(found.slice(line.length + 1))
      }
      const idA = first!.id
      // Each request was answered by a (200) or b (500, not retried); c refused every connection.
      const okA = sample(
        `fulcrum_backend_responses_total{pool="default",backend="${idA}",code="2xx"}`,
      )!
      const idB = [...balancer.pool.states()][1]!.backend.id
      const errorsB = sample(
        `fulcrum_backend_responses_total{pool="default",backend="${idB}",code="5xx"}`,
      )!
      expect(okA + errorsB).toBe(12)
      expect(okA).toBeGreaterThanOrEqual(4)
      expect(sample(`fulcrum_backend_sent_bytes_total{pool="default",backend="${idA}"}`)).toBe(
        10 * okA,
      )
      expect(
        sample(`fulcrum_backend_probes_total{pool="default",backend="${idA}",result="success"}`),
      ).toBe(1)
      expect(
        sample(`fulcrum_backend_probes_total{pool="default",backend="${idA}",result="failure"}`),
      ).toBe(1)
      expect(sample(`fulcrum_backend_last_probe_success{pool="default",backend="${idA}"}`)).toBe(0)
      expect(sample(`fulcrum_backend_up{pool="default",backend="${idA}"}`)).toBe(1)
      expect(sample('fulcrum_request_duration_seconds_count')).toBe(12)
      expect(
        sample('fulcrum_requests_total{route="route0",code="2xx"}')! +
          sample('fulcrum_requests_total{route="route0",code="5xx"}')!,
      ).toBe(12)
      // Every refused connection was retried elsewhere.
      const idC = [...balancer.pool.states()][2]!.backend.id
      const refused = sample(
        `fulcrum_backend_failures_total{pool="default",backend="${idC}",reason="connect"}`,
      )!
      expect(refused).toBeGreaterThan(0)
      expect(sample(`fulcrum_backend_retries_total{pool="default",backend="${idC}"}`)).toBe(refused)
      for (const name of [
        'fulcrum_backend_inflight_requests',
        'fulcrum_backend_response_seconds_bucket',
        'fulcrum_backend_ejections_total',
        'fulcrum_backend_effective_weight',
        'fulcrum_queue_depth',
        'fulcrum_sticky_total',
      ]) {
        expect(text, name).toContain(`\n${name}`)
      }
    },
  )

  it('includes memory and open connections where the runtime gives them', async () => {
    const { admin } = adminBalancer({ backends: [A] }, undefined, {
      memoryUsage: () => ({ rss: 5e7, heapUsed: 1e7, heapTotal: 2e7 }),
      openConnections: () => 7,
    })
    const text = await (await admin('GET', '/metrics')).text()
    expect(text).toContain('\nprocess_resident_memory_bytes 50000000\n')
    expect(text).toContain('\nfulcrum_open_connections 7\n')
    if (PROMTOOL) expect(promtool(text)).toEqual({ status: 0, output: '' })
  })

  it.runIf(!PROMTOOL)('is skipped: promtool is not installed (apt-get install prometheus)', () => {
    console.warn('promtool not found: the Prometheus parser checks are skipped')
  })
})

describe('GET /stats', () => {
  it('reports rates, shares, error rates and percentiles over the recent window', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'))
    const { admin, get, balancer } = adminBalancer(
      {
        backends: [
          { url: A, id: 'a' },
          { url: B, id: 'b' },
        ],
      },
      (url) => new Response('ok', { status: url.startsWith(B) ? 503 : 200 }),
    )
    balancer.control.setStrategy('round-robin')
    const first = await (await admin('GET', '/stats')).json()
    expect(first.windowSeconds).toBe(0)
    expect(first.requests.window).toBeNull()
    expect(first.backends[0].window).toBeNull()

    // 10 requests in 2 s. Each 503 from b is retried on a, so a answers every one of them.
    for (let i = 0; i < 10; i++) await get('/')
    vi.setSystemTime(new Date('2026-01-01T00:00:02Z'))
    const stats = await (await admin('GET', '/stats')).json()
    expect(stats.windowSeconds).toBe(2)
    expect(stats.requests.total).toBe(10)
    expect(stats.requests.window.requestsPerSecond).toBe(5)
    const [a, b] = stats.backends
    expect(a.id).toBe('a')
    expect(a.window.requestsPerSecond).toBe(5)
    expect(a.window.errorRate).toBe(0)
    expect(b.window.requestsPerSecond).toBe(2.5)
    expect(b.window.errorRate).toBe(1)
    expect(a.window.share + b.window.share).toBeCloseTo(1, 2)
    expect(a.window.share).toBeCloseTo(2 / 3, 2)
    expect(a.window.p50Ms).toBeGreaterThan(0)
    expect(a.window.p99Ms).toBeGreaterThanOrEqual(a.window.p50Ms)
    expect(a.responses['2xx']).toBe(10)
    expect(b.responses['5xx']).toBe(5)
    expect(stats.strategy).toBe('round-robin')

    // Later windows forget older traffic.
    vi.setSystemTime(new Date('2026-01-01T00:00:15Z'))
    await admin('GET', '/stats')
    vi.setSystemTime(new Date('2026-01-01T00:00:16Z'))
    const quiet = await (await admin('GET', '/stats')).json()
    expect(quiet.requests.window.requestsPerSecond).toBe(0)
    expect(quiet.requests.window.p50Ms).toBeNull()
  })

  it('lists recent health transitions, newest first', async () => {
    const { admin, balancer } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    for (let i = 0; i < 3; i++) balancer.pool.recordProbe('a', false, 'ECONNREFUSED')
    await admin('PATCH', '/backends/a', { draining: true })
    const { transitions } = await (await admin('GET', '/stats')).json()
    // Nothing is in flight, so the backend is drained at once.
    expect(transitions.map((t: { to: string }) => t.to)).toEqual(['drained', 'draining', 'down'])
    expect(transitions[2]).toMatchObject({ id: 'a', url: A, reason: 'ECONNREFUSED' })
  })
})
