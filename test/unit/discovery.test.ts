import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseConfig } from '../../src/config.ts'
import { resolveEntry } from '../../src/discovery.ts'
import type { DnsResolver, SrvRecord } from '../../src/types.ts'
import { adminBalancer } from './admin-helpers.ts'

/** A stub resolver whose answers the test changes; it counts lookups. */
function stubResolver() {
  const records = {
    a: new Map<string, string[] | Error>(),
    aaaa: new Map<string, string[] | Error>(),
    srv: new Map<string, SrvRecord[] | Error>(),
  }
  const lookups: string[] = []
  const answer = <T>(value: T | Error | undefined): Promise<T | []> =>
    value instanceof Error ? Promise.reject(value) : Promise.resolve(value ?? [])
  const resolver: DnsResolver = {
    addresses: (name, family) => {
      lookups.push(`${family === 4 ? 'A' : 'AAAA'} ${name}`)
      return answer((family === 4 ? records.a : records.aaaa).get(name))
    },
    srv: (name) => {
      lookups.push(`SRV ${name}`)
      return answer(records.srv.get(name))
    },
  }
  return { resolver, records, lookups }
}

const urls = (balancer: { pool: { states(): Iterable<{ backend: { url: string } }> } }) =>
  [...balancer.pool.states()].map((s) => s.backend.url).sort()

afterEach(() => {
  vi.useRealTimers()
})

describe('resolveEntry', () => {
  const entry = (value: unknown) => parseConfig({ discovery: [value] }).discovery[0]!

  it('makes one backend per A and AAAA address, IPv6 in brackets, with stable ids', async () => {
    const { resolver, records } = stubResolver()
    records.a.set('api.internal', ['10.0.0.2', '10.0.0.1'])
    records.aaaa.set('api.internal', ['fd00::1'])
    const backends = await resolveEntry(entry('dns:api.internal:8080'), resolver)
    expect(backends.map((b) => b.url)).toEqual([
      'http://10.0.0.1:8080',
      'http://10.0.0.2:8080',
      'http://[fd00::1]:8080',
    ])
    expect(backends[0]).toMatchObject({
      weight: 1,
      backup: false,
      meta: { source: 'dns:api.internal:8080' },
    })
    const again = await resolveEntry(entry('dns:api.internal:8080'), resolver)
    expect(again.map((b) => b.id)).toEqual(backends.map((b) => b.id))
  })

  it('asks only for the family configured, and fails only when every family fails', async () => {
    const { resolver, records, lookups } = stubResolver()
    records.a.set('v4.internal', ['10.0.0.1'])
    await resolveEntry(entry({ name: 'v4.internal', port: 80, type: 'A' }), resolver)
    expect(lookups).toEqual(['A v4.internal'])
    records.aaaa.set('v4.internal', new Error('SERVFAIL'))
    expect(await resolveEntry(entry('dns:v4.internal:80'), resolver)).toHaveLength(1)
    records.a.set('v4.internal', new Error('SERVFAIL'))
    await expect(resolveEntry(entry('dns:v4.internal:80'), resolver)).rejects.toThrow('SERVFAIL')
  })

  it('follows SRV records: targets and ports, weights, higher priorities as backups', async () => {
    const { resolver, records } = stubResolver()
    records.srv.set('_http._tcp.web.internal', [
      { name: 'b.web.internal', port: 9002, priority: 20, weight: 1 },
      { name: 'a.web.internal.', port: 9001, priority: 10, weight: 3 },
      { name: '.', port: 0, priority: 10, weight: 1 },
    ])
    records.a.set('a.web.internal', ['10.0.0.1'])
    records.a.set('b.web.internal', ['10.0.0.2'])
    const backends = await resolveEntry(entry('dns+srv:_http._tcp.web.internal'), resolver)
    expect(backends.map(({ url, weight, backup }) => ({ url, weight, backup }))).toEqual([
      { url: 'http://10.0.0.1:9001', weight: 3, backup: false },
      { url: 'http://10.0.0.2:9002', weight: 1, backup: true },
    ])
  })
})

describe('DNS discovery in the balancer', () => {
  it('adds, keeps and drains backends as the answers change; a failed lookup keeps them (fake time)', async () => {
    vi.useFakeTimers()
    const { resolver, records } = stubResolver()
    records.a.set('app.internal', ['10.1.0.1', '10.1.0.2'])
    const { balancer, admin } = adminBalancer(
      {
        backends: ['http://127.0.0.1:9001'],
        discovery: [{ name: 'app.internal', port: 8080, type: 'A', interval: '10s' }],
      },
      undefined,
      { dns: resolver },
    )
    balancer.start()
    await vi.advanceTimersByTimeAsync(0)
    expect(urls(balancer)).toEqual([
      'http://10.1.0.1:8080',
      'http://10.1.0.2:8080',
      'http://127.0.0.1:9001',
    ])
    const listed = (await (await admin('GET', '/backends')).json()).backends
    expect(listed.map((b: { source: string }) => b.source)).toEqual([
      'config',
      'dns:app.internal:8080',
      'dns:app.internal:8080',
    ])

    // The group scales: one address goes, another comes.
    records.a.set('app.internal', ['10.1.0.2', '10.1.0.3'])
    await vi.advanceTimersByTimeAsync(11_000)
    expect(urls(balancer)).toEqual([
      'http://10.1.0.2:8080',
      'http://10.1.0.3:8080',
      'http://127.0.0.1:9001',
    ])

    // DNS fails: nothing changes.
    records.a.set('app.internal', new Error('ETIMEOUT'))
    await vi.advanceTimersByTimeAsync(11_000)
    expect(urls(balancer)).toHaveLength(3)

    // Discovered backends are not written into the effective config's backend list.
    const config = await (await admin('GET', '/config')).json()
    expect(config.backends.map((b: { url: string }) => b.url)).toEqual(['http://127.0.0.1:9001'])
    await balancer.stop()
  })

  it('never takes over a configured backend with the same address', async () => {
    vi.useFakeTimers()
    const { resolver, records } = stubResolver()
    records.a.set('app.internal', ['127.0.0.1'])
    const { balancer } = adminBalancer(
      {
        backends: [{ url: 'http://127.0.0.1:9001', weight: 5 }],
        discovery: [{ name: 'app.internal', port: 9001, type: 'A' }],
      },
      undefined,
      { dns: resolver },
    )
    balancer.start()
    await vi.advanceTimersByTimeAsync(0)
    expect([...balancer.pool.states()].map((s) => s.backend.weight)).toEqual([5])
    records.a.set('app.internal', [])
    await vi.advanceTimersByTimeAsync(20_000)
    expect(balancer.pool.size).toBe(1)
    await balancer.stop()
  })
})
