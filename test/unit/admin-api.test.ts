import { afterEach, describe, expect, it, vi } from 'vitest'
import { createTokenCheck, isAllowedHost } from '../../src/admin/auth.ts'
import { adminBalancer, TOKEN } from './admin-helpers.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'

afterEach(() => {
  vi.useRealTimers()
})

describe('admin auth', () => {
  it('refuses a request without a token: 401 with a Bearer challenge', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    const response = await admin('GET', '/backends', undefined, { authorization: '' })
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="fulcrum admin"')
    expect((await response.json()).error).toMatch(/Missing bearer token/)
  })

  it('refuses a wrong token, a token of another length and another scheme', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    for (const authorization of [
      `Bearer ${TOKEN.slice(0, -1)}x`,
      `Bearer ${TOKEN}x`,
      'Bearer x',
      `Basic ${btoa(`admin:${TOKEN}`)}`,
      `Bearer ${TOKEN} extra`,
    ]) {
      const response = await admin('GET', '/backends', undefined, { authorization })
      expect(response.status, authorization).toBe(401)
    }
    const wrong = await admin('GET', '/backends', undefined, { authorization: 'Bearer nope' })
    expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('refuses a token in the query string, even with a valid header', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    for (const name of ['token', 'access_token']) {
      const response = await admin('GET', `/backends?${name}=${TOKEN}`)
      expect(response.status).toBe(401)
      expect((await response.json()).error).toMatch(/not in the query string/)
    }
  })

  it('refuses a foreign Origin, an opaque Origin and a cross-site fetch; allows its own origin', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    for (const origin of ['https://evil.example', 'http://127.0.0.1:9091', 'null']) {
      const response = await admin('POST', '/backends', { url: B }, { origin })
      expect(response.status, origin).toBe(403)
      expect((await response.json()).error).toBe('Cross-origin request refused')
    }
    const crossSite = await admin('GET', '/backends', undefined, { 'sec-fetch-site': 'cross-site' })
    expect(crossSite.status).toBe(403)
    const own = await admin('GET', '/backends', undefined, { origin: 'http://127.0.0.1:9090' })
    expect(own.status).toBe(200)
  })

  it('refuses a Host that is not an IP literal, localhost or allowed (DNS rebinding)', async () => {
    const { admin } = adminBalancer({ backends: [A], admin: { allowedHosts: ['lb.internal'] } })
    const rebound = await admin('GET', '/backends', undefined, { host: 'attacker.example:9090' })
    expect(rebound.status).toBe(403)
    for (const host of ['localhost:9090', '[::1]:9090', '10.0.0.5:9090', 'LB.internal:9090']) {
      const response = await admin('GET', '/backends', undefined, { host })
      expect(response.status, host).toBe(200)
    }
    expect(isAllowedHost('')).toBe(false)
    expect(isAllowedHost('app.localhost')).toBe(true)
  })

  it('compares tokens through fixed-length MACs', async () => {
    const check = createTokenCheck('secret-token-123456')
    expect(await check('secret-token-123456')).toBe(true)
    expect(await check('secret-token-12345')).toBe(false)
    expect(await check('')).toBe(false)
  })

  it('serves the dashboard shell without the token, with a strict CSP, and no data', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    const page = await admin('GET', '/dashboard', undefined, { authorization: '' })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(page.headers.get('x-frame-options')).toBe('DENY')
    const html = await page.text()
    expect(html).toContain('/dashboard/app.js')
    expect(html).not.toContain(A.replace('http://', ''))
    const script = await admin('GET', '/dashboard/app.js', undefined, { authorization: '' })
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/)
    expect(await script.text()).toContain("'Bearer ' + token()")
    const css = await admin('GET', '/dashboard/app.css', undefined, { authorization: '' })
    expect(css.status).toBe(200)
    // Anything else under the admin app still needs the token.
    const stats = await admin('GET', '/stats', undefined, { authorization: '' })
    expect(stats.status).toBe(401)
  })

  it('answers unknown routes 404 JSON, after auth', async () => {
    const { admin } = adminBalancer()
    expect((await admin('GET', '/nope', undefined, { authorization: '' })).status).toBe(401)
    const response = await admin('GET', '/nope')
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({ error: 'No route GET /nope' })
  })
})

describe('GET /backends', () => {
  it('lists each backend with its state, weight, inflight, EWMA and last probe', async () => {
    const { admin, balancer } = adminBalancer({ backends: [A, `${B}=3`] })
    balancer.pool.recordProbe(balancer.pool.eligible()[0]!.id, false, 'ECONNREFUSED')
    const response = await admin('GET', '/backends')
    expect(response.status).toBe(200)
    const { backends } = await response.json()
    expect(backends).toHaveLength(2)
    expect(backends[0]).toMatchObject({
      url: A,
      weight: 1,
      effectiveWeight: 1,
      state: 'up',
      healthy: true,
      enabled: true,
      draining: false,
      ejected: false,
      inflight: 0,
      ewmaMs: 0,
      source: 'config',
      lease: null,
      lastProbe: { ok: false, reason: 'ECONNREFUSED' },
    })
    expect(backends[1]).toMatchObject({ url: B, weight: 3, lastProbe: null })
    const one = await admin('GET', `/backends/${backends[1].id}`)
    expect((await one.json()).url).toBe(B)
    expect((await admin('GET', '/backends/nope')).status).toBe(404)
  })
})

describe('POST /backends', () => {
  it('registers a backend that then gets traffic', async () => {
    const { admin, get, calls } = adminBalancer({ backends: [A] })
    const response = await admin('POST', '/backends', { url: B, weight: 1, id: 'web-2' })
    expect(response.status).toBe(201)
    expect(response.headers.get('location')).toBe('/backends/web-2')
    expect(await response.json()).toMatchObject({ id: 'web-2', url: B, source: 'admin' })
    for (let i = 0; i < 4; i++) await get('/')
    expect(calls.filter((c) => c === B)).toHaveLength(2)
  })

  it('names each wrong field with its path (400)', async () => {
    const { admin } = adminBalancer()
    const response = await admin('POST', '/backends', {
      url: 'ftp://x',
      weight: 0,
      ttl: 'soon',
      colour: 'red',
    })
    expect(response.status).toBe(400)
    const body = await response.json()
    expect(body.issues.map((i: { path: string }) => i.path).sort()).toEqual([
      'colour',
      'ttl',
      'url',
      'weight',
    ])
    expect(body.error).toContain('url: Unsupported scheme ftp')
    expect(body.error).toContain('colour: Unknown key')
  })

  it('refuses bodies that are not JSON: 415 without the content type, 400 when malformed', async () => {
    const { admin } = adminBalancer()
    const form = await admin('POST', '/backends', `url=${B}`, {
      'content-type': 'application/x-www-form-urlencoded',
    })
    expect(form.status).toBe(415)
    const broken = await admin('POST', '/backends', '{"url":', {})
    expect(broken.status).toBe(400)
    expect((await broken.json()).error).toMatch(/^Invalid JSON/)
    const array = await admin('POST', '/backends', [B])
    expect(array.status).toBe(400)
    const huge = await admin(
      'POST',
      '/backends',
      JSON.stringify({ url: B, pad: 'x'.repeat(1 << 20) }),
    )
    expect(huge.status).toBe(413)
  })

  it('is idempotent for the same id and URL, and refuses a taken id or URL (409)', async () => {
    const { admin } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    expect((await admin('POST', '/backends', { url: A, id: 'a', weight: 5 })).status).toBe(200)
    expect((await (await admin('GET', '/backends/a')).json()).weight).toBe(5)
    const takenId = await admin('POST', '/backends', { url: B, id: 'a' })
    expect(takenId.status).toBe(409)
    expect((await takenId.json()).error).toBe(`Backend id a is already used by ${A}`)
    const takenUrl = await admin('POST', '/backends', { url: A, id: 'other' })
    expect(takenUrl.status).toBe(409)
  })

  it('can register a backend disabled or draining, or as a backup', async () => {
    const { admin, get, calls } = adminBalancer({ backends: [A] })
    await admin('POST', '/backends', { url: B, enabled: false })
    await admin('POST', '/backends', { url: C, backup: true })
    for (let i = 0; i < 3; i++) await get('/')
    expect(new Set(calls)).toEqual(new Set([A]))
  })
})

describe('PATCH /backends/:id', () => {
  it('changes the weight, and the selector follows', async () => {
    const { admin, get, calls } = adminBalancer({
      backends: [
        { url: A, id: 'a' },
        { url: B, id: 'b' },
      ],
      strategy: 'weighted-round-robin',
    })
    const response = await admin('PATCH', '/backends/b', { weight: 3 })
    expect(response.status).toBe(200)
    expect((await response.json()).weight).toBe(3)
    for (let i = 0; i < 8; i++) await get('/')
    expect(calls.filter((c) => c === B)).toHaveLength(6)
  })

  it('disables, enables, drains and undrains', async () => {
    const { admin, get, calls } = adminBalancer({
      backends: [
        { url: A, id: 'a' },
        { url: B, id: 'b' },
      ],
    })
    expect((await (await admin('PATCH', '/backends/b', { enabled: false })).json()).state).toBe(
      'disabled',
    )
    for (let i = 0; i < 3; i++) await get('/')
    expect(calls.filter((c) => c === B)).toHaveLength(0)
    await admin('PATCH', '/backends/b', { enabled: true, draining: true })
    expect((await (await admin('GET', '/backends/b')).json()).state).toBe('draining')
    for (let i = 0; i < 3; i++) await get('/')
    expect(calls.filter((c) => c === B)).toHaveLength(0)
    await admin('PATCH', '/backends/b', { draining: false })
    for (let i = 0; i < 2; i++) await get('/')
    expect(calls.filter((c) => c === B)).toHaveLength(1)
  })

  it('validates the patch and answers 404 for an unknown backend', async () => {
    const { admin } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    const empty = await admin('PATCH', '/backends/a', {})
    expect(empty.status).toBe(400)
    expect((await empty.json()).error).toBe('(body): Expected weight, enabled or draining')
    const bad = await admin('PATCH', '/backends/a', { weight: 1.5, url: B })
    expect(bad.status).toBe(400)
    expect((await bad.json()).issues.map((i: { path: string }) => i.path).sort()).toEqual([
      'url',
      'weight',
    ])
    expect((await admin('PATCH', '/backends/zz', { weight: 2 })).status).toBe(404)
  })
})

describe('DELETE /backends/:id', () => {
  it('drains, then removes once the requests in flight have finished', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const { admin, balancer } = adminBalancer(
      {
        backends: [
          { url: A, id: 'a' },
          { url: B, id: 'b' },
        ],
      },
      (url) =>
        new URL(url).origin === A
          ? new Response(
              new ReadableStream({
                async pull(controller) {
                  await held
                  controller.enqueue(new TextEncoder().encode('slow'))
                  controller.close()
                },
              }),
            )
          : new Response('b'),
    )
    // A request to a is in flight: its body has not been read.
    const slow = await balancer.app.request('http://x/', { headers: { host: 'x' } }, {})
    expect(balancer.pool.get('a')!.inflight).toBe(1)
    const response = await admin('DELETE', '/backends/a')
    expect(response.status).toBe(202)
    expect(await response.json()).toMatchObject({ id: 'a', removed: false, draining: true })
    expect((await (await admin('GET', '/backends/a')).json()).removing).toBe(true)
    release()
    expect(await slow.text()).toBe('slow')
    expect(balancer.pool.get('a')).toBeUndefined()
    expect((await admin('GET', '/backends/a')).status).toBe(404)
    // And it is gone from the effective config.
    const config = await (await admin('GET', '/config')).json()
    expect(config.backends.map((b: { id: string }) => b.id)).toEqual(['b'])
  })

  it('removes at once when nothing is in flight, or with force=true', async () => {
    const { admin, balancer } = adminBalancer(
      {
        backends: [
          { url: A, id: 'a' },
          { url: B, id: 'b' },
        ],
      },
      () => new Response(new ReadableStream({ pull() {} })),
    )
    expect(await (await admin('DELETE', '/backends/b')).json()).toEqual({ id: 'b', removed: true })
    await balancer.app.request('http://x/', { headers: { host: 'x' } }, {})
    expect(balancer.pool.get('a')!.inflight).toBe(1)
    const forced = await admin('DELETE', '/backends/a?force=true')
    expect(forced.status).toBe(200)
    expect(balancer.pool.size).toBe(0)
    expect((await admin('DELETE', '/backends/a')).status).toBe(404)
    expect((await admin('DELETE', '/backends/a?force=maybe')).status).toBe(400)
  })

  it('removes a backend that never drains after admin.drainTimeout (fake time)', async () => {
    vi.useFakeTimers()
    const { admin, balancer } = adminBalancer(
      { backends: [{ url: A, id: 'a' }], admin: { drainTimeout: '5s' } },
      () => new Response(new ReadableStream({ pull() {} })),
    )
    await balancer.app.request('http://x/', { headers: { host: 'x' } }, {})
    expect((await admin('DELETE', '/backends/a')).status).toBe(202)
    vi.advanceTimersByTime(4999)
    expect(balancer.pool.get('a')).toBeDefined()
    vi.advanceTimersByTime(1)
    expect(balancer.pool.get('a')).toBeUndefined()
  })
})

describe('TTL leases and heartbeats', () => {
  it('removes a backend whose lease lapses; heartbeats keep it (fake time)', async () => {
    vi.useFakeTimers()
    const { admin, balancer } = adminBalancer({ backends: [A] })
    const created = await admin('POST', '/backends', { url: B, id: 'self', ttl: '10s' })
    expect((await created.json()).lease).toEqual({
      ttl: 10_000,
      expiresAt: new Date(Date.now() + 10_000).toISOString(),
    })
    vi.advanceTimersByTime(9000)
    const beat = await admin('POST', '/backends/self/heartbeat')
    expect(beat.status).toBe(200)
    expect((await beat.json()).lease.ttl).toBe(10_000)
    vi.advanceTimersByTime(9000)
    expect(balancer.pool.get('self')).toBeDefined()
    // A heartbeat may carry an empty JSON object too.
    expect((await admin('POST', '/backends/self/heartbeat', {})).status).toBe(200)
    vi.advanceTimersByTime(9999)
    expect(balancer.pool.get('self')).toBeDefined()
    vi.advanceTimersByTime(1)
    expect(balancer.pool.get('self')).toBeUndefined()
    expect((await admin('POST', '/backends/self/heartbeat')).status).toBe(404)
  })

  it('answers 409 to a heartbeat for a backend without a lease; re-registering without ttl drops it', async () => {
    vi.useFakeTimers()
    const { admin, balancer } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    const response = await admin('POST', '/backends/a/heartbeat')
    expect(response.status).toBe(409)
    expect((await response.json()).error).toBe(
      'Backend a holds no TTL lease (register it with a ttl)',
    )
    await admin('POST', '/backends', { url: B, id: 'b', ttl: '2s' })
    await admin('POST', '/backends', { url: B, id: 'b' })
    vi.advanceTimersByTime(60_000)
    expect(balancer.pool.get('b')).toBeDefined()
  })

  it('refuses a TTL below 1s', async () => {
    const { admin } = adminBalancer()
    const response = await admin('POST', '/backends', { url: B, ttl: 500 })
    expect(response.status).toBe(400)
    expect((await response.json()).error).toBe('ttl: Expected at least 1s')
  })
})

describe('GET/PUT /strategy', () => {
  it('switches the strategy at run time; the new selector is used at once', async () => {
    const { admin, balancer, get, calls } = adminBalancer(
      {
        backends: [
          { url: A, id: 'a' },
          { url: B, id: 'b' },
        ],
      },
      (url) =>
        new URL(url).origin === A
          ? new Response(new ReadableStream({ pull() {} }))
          : new Response('b'),
    )
    const before = await (await admin('GET', '/strategy')).json()
    expect(before.strategy).toBe('round-robin')
    expect(before.available).toContain('least-connections')
    // One request hangs on a; least-connections must then prefer b every time.
    await balancer.app.request('http://x/', { headers: { host: 'x' } }, {})
    const put = await admin('PUT', '/strategy', { strategy: 'least-connections' })
    expect(put.status).toBe(200)
    calls.length = 0
    for (let i = 0; i < 4; i++) await get('/')
    expect(calls).toEqual([B, B, B, B])
    expect((await (await admin('GET', '/config')).json()).strategy).toBe('least-connections')
  })

  it('takes strategy options, and validates both', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    const ok = await admin('PUT', '/strategy', {
      strategy: 'consistent-hash',
      strategyOptions: { consistentHash: { key: 'header:x-user' } },
    })
    expect((await ok.json()).strategyOptions.consistentHash.key).toBe('header:x-user')
    const bad = await admin('PUT', '/strategy', {
      strategy: 'fastest',
      strategyOptions: { consistentHash: { key: 'nose' } },
    })
    expect(bad.status).toBe(400)
    expect((await bad.json()).issues.map((i: { path: string }) => i.path)).toEqual([
      'strategy',
      'strategyOptions.consistentHash.key',
    ])
  })
})

describe('GET/PUT /config', () => {
  it('serves the effective config with a strong ETag, secrets redacted', async () => {
    const { admin } = adminBalancer({
      backends: [A],
      sticky: { secret: 'a-sticky-secret-of-32-characters' },
    })
    const response = await admin('GET', '/config')
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{16}"$/)
    const config = await response.json()
    expect(config.sticky.secret).toBe('<redacted>')
    expect(config.admin.token).toBeUndefined()
    expect(JSON.stringify(config)).not.toContain(TOKEN)
    expect(config.healthCheck.expectStatus).toBe('200-399')
  })

  it('needs If-Match: 428 without it, 412 with a stale ETag', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    const etag = (await admin('GET', '/config')).headers.get('etag')!
    const missing = await admin('PUT', '/config', { backends: [B] })
    expect(missing.status).toBe(428)
    // Another writer changes the config in between.
    await admin('POST', '/backends', { url: C })
    const stale = await admin('PUT', '/config', { backends: [B] }, { 'if-match': etag })
    expect(stale.status).toBe(412)
    expect(stale.headers.get('etag')).not.toBe(etag)
    const fresh = (await admin('GET', '/config')).headers.get('etag')!
    const ok = await admin('PUT', '/config', { backends: [B] }, { 'if-match': fresh })
    expect(ok.status).toBe(200)
    expect(ok.headers.get('etag')).not.toBe(fresh)
  })

  it('dry-runs: reports what would change and changes nothing', async () => {
    const { admin, balancer } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    const etag = (await admin('GET', '/config')).headers.get('etag')!
    const response = await admin('PUT', '/config?dryRun=true', {
      backends: [{ url: B, id: 'b' }],
      strategy: 'random',
      healthCheck: { enabled: false },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      dryRun: true,
      changes: {
        backends: { added: ['b'], removed: ['a'], updated: [] },
        sections: ['backends', 'strategy'],
      },
    })
    expect([...balancer.pool.states()].map((s) => s.backend.id)).toEqual(['a'])
    expect((await admin('GET', '/config')).headers.get('etag')).toBe(etag)
  })

  it('swaps the whole config: backends drained and added, strategy rebuilt', async () => {
    const { admin, balancer, get, calls } = adminBalancer({ backends: [{ url: A, id: 'a' }] })
    const config = await (await admin('GET', '/config')).json()
    config.backends = [
      { url: B, id: 'b' },
      { url: C, id: 'c', weight: 3 },
    ]
    config.strategy = 'weighted-round-robin'
    const etag = (await admin('GET', '/config')).headers.get('etag')!
    const response = await admin('PUT', '/config', config, { 'if-match': etag })
    expect(response.status).toBe(200)
    expect((await response.json()).changes.backends).toEqual({
      added: ['b', 'c'],
      removed: ['a'],
      updated: [],
    })
    expect([...balancer.pool.states()].map((s) => s.backend.id)).toEqual(['b', 'c'])
    for (let i = 0; i < 8; i++) await get('/')
    expect(calls.filter((c) => c === C)).toHaveLength(6)
    expect(balancer.config.strategy).toBe('weighted-round-robin')
  })

  it('names wrong fields, and refuses changes that need a restart', async () => {
    const { admin } = adminBalancer({ backends: [A] })
    const bad = await admin(
      'PUT',
      '/config',
      { backends: ['ftp://x'], strategy: 'fastest' },
      { 'if-match': '*' },
    )
    expect(bad.status).toBe(400)
    expect((await bad.json()).issues.map((i: { path: string }) => i.path)).toEqual([
      'backends.0.url',
      'strategy',
    ])
    const restart = await admin(
      'PUT',
      '/config',
      { listen: { port: 1234 }, admin: { port: 1 } },
      { 'if-match': '*' },
    )
    expect(restart.status).toBe(400)
    expect((await restart.json()).issues).toEqual([
      { path: 'listen', message: 'Cannot change while running: restart fulcrum' },
      { path: 'admin', message: 'Cannot change while running: restart fulcrum' },
    ])
    const notObject = await admin('PUT', '/config', [1], { 'if-match': '*' })
    expect(notObject.status).toBe(400)
  })

  it('keeps the current secret where the body says <redacted>', async () => {
    const secret = 'a-sticky-secret-of-32-characters'
    const { admin, balancer } = adminBalancer({ backends: [A], sticky: { secret } })
    const config = await (await admin('GET', '/config')).json()
    config.sticky.maxAge = '2h'
    const response = await admin('PUT', '/config', config, { 'if-match': '*' })
    expect(response.status).toBe(200)
    expect(balancer.config.sticky.secret).toBe(secret)
    expect(balancer.config.sticky.maxAge).toBe(7_200_000)
  })
})

describe('the public port', () => {
  it('never serves admin routes: they are proxied like any other path', async () => {
    const { get, calls } = adminBalancer({ backends: [A] })
    for (const path of ['/backends', '/metrics', '/dashboard', '/config']) {
      const response = await get(path, { headers: { authorization: `Bearer ${TOKEN}` } })
      expect(response.text).toBe(A)
    }
    expect(calls).toHaveLength(4)
  })
})
