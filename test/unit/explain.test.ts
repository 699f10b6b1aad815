import { describe, expect, it } from 'vitest'
import { toConfigInput } from '../../src/admin/config-input.ts'
import { parseConfig } from '../../src/config.ts'
import { createStickySessions } from '../../src/sticky.ts'
import { adminBalancer } from './admin-helpers.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'
const three = [
  { url: A, id: 'a' },
  { url: B, id: 'b' },
  { url: C, id: 'c' },
]

describe('GET /explain', () => {
  it('shows the consistent-hash key, the candidates in order and the pick, which the proxy follows', async () => {
    const { admin, get, calls } = adminBalancer({ backends: three, strategy: 'consistent-hash' })
    const response = await admin('GET', '/explain?method=GET&path=/cart&ip=198.51.100.9')
    expect(response.status).toBe(200)
    const body = await response.json()
    expect(body).toMatchObject({
      request: { method: 'GET', path: '/cart', ip: '198.51.100.9' },
      strategy: 'consistent-hash',
      deterministic: true,
      hashKey: { source: 'ip', value: '198.51.100.9' },
      sticky: { enabled: false },
    })
    expect(body.candidates.map((c: { rank: number }) => c.rank)).toEqual([1, 2, 3])
    expect(new Set(body.candidates.map((c: { id: string }) => c.id))).toEqual(
      new Set(['a', 'b', 'c']),
    )
    expect(body.chosen).toBe(body.candidates[0].id)
    // The real request from that address goes where explain said.
    await get('/cart', {}, '198.51.100.9')
    expect(calls).toEqual([three.find((b) => b.id === body.chosen)!.url])
  })

  it('explains exclusions: down, draining, disabled, backups on standby', async () => {
    const { admin, balancer } = adminBalancer({
      backends: [...three, { url: 'http://127.0.0.1:9004', id: 'd', backup: true }],
      strategy: 'least-connections',
    })
    for (let i = 0; i < 3; i++) balancer.pool.recordProbe('a', false, 'refused')
    await admin('PATCH', '/backends/b', { draining: true })
    const body = await (await admin('GET', '/explain?path=/')).json()
    expect(body.chosen).toBe('c')
    expect(body.candidates).toEqual([expect.objectContaining({ rank: 1, id: 'c', score: 0 })])
    expect(
      Object.fromEntries(
        body.excluded.map((e: { id: string; reason: string }) => [e.id, e.reason]),
      ),
    ).toEqual({
      a: 'down',
      b: 'draining',
      d: 'backup: serves only when no primary is up',
    })
  })

  it('gives the sticky verdict for a cookie: pinned, invalid, or falling back', async () => {
    const secret = 'a-sticky-secret-of-32-characters'
    const { admin, balancer } = adminBalancer({ backends: three, sticky: { secret } })
    const sessions = createStickySessions({ cookie: 'lb_sid', maxAge: 3_600_000, secret })
    const cookie = `lb_sid=${(await sessions.issue('b')).value}`
    const pinned = await (
      await admin('GET', `/explain?cookie=${encodeURIComponent(cookie)}`)
    ).json()
    expect(pinned.chosen).toBe('b')
    expect(pinned.sticky).toMatchObject({ enabled: true, cookie: 'lb_sid', pinnedTo: 'b' })
    expect(pinned.sticky.verdict).toMatch(/^pinned backend is available/)
    const forged = await (await admin('GET', '/explain?cookie=lb_sid%3Dabc.def')).json()
    expect(forged.sticky.verdict).toMatch(/^invalid/)
    await admin('PATCH', '/backends/b', { enabled: false })
    const moved = await (await admin('GET', `/explain?cookie=${encodeURIComponent(cookie)}`)).json()
    expect(moved.chosen).not.toBe('b')
    expect(moved.sticky.verdict).toMatch(/falls back/)
    expect(balancer.pool.get('b')!.enabled).toBe(false)
  })

  it('reads header keys, and says when no backend is available', async () => {
    const { admin } = adminBalancer({
      backends: three,
      strategy: 'consistent-hash',
      strategyOptions: { consistentHash: { key: 'header:x-user' } },
    })
    const body = await (await admin('GET', '/explain?header=X-User:%20alice')).json()
    expect(body.hashKey).toEqual({ source: 'header:x-user', value: 'alice' })
    const empty = adminBalancer({})
    const none = await (await empty.admin('GET', '/explain')).json()
    expect(none).toMatchObject({
      chosen: null,
      verdict: 'No backend available: the request would get 503',
    })
  })

  it('refuses malformed parameters with 400', async () => {
    const { admin } = adminBalancer({ backends: three })
    for (const query of ['ip=999.1.1.1', 'path=nope', 'method=G%20T', 'header=novalue']) {
      const response = await admin('GET', `/explain?${query}`)
      expect(response.status, query).toBe(400)
      expect((await response.json()).error).toMatch(/^(ip|path|method|header): /)
    }
  })
})

describe('toConfigInput', () => {
  it('round-trips a rich config through parseConfig', () => {
    const config = parseConfig({
      backends: [`${A}=2`, { url: B, backup: true, id: 'bee' }],
      strategy: 'consistent-hash',
      strategyOptions: { consistentHash: { key: 'cookie:uid', epsilon: null } },
      healthCheck: { path: '/healthz', interval: '3s', expectStatus: '204' },
      sticky: { secrets: [{ kid: 'k2', secret: 'x'.repeat(20) }], maxAge: '10m' },
      discovery: ['dns:api.internal:8080'],
      accessLog: { path: '-', format: 'combined' },
      admin: { port: 0, stateFile: '/tmp/s.json' },
      tls: { enabled: true },
    })
    expect(parseConfig(toConfigInput(config))).toEqual(config)
    expect(toConfigInput(config).healthCheck).toMatchObject({ expectStatus: '204' })
  })
})
