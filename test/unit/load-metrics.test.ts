import { describe, expect, it } from 'vitest'
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { parseLoadMetrics } from '../../src/load-metrics.ts'
import { silentLogger } from '../../src/log.ts'
import type { UpstreamFetch } from '../../src/types.ts'

describe('parseLoadMetrics (ORCA Endpoint-Load-Metrics)', () => {
  it('reads the TEXT form and takes the scarcest resource', () => {
    expect(parseLoadMetrics('TEXT cpu_utilization=0.4, mem_utilization=0.2')).toBe(0.4)
    expect(parseLoadMetrics('TEXT mem_utilization=0.7,cpu_utilization=0.1')).toBe(0.7)
    expect(parseLoadMetrics('text application_utilization=0.55, rps_fractional=10')).toBe(0.55)
    expect(parseLoadMetrics('TEXT cpu_utilization=0')).toBe(0)
  })

  it('reads the JSON form', () => {
    expect(parseLoadMetrics('JSON {"cpu_utilization": 0.3, "mem_utilization": 0.1}')).toBe(0.3)
  })

  it('clamps to 1 (cpu_utilization may exceed 1 on many cores)', () => {
    expect(parseLoadMetrics('TEXT cpu_utilization=2.5')).toBe(1)
  })

  it('ignores what it cannot read', () => {
    for (const value of [
      null,
      '',
      'TEXT',
      'TEXT rps_fractional=10',
      'TEXT cpu_utilization=',
      'TEXT cpu_utilization=lots',
      'TEXT cpu_utilization=-1',
      'JSON {oops',
      'JSON 7',
      'BIN AAAA',
      'cpu_utilization=0.5',
    ]) {
      expect(parseLoadMetrics(value), String(value)).toBeUndefined()
    }
  })
})

describe('load feedback through the proxy', () => {
  const A = 'http://127.0.0.1:9001'
  const B = 'http://127.0.0.1:9002'

  function balancerWith(config: ConfigInput, fetch: UpstreamFetch) {
    return createBalancer(
      parseConfig({ healthCheck: { enabled: false }, backends: [A, B], ...config }),
      {
        fetch,
        clientAddress: () => '192.0.2.1',
        tcpConnect: async () => {},
        readTextFile: async () => '',
        logger: silentLogger,
      },
    )
  }
  const reporting: UpstreamFetch = async (url) =>
    new Response('ok', {
      headers: {
        'endpoint-load-metrics': url.startsWith(A)
          ? 'TEXT cpu_utilization=0.75'
          : 'TEXT cpu_utilization=0.25',
      },
    })
  const utilisations = (balancer: ReturnType<typeof balancerWith>) =>
    [...balancer.pool.states()].map((s) => s.utilisation)

  it('records Endpoint-Load-Metrics when the strategy is resource', async () => {
    const balancer = balancerWith({ strategy: 'resource' }, reporting)
    for (let i = 0; i < 2; i++) await (await balancer.app.request('http://x.test/')).text()
    expect(utilisations(balancer)).toEqual([0.75, 0.25])
  })

  it('does not parse it for other strategies', async () => {
    const balancer = balancerWith({ strategy: 'round-robin' }, reporting)
    for (let i = 0; i < 2; i++) await (await balancer.app.request('http://x.test/')).text()
    expect(utilisations(balancer)).toEqual([undefined, undefined])
  })

  it('records the time to response headers as the backend’s latency', async () => {
    const calls: string[] = []
    const balancer = balancerWith({ strategy: 'least-time' }, async (url) => {
      calls.push(new URL(url).origin)
      await new Promise((resolve) => setTimeout(resolve, url.startsWith(A) ? 40 : 1))
      return new Response('ok')
    })
    const send = async () => (await balancer.app.request('http://x.test/')).text()
    await send() // a, unmeasured and first in turn
    await send() // b, the other unmeasured one
    const [a, b] = [...balancer.pool.states()]
    expect(a!.latency).toBeGreaterThanOrEqual(35)
    expect(b!.latency).toBeLessThan(a!.latency)
    // least-time now prefers b, the faster one.
    for (let i = 0; i < 5; i++) await send()
    expect(calls).toEqual([A, B, B, B, B, B, B])
  })

  it('reads load reports from health responses too', async () => {
    const balancer = createBalancer(
      parseConfig({
        backends: [A],
        strategy: 'resource',
        healthCheck: { interval: '1s', timeout: '500ms' },
      }),
      {
        fetch: async () =>
          new Response('ok', { headers: { 'endpoint-load-metrics': 'TEXT mem_utilization=0.6' } }),
        clientAddress: () => '192.0.2.1',
        tcpConnect: async () => {},
        readTextFile: async () => '',
        logger: silentLogger,
      },
    )
    balancer.start()
    try {
      await expect
        .poll(() => balancer.pool.get([...balancer.pool.states()][0]!.backend.id)!.utilisation, {
          timeout: 5000,
        })
        .toBe(0.6)
    } finally {
      await balancer.stop()
    }
  })
})
