import { afterEach, describe, expect, it, vi } from 'vitest'
import { parseConfig, type ConfigInput } from '../../../src/config.ts'
import { adminBalancer, type Answer } from '../admin-helpers.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'
const D = 'http://127.0.0.1:9004'
const E = 'http://127.0.0.1:9005'
const SECRET = 'a-sticky-secret-of-32-characters'
const OTHER = 'another-sticky-secret-32-chars!!'

/** Three pools and `default`, one backend each, behind three routes (one a 90/10 split). */
const routed = {
  backends: [{ url: D, id: 'd' }],
  pools: {
    api: { backends: [{ url: A, id: 'a' }] },
    web: { backends: [{ url: B, id: 'b' }] },
    'web-v2': { backends: [{ url: C, id: 'c' }] },
  },
  routes: [
    { name: 'api', match: { path: '/api/*' }, pool: 'api' },
    {
      name: 'shop',
      match: { path: '/shop/*' },
      pools: [
        { pool: 'web', weight: 90 },
        { pool: 'web-v2', weight: 10 },
      ],
    },
    { name: 'site', pool: 'default' },
  ],
} satisfies ConfigInput

/** An admin API answer's JSON, read loosely: the tests check its shape. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any

/** The admin helpers over the routed config (or another), with JSON answers. */
function setup(config: ConfigInput = routed, answer?: Answer, deps = {}) {
  const parts = adminBalancer(config, answer, deps)
  const json = async (method: string, path: string, body?: unknown, headers?: HeadersInit) => {
    const response = await parts.admin(method, path, body, headers)
    return {
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Json,
    }
  }
  /** The backends `n` requests to `path` reached, in order. */
  const reached = async (path: string, n: number) => {
    parts.calls.length = 0
    for (let i = 0; i < n; i++) await parts.get(path)
    return [...parts.calls]
  }
  return { ...parts, json, reached }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('GET /pools', () => {
  it('lists every pool, default first, with its strategy, backends and routes', async () => {
    const { json } = setup({
      ...routed,
      pools: { ...routed.pools, api: { ...routed.pools.api, strategy: 'least-time' } },
    })
    const { status, body } = await json('GET', '/pools')
    expect(status).toBe(200)
    expect(Object.keys(body)).toEqual(['pools'])
    expect(body.pools.map((p: { name: string }) => p.name)).toEqual([
      'default',
      'api',
      'web',
      'web-v2',
    ])
    const [defaults, api, web, v2] = body.pools
    expect(api).toMatchObject({
      name: 'api',
      strategy: 'least-time',
      backends: [
        {
          id: 'a',
          url: A,
          state: 'up',
          healthy: true,
          enabled: true,
          draining: false,
          weight: 1,
          inflight: 0,
          source: 'config',
        },
      ],
      routes: ['api'],
    })
    expect(defaults).toMatchObject({ strategy: 'round-robin', routes: ['site'] })
    expect(defaults.backends.map((b: { id: string }) => b.id)).toEqual(['d'])
    // A pool in a split lists the route too.
    expect(web.routes).toEqual(['shop'])
    expect(v2.routes).toEqual(['shop'])
  })

  it('shows one pool at /pools/:pool, and 404 for an unknown one', async () => {
    const { json } = setup()
    const one = await json('GET', '/pools/web-v2')
    expect(one.status).toBe(200)
    expect(one.body).toMatchObject({ name: 'web-v2', backends: [{ id: 'c', url: C }] })
    const unknown = await json('GET', '/pools/nope')
    expect(unknown.status).toBe(404)
    expect(unknown.body).toEqual({ error: 'No pool nope' })
  })

  it('shows a flat config as the one pool default with its catch-all route', async () => {
    const { json } = setup({ backends: [A] })
    const { body } = await json('GET', '/pools')
    expect(body.pools).toHaveLength(1)
    expect(body.pools[0]).toMatchObject({
      name: 'default',
      strategy: 'round-robin',
      backends: [{ url: A, state: 'up' }],
      routes: ['route0'],
    })
  })
})

describe('/pools/:pool/backends', () => {
  it('lists, registers, changes, drains and removes the backends of one pool', async () => {
    const { json, reached } = setup()
    expect(
      (await json('GET', '/pools/api/backends')).body.backends.map((b: { id: string }) => b.id),
    ).toEqual(['a'])

    const created = await json('POST', '/pools/api/backends', { url: E, id: 'e' })
    expect(created.status).toBe(201)
    expect(created.headers.get('location')).toBe('/pools/api/backends/e')
    expect(created.body).toMatchObject({ id: 'e', url: E, source: 'admin', state: 'up' })
    // It takes the pool's traffic, and no other pool's.
    expect(await reached('/api/x', 4)).toEqual([A, E, A, E])
    expect(await reached('/other', 2)).toEqual([D, D])
    expect((await json('GET', '/backends')).body.backends.map((b: { id: string }) => b.id)).toEqual(
      ['d'],
    )

    expect((await json('GET', '/pools/api/backends/e')).body.url).toBe(E)
    const patched = await json('PATCH', '/pools/api/backends/e', { enabled: false })
    expect(patched.body.state).toBe('disabled')
    expect(await reached('/api/x', 3)).toEqual([A, A, A])

    // The effective config has it in the pool.
    const config = (await json('GET', '/config')).body
    expect(config.pools.api.backends.map((b: { id: string }) => b.id)).toEqual(['a', 'e'])
    expect(config.backends.map((b: { id: string }) => b.id)).toEqual(['d'])

    expect((await json('DELETE', '/pools/api/backends/e')).body).toEqual({ id: 'e', removed: true })
    expect((await json('GET', '/pools/api/backends/e')).status).toBe(404)
    const after = (await json('GET', '/config')).body
    expect(after.pools.api.backends.map((b: { id: string }) => b.id)).toEqual(['a'])
  })

  it('validates the body and names the field (400)', async () => {
    const { json } = setup()
    const bad = await json('POST', '/pools/api/backends', { url: 'ftp://x', weight: 0 })
    expect(bad.status).toBe(400)
    expect(bad.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['url', 'weight'])
    // A URL taken in this pool is a conflict; the same URL in another pool is not.
    expect((await json('POST', '/pools/api/backends', { url: A, id: 'other' })).status).toBe(409)
    expect((await json('POST', '/pools/web/backends', { url: A, id: 'a' })).status).toBe(201)
  })

  it('answers 404 for an unknown pool on every backend route', async () => {
    const { json } = setup()
    for (const [method, path, body] of [
      ['GET', '/pools/nope/backends', undefined],
      ['POST', '/pools/nope/backends', { url: E }],
      ['GET', '/pools/nope/backends/a', undefined],
      ['PATCH', '/pools/nope/backends/a', { weight: 2 }],
      ['DELETE', '/pools/nope/backends/a', undefined],
      ['POST', '/pools/nope/backends/a/heartbeat', undefined],
    ] as const) {
      const response = await json(method, path, body)
      expect(response.status, `${method} ${path}`).toBe(404)
      expect(response.body.error, `${method} ${path}`).toBe('No pool nope')
    }
    // A backend of another pool is not found through this one.
    expect((await json('GET', '/pools/web/backends/a')).status).toBe(404)
  })

  it('keeps a TTL registration alive by heartbeats, and removes it when they stop (fake time)', async () => {
    vi.useFakeTimers()
    const { json, balancer } = setup()
    const web = balancer.pools.get('web')!.pool
    const created = await json('POST', '/pools/web/backends', { url: E, id: 'self', ttl: '10s' })
    expect(created.body.lease).toEqual({
      ttl: 10_000,
      expiresAt: new Date(Date.now() + 10_000).toISOString(),
    })
    vi.advanceTimersByTime(9000)
    const beat = await json('POST', '/pools/web/backends/self/heartbeat')
    expect(beat.status).toBe(200)
    expect(beat.body).toEqual({
      id: 'self',
      lease: { ttl: 10_000, expiresAt: new Date(Date.now() + 10_000).toISOString() },
    })
    vi.advanceTimersByTime(9999)
    expect(web.get('self')).toBeDefined()
    vi.advanceTimersByTime(1)
    expect(web.get('self')).toBeUndefined()
    expect((await json('POST', '/pools/web/backends/self/heartbeat')).status).toBe(404)
    // Without a lease, a heartbeat is a conflict.
    expect((await json('POST', '/pools/web/backends/b/heartbeat')).status).toBe(409)
  })
})

describe('/backends is the pool default', () => {
  it('registers, lists and removes in default only', async () => {
    const { json, reached } = setup()
    expect((await json('POST', '/backends', { url: E, id: 'e' })).status).toBe(201)
    expect(await reached('/', 2)).toEqual([D, E])
    expect(await reached('/api/x', 2)).toEqual([A, A])
    const pools = (await json('GET', '/pools')).body.pools
    expect(pools[0].backends.map((b: { id: string }) => b.id)).toEqual(['d', 'e'])
    expect(pools[1].backends.map((b: { id: string }) => b.id)).toEqual(['a'])
    expect((await json('GET', '/backends/a')).status).toBe(404)
    expect((await json('DELETE', '/backends/e')).status).toBe(200)
    expect((await json('GET', '/pools/default/backends')).body.backends).toHaveLength(1)
  })
})

describe('PUT /pools/:pool/strategy', () => {
  it('switches one pool\u2019s strategy, and only that pool\u2019s', async () => {
    const hang = new Set([A])
    const { json, balancer, reached } = setup(
      {
        ...routed,
        backends: [
          { url: D, id: 'd' },
          { url: E, id: 'e' },
        ],
        pools: {
          ...routed.pools,
          api: {
            backends: [
              { url: A, id: 'a' },
              { url: E, id: 'e' },
            ],
          },
        },
      },
      (url) =>
        hang.has(new URL(url).origin)
          ? new Response(new ReadableStream({ pull() {} }))
          : new Response(new URL(url).origin),
    )
    // A request hangs on a (pool api): least-connections then prefers e there.
    await balancer.app.request('http://x/api/1', { headers: { host: 'x' } }, {})
    const put = await json('PUT', '/pools/api/strategy', { strategy: 'least-connections' })
    expect(put.status).toBe(200)
    expect(put.body).toEqual({ pool: 'api', strategy: 'least-connections' })
    expect(await reached('/api/x', 3)).toEqual([E, E, E])
    const pools = (await json('GET', '/pools')).body.pools
    expect(pools.map((p: { strategy: string }) => p.strategy)).toEqual([
      'round-robin',
      'least-connections',
      'round-robin',
      'round-robin',
    ])
    // The pool default still round-robins, and GET /strategy is still about it.
    expect(await reached('/', 2)).toEqual([D, E])
    expect((await json('GET', '/strategy')).body.strategy).toBe('round-robin')
    expect((await json('GET', '/config')).body.pools.api.strategy).toBe('least-connections')
  })

  it('validates the body, and answers 404 for an unknown pool', async () => {
    const { json } = setup()
    const bad = await json('PUT', '/pools/api/strategy', { strategy: 'fastest' })
    expect(bad.status).toBe(400)
    expect(bad.body.issues.map((i: { path: string }) => i.path)).toEqual(['strategy'])
    const unknown = await json('PUT', '/pools/nope/strategy', { strategy: 'random' })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toBe('No pool nope')
  })
})

describe('GET /routes', () => {
  it('lists the routes in match order with a strong ETag', async () => {
    const { json } = setup()
    const { status, headers, body } = await json('GET', '/routes')
    expect(status).toBe(200)
    expect(headers.get('etag')).toMatch(/^"[0-9a-f]{16}"$/)
    expect(body.routes.map((r: { name: string }) => r.name)).toEqual(['api', 'shop', 'site'])
    expect(body.routes[1]).toMatchObject({
      name: 'shop',
      match: { path: '/shop/*' },
      pools: [
        { pool: 'web', weight: 90 },
        { pool: 'web-v2', weight: 10 },
      ],
    })
    // The same routes, the same tag.
    expect((await json('GET', '/routes')).headers.get('etag')).toBe(headers.get('etag'))
  })
})

describe('PUT /routes', () => {
  const next = [
    { name: 'shop', match: { path: '/shop/*' }, pool: 'web-v2' },
    { name: 'site', pool: 'web' },
  ]

  it('needs If-Match: 428 without it, 412 with a stale ETag, 200 with the current one', async () => {
    const { json, reached } = setup()
    const etag = (await json('GET', '/routes')).headers.get('etag')!
    const missing = await json('PUT', '/routes', { routes: next })
    expect(missing.status).toBe(428)
    // Another writer changes the routes in between.
    await json('PATCH', '/routes/shop', {
      pools: [
        { pool: 'web', weight: 1 },
        { pool: 'web-v2', weight: 1 },
      ],
    })
    const stale = await json('PUT', '/routes', { routes: next }, { 'if-match': etag })
    expect(stale.status).toBe(412)
    const fresh = stale.headers.get('etag')!
    expect(fresh).not.toBe(etag)
    expect(fresh).toBe((await json('GET', '/routes')).headers.get('etag'))
    const ok = await json('PUT', '/routes', { routes: next }, { 'if-match': fresh })
    expect(ok.status).toBe(200)
    expect(ok.body.dryRun).toBe(false)
    expect(ok.body.routes.map((r: { name: string }) => r.name)).toEqual(['shop', 'site'])
    expect(ok.headers.get('etag')).toBe((await json('GET', '/routes')).headers.get('etag'))
    expect(ok.headers.get('etag')).not.toBe(fresh)
    // Traffic follows at once; the api route is gone.
    expect(await reached('/shop/x', 2)).toEqual([C, C])
    expect(await reached('/api/x', 2)).toEqual([B, B])
  })

  it('takes a bare array as well, and * as If-Match', async () => {
    const { json, reached } = setup()
    const ok = await json('PUT', '/routes', next, { 'if-match': '*' })
    expect(ok.status).toBe(200)
    expect(await reached('/shop/x', 1)).toEqual([C])
  })

  it('dry-runs without If-Match: validates and answers the routes, changes nothing', async () => {
    const { json, reached } = setup()
    const before = await json('GET', '/routes')
    const dry = await json('PUT', '/routes?dryRun=true', { routes: next })
    expect(dry.status).toBe(200)
    expect(dry.body).toEqual({
      dryRun: true,
      routes: [
        { name: 'shop', match: { path: '/shop/*' }, pool: 'web-v2', compress: false },
        { name: 'site', pool: 'web', compress: false },
      ],
    })
    expect(dry.headers.get('etag')).toBe(before.headers.get('etag'))
    expect((await json('GET', '/routes')).body).toEqual(before.body)
    expect(await reached('/api/x', 1)).toEqual([A])
    // A dry run still reports what is wrong.
    const wrong = await json('PUT', '/routes?dryRun=true', { routes: [{ pool: 'nope' }] })
    expect(wrong.status).toBe(400)
    expect((await json('PUT', '/routes?dryRun=maybe', { routes: next })).status).toBe(400)
  })

  it('refuses a shadowed route, an unknown pool and zero weights, naming routes.N (400)', async () => {
    const { json } = setup()
    const shadowed = await json(
      'PUT',
      '/routes',
      {
        routes: [
          { name: 'all', pool: 'web' },
          { name: 'api', match: { path: '/api/*' }, pool: 'api' },
        ],
      },
      { 'if-match': '*' },
    )
    expect(shadowed.status).toBe(400)
    expect(shadowed.body.issues).toEqual([
      {
        path: 'routes.1.match',
        message: 'Never matches: routes.0 (all) takes every request it would',
      },
    ])
    expect(shadowed.body.error).toContain('routes.1.match: Never matches')

    const unknown = await json(
      'PUT',
      '/routes',
      {
        routes: [
          { match: { path: '/a/*' }, pool: 'nope' },
          {
            pools: [
              { pool: 'web', weight: 0 },
              { pool: 'web-v2', weight: 0 },
            ],
          },
        ],
      },
      { 'if-match': '*' },
    )
    expect(unknown.status).toBe(400)
    expect(unknown.body.issues).toEqual([
      { path: 'routes.1.pools', message: 'The weights sum to 0' },
      { path: 'routes.0.pool', message: 'Unknown pool nope' },
    ])
    const notArray = await json('PUT', '/routes', { routes: {} }, { 'if-match': '*' })
    expect(notArray.status).toBe(400)
    expect(notArray.body.error).toBe('routes: Expected an array')
    // Nothing changed.
    const names = (await json('GET', '/routes')).body.routes.map((r: { name: string }) => r.name)
    expect(names).toEqual(['api', 'shop', 'site'])
  })
})

describe('pools with their own sticky keys', () => {
  it('survive PUT /routes, PUT /config and a restore: a pool\u2019s secrets beside a top-level secret', async () => {
    const fs = memoryFs()
    const config = {
      ...routed,
      sticky: { secret: SECRET },
      pools: {
        ...routed.pools,
        api: { ...routed.pools.api, sticky: { secrets: [{ kid: 'k2', secret: OTHER }] } },
      },
      admin: { stateFile: '/state.json' },
    } satisfies ConfigInput
    const first = setup(config, undefined, fs.deps)
    const routes = (await first.json('GET', '/routes')).body.routes
    const put = await first.json('PUT', '/routes', routes.slice(1), { 'if-match': '*' })
    expect(put.status).toBe(200)
    const view = (await first.json('GET', '/config')).body
    expect(view.pools.api.sticky.secrets).toEqual([{ kid: 'k2', secret: '<redacted>' }])
    expect(view.pools.api.sticky.secret).toBeUndefined()
    expect((await first.json('PUT', '/config', view, { 'if-match': '*' })).status).toBe(200)
    expect(first.balancer.config.pools.api!.sticky.secrets).toEqual([{ kid: 'k2', secret: OTHER }])
    await first.balancer.stop()

    const second = setup(config, undefined, fs.deps)
    expect(await second.balancer.restoreState()).toBe(true)
    expect(second.balancer.config.routes.map((r) => r.name)).toEqual(['shop', 'site'])
    expect(second.balancer.config.pools.api!.sticky).toMatchObject({
      secrets: [{ kid: 'k2', secret: OTHER }],
    })
    expect(second.balancer.config.sticky.secret).toBe(SECRET)
  })
})

describe('PATCH /routes/:name', () => {
  it('changes a split\u2019s weights at run time: 90/10, 50/50, 0/100', async () => {
    const { json, reached } = setup()
    const ninety = await reached('/shop/x', 10)
    expect(ninety.filter((b) => b === C)).toHaveLength(1)
    expect(ninety.filter((b) => b === B)).toHaveLength(9)

    const half = await json('PATCH', '/routes/shop', {
      pools: [
        { pool: 'web', weight: 50 },
        { pool: 'web-v2', weight: 50 },
      ],
    })
    expect(half.status).toBe(200)
    expect(half.body).toMatchObject({
      name: 'shop',
      match: { path: '/shop/*' },
      pools: [
        { pool: 'web', weight: 50 },
        { pool: 'web-v2', weight: 50 },
      ],
    })
    expect(half.headers.get('etag')).toBe((await json('GET', '/routes')).headers.get('etag'))
    expect(await reached('/shop/x', 4)).toEqual([B, C, B, C])

    await json('PATCH', '/routes/shop', {
      pools: [
        { pool: 'web', weight: 0 },
        { pool: 'web-v2', weight: 100 },
      ],
    })
    expect(await reached('/shop/x', 5)).toEqual([C, C, C, C, C])
    // The other routes are untouched.
    expect(await reached('/api/x', 1)).toEqual([A])
    expect((await json('GET', '/config')).body.routes[1].pools).toEqual([
      { pool: 'web', weight: 0 },
      { pool: 'web-v2', weight: 100 },
    ])
  })

  it('answers 400 for a route without a split, 404 for an unknown route', async () => {
    const { json } = setup()
    const noSplit = await json('PATCH', '/routes/api', {
      pools: [{ pool: 'api', weight: 1 }],
    })
    expect(noSplit.status).toBe(400)
    expect(noSplit.body.error).toBe('pools: Route api has no split to change')
    const unknown = await json('PATCH', '/routes/nope', { pools: [{ pool: 'web', weight: 1 }] })
    expect(unknown.status).toBe(404)
    expect(unknown.body.error).toBe('No route nope')
  })

  it('refuses what is not a weight change, and weights that sum to 0', async () => {
    const { json, reached } = setup()
    const other = await json('PATCH', '/routes/shop', { stripPrefix: '/shop' })
    expect(other.status).toBe(400)
    expect(other.body.issues.map((i: { path: string }) => i.path)).toEqual(['stripPrefix'])
    const zero = await json('PATCH', '/routes/shop', {
      pools: [
        { pool: 'web', weight: 0 },
        { pool: 'web-v2', weight: 0 },
      ],
    })
    expect(zero.status).toBe(400)
    expect(zero.body.error).toMatch(/The weights sum to 0/)
    const unknown = await json('PATCH', '/routes/shop', { pools: [{ pool: 'nope', weight: 1 }] })
    expect(unknown.status).toBe(400)
    expect(unknown.body.issues).toEqual([
      { path: 'routes.1.pools.0.pool', message: 'Unknown pool nope' },
    ])
    // The split is as it was.
    expect((await reached('/shop/x', 10)).filter((b) => b === C)).toHaveLength(1)
  })

  it('checks If-Match when given (412 when stale)', async () => {
    const { json } = setup()
    const weights = {
      pools: [
        { pool: 'web', weight: 1 },
        { pool: 'web-v2', weight: 1 },
      ],
    }
    const stale = await json('PATCH', '/routes/shop', weights, { 'if-match': '"0000000000000000"' })
    expect(stale.status).toBe(412)
    const etag = (await json('GET', '/routes')).headers.get('etag')!
    expect((await json('PATCH', '/routes/shop', weights, { 'if-match': etag })).status).toBe(200)
  })
})

describe('a config reload', () => {
  it('keeps an unchanged backend\u2019s health state and counters, adds and removes pools', async () => {
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    const { json, balancer, reached, get } = setup(
      {
        ...routed,
        pools: {
          ...routed.pools,
          api: { backends: [{ url: A, id: 'a' }], healthCheck: { enabled: false, fall: 2 } },
        },
      },
      (url) =>
        url.endsWith('/api/slow')
          ? new Response(
              new ReadableStream({
                async pull(controller) {
                  await held
                  controller.close()
                },
              }),
            )
          : new Response(new URL(url).origin),
    )
    const api = balancer.pools.get('api')!
    const state = api.pool.get('a')!
    api.pool.recordProbe('a', true)
    api.pool.recordProbe('a', false, 'ECONNREFUSED')
    api.pool.observeLatency(state.backend, 40)
    // One request in flight on a.
    const slow = await balancer.app.request('http://x/api/slow', { headers: { host: 'x' } }, {})
    const before = {
      healthy: state.healthy,
      consecutiveFailures: state.consecutiveFailures,
      probes: { ...state.probes },
      lastProbe: { ...state.lastProbe },
      latency: state.latency,
      inflight: state.inflight,
    }
    expect(before).toMatchObject({ healthy: true, consecutiveFailures: 1, inflight: 1 })
    expect(before.probes).toEqual({ ok: 1, failed: 1 })

    // The reload: api unchanged, web-v2 gone (its route with it), canary new.
    const changes = balancer.reload(
      parseConfig({
        healthCheck: { enabled: false },
        admin: balancer.config.admin,
        backends: [{ url: D, id: 'd' }],
        pools: {
          api: { backends: [{ url: A, id: 'a' }], healthCheck: { enabled: false, fall: 2 } },
          web: { backends: [{ url: B, id: 'b' }] },
          canary: { backends: [{ url: E, id: 'e' }] },
        },
        routes: [
          { name: 'api', match: { path: '/api/*' }, pool: 'api' },
          {
            name: 'shop',
            match: { path: '/shop/*' },
            pools: [
              { pool: 'web', weight: 1 },
              { pool: 'canary', weight: 1 },
            ],
          },
          { name: 'site', pool: 'default' },
        ],
      }),
    )
    expect(changes.backends).toEqual({ added: ['canary/e'], removed: ['web-v2/c'], updated: [] })
    expect(changes.sections).toEqual(expect.arrayContaining(['backends', 'pools', 'routes']))

    // The same pool, the same backend record, the same state.
    expect(balancer.pools.get('api')).toBe(api)
    expect(api.pool.get('a')).toBe(state)
    expect({
      healthy: state.healthy,
      consecutiveFailures: state.consecutiveFailures,
      probes: { ...state.probes },
      lastProbe: { ...state.lastProbe },
      latency: state.latency,
      inflight: state.inflight,
    }).toEqual(before)
    // One more failure makes two in a row: the count carried over (fall 2).
    api.pool.recordProbe('a', false, 'ECONNREFUSED')
    expect(state.healthy).toBe(false)
    api.pool.recordProbe('a', true)
    api.pool.recordProbe('a', true)
    expect(state.healthy).toBe(true)
    // The request in flight finishes normally and is counted off.
    release()
    await slow.text()
    expect(state.inflight).toBe(0)

    expect([...balancer.pools.keys()].sort()).toEqual(['api', 'canary', 'default', 'web'])
    const pools = (await json('GET', '/pools')).body.pools
    expect(pools.map((p: { name: string }) => p.name)).toEqual(['default', 'api', 'web', 'canary'])
    expect(pools[3]).toMatchObject({ backends: [{ id: 'e', url: E }], routes: ['shop'] })
    expect((await json('GET', '/pools/web-v2/backends')).status).toBe(404)
    expect(await reached('/shop/x', 4)).toEqual([B, E, B, E])
    expect((await get('/api/x')).text).toBe(A)
  })

  it('goes through PUT /config too, with the same pool-by-pool changes', async () => {
    const { json, balancer, reached } = setup()
    const api = balancer.pools.get('api')!
    const state = api.pool.get('a')!
    api.pool.recordProbe('a', false, 'timeout')
    const config = (await json('GET', '/config')).body
    const etag = (await json('GET', '/config')).headers.get('etag')!
    delete config.pools['web-v2']
    config.pools.fresh = { backends: [{ url: E, id: 'e' }] }
    config.routes = [
      { name: 'api', match: { path: '/api/*' }, pool: 'api' },
      { name: 'fresh', match: { path: '/fresh/*' }, pool: 'fresh' },
      { name: 'site', pool: 'web' },
    ]
    const dry = await json('PUT', '/config?dryRun=true', config)
    expect(dry.body.changes.backends).toEqual({
      added: ['fresh/e'],
      removed: ['web-v2/c'],
      updated: [],
    })
    expect(balancer.pools.has('fresh')).toBe(false)
    const put = await json('PUT', '/config', config, { 'if-match': etag })
    expect(put.status).toBe(200)
    expect(put.body.changes.backends).toEqual(dry.body.changes.backends)
    expect(api.pool.get('a')).toBe(state)
    expect(state.consecutiveFailures).toBe(1)
    expect(state.lastProbe).toMatchObject({ ok: false, reason: 'timeout' })
    expect(balancer.pools.has('web-v2')).toBe(false)
    expect(await reached('/fresh/x', 2)).toEqual([E, E])
    expect(await reached('/other', 1)).toEqual([B])
    // A route to a pool that is not there is refused, naming the route.
    const refused = await json(
      'PUT',
      '/config',
      { ...config, routes: [{ pool: 'web-v2' }] },
      { 'if-match': '*' },
    )
    expect(refused.status).toBe(400)
    expect(refused.body.issues).toEqual([{ path: 'routes.0.pool', message: 'Unknown pool web-v2' }])
  })

  it('keeps sticky pins to an unchanged backend across a reload', async () => {
    const sticky = {
      ...routed,
      pools: {
        ...routed.pools,
        api: {
          backends: [
            { url: A, id: 'a' },
            { url: E, id: 'e' },
          ],
          sticky: { secret: SECRET },
        },
      },
    } satisfies ConfigInput
    const { balancer, get, calls } = setup(sticky)
    const first = await get('/api/x')
    const cookie = first.headers.get('set-cookie')!.split(';')[0]!
    expect(cookie).toMatch(/^lb_sid=/)
    const pinned = first.text
    calls.length = 0
    for (let i = 0; i < 3; i++) await get('/api/x', { headers: { cookie } })
    expect(calls).toEqual([pinned, pinned, pinned])
    balancer.reload(
      parseConfig({
        ...sticky,
        healthCheck: { enabled: false },
        admin: balancer.config.admin,
        pools: { ...sticky.pools, extra: { backends: [{ url: D, id: 'x' }] } },
      }),
    )
    calls.length = 0
    for (let i = 0; i < 3; i++) await get('/api/x', { headers: { cookie } })
    expect(calls).toEqual([pinned, pinned, pinned])
  })
})

/** An in-memory file system behind `readTextFile` and `writeFileAtomic`. */
function memoryFs() {
  const files = new Map<string, string>()
  return {
    files,
    deps: {
      readTextFile: async (path: string) => {
        const text = files.get(path)
        if (text === undefined) throw new Error(`ENOENT: ${path}`)
        return text
      },
      writeFileAtomic: async (path: string, text: string) => {
        files.set(path, text)
      },
    },
  }
}

describe('the state file with pools', () => {
  const path = '/var/lib/fulcrum/state.json'
  const withState = {
    ...routed,
    pools: { ...routed.pools, api: { ...routed.pools.api, sticky: { secret: SECRET } } },
    admin: { stateFile: path },
  } satisfies ConfigInput

  it('survives a restart: pool backends, flags, leases, strategies and routes', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const fs = memoryFs()
    const first = setup(withState, undefined, fs.deps)
    expect(await first.balancer.restoreState()).toBe(false)
    await first.json('POST', '/pools/api/backends', { url: E, id: 'e', ttl: '30s' })
    await first.json('PATCH', '/pools/web/backends/b', { weight: 3 })
    await first.json('POST', '/pools/web/backends', { url: D, id: 'd2', enabled: false })
    await first.json('PUT', '/pools/api/strategy', { strategy: 'least-connections' })
    await first.json('PATCH', '/routes/shop', {
      pools: [
        { pool: 'web', weight: 50 },
        { pool: 'web-v2', weight: 50 },
      ],
    })
    await first.balancer.stop()

    const saved = JSON.parse(fs.files.get(path)!)
    expect(saved).toMatchObject({ fulcrum: 'state', version: 1 })
    expect(JSON.stringify(saved)).not.toContain(SECRET)
    expect(saved.config.pools.api.backends.map((b: { id: string }) => b.id)).toEqual(['a', 'e'])
    expect(saved.runtime).toEqual({
      'api/e': { enabled: true, draining: false, ttl: 30_000 },
      'web/d2': { enabled: false, draining: false },
    })

    // The restart: the same config file, the state file on top.
    const second = setup(withState, undefined, fs.deps)
    expect(await second.balancer.restoreState()).toBe(true)
    const pools = (await second.json('GET', '/pools')).body.pools
    const view = (name: string) =>
      pools
        .find((p: { name: string }) => p.name === name)
        .backends.map((b: Record<string, unknown>) => [b.id, b.weight, b.enabled])
    expect(view('default')).toEqual([['d', 1, true]])
    expect(view('api')).toEqual([
      ['a', 1, true],
      ['e', 1, true],
    ])
    expect(view('web')).toEqual([
      ['b', 3, true],
      ['d2', 1, false],
    ])
    expect(pools[1].strategy).toBe('least-connections')
    expect(pools[1].backends[1].lease.ttl).toBe(30_000)
    expect(second.balancer.config.pools.api!.sticky.secret).toBe(SECRET)
    const routes = (await second.json('GET', '/routes')).body.routes
    expect(routes[1].pools).toEqual([
      { pool: 'web', weight: 50 },
      { pool: 'web-v2', weight: 50 },
    ])
    expect(await second.reached('/shop/x', 2)).toEqual([B, C])
    // The restored lease runs: without a heartbeat, e goes.
    vi.advanceTimersByTime(30_000)
    expect(second.balancer.pools.get('api')!.pool.get('e')).toBeUndefined()
    await second.balancer.stop()
  })

  it('restores a pool the config file does not have, with its routes', async () => {
    const fs = memoryFs()
    const first = setup(withState, undefined, fs.deps)
    const config = (await first.json('GET', '/config')).body
    config.pools.extra = { backends: [{ url: E, id: 'x' }] }
    config.routes = [
      { name: 'extra', match: { path: '/extra/*' }, pool: 'extra' },
      ...config.routes,
    ]
    expect((await first.json('PUT', '/config', config, { 'if-match': '*' })).status).toBe(200)
    await first.balancer.stop()

    const second = setup(withState, undefined, fs.deps)
    await second.balancer.restoreState()
    expect(second.balancer.pools.has('extra')).toBe(true)
    expect(await second.reached('/extra/1', 1)).toEqual([E])
    expect(second.balancer.config.pools.api!.sticky.secret).toBe(SECRET)
    await second.balancer.stop()
  })
})

describe('ETags and If-Match on every resource that changes (one instance)', () => {
  it('a backend: GET gives a strong ETag, a change moves it, a stale If-Match gets 412', async () => {
    const { json } = setup()
    const first = await json('GET', '/pools/api/backends/a')
    const tag = first.headers.get('etag')!
    expect(tag).toMatch(/^"[0-9a-f]{16}"$/)
    const changed = await json('PATCH', '/pools/api/backends/a', { weight: 5 }, { 'if-match': tag })
    expect(changed.status).toBe(200)
    expect(changed.body.weight).toBe(5)
    const next = changed.headers.get('etag')!
    expect(next).not.toBe(tag)
    expect((await json('GET', '/pools/api/backends/a')).headers.get('etag')).toBe(next)
    // The old tag is stale: the change is refused and nothing moves.
    const stale = await json('PATCH', '/pools/api/backends/a', { weight: 7 }, { 'if-match': tag })
    expect(stale.status).toBe(412)
    expect((await json('GET', '/pools/api/backends/a')).body.weight).toBe(5)
    const gone = await json('DELETE', '/pools/api/backends/a', undefined, { 'if-match': tag })
    expect(gone.status).toBe(412)
    const removed = await json('DELETE', '/pools/api/backends/a?force=true', undefined, {
      'if-match': next,
    })
    expect(removed.status).toBe(200)
  })

  it('a pool: its strategy change is guarded by the pool\u2019s ETag', async () => {
    const { json } = setup()
    const tag = (await json('GET', '/pools/web')).headers.get('etag')!
    expect(tag).toMatch(/^"[0-9a-f]{16}"$/)
    const body = { strategy: 'least-connections' }
    const changed = await json('PUT', '/pools/web/strategy', body, { 'if-match': tag })
    expect(changed.status).toBe(200)
    const stale = await json(
      'PUT',
      '/pools/web/strategy',
      { strategy: 'random' },
      { 'if-match': tag },
    )
    expect(stale.status).toBe(412)
    expect((await json('GET', '/pools/web')).body.strategy).toBe('least-connections')
  })

  it('a route: GET /routes/:name carries the routes\u2019 ETag, and 404 for an unknown one', async () => {
    const { json } = setup()
    const list = await json('GET', '/routes')
    const one = await json('GET', '/routes/shop')
    expect(one.status).toBe(200)
    expect(one.body.name).toBe('shop')
    expect(one.headers.get('etag')).toBe(list.headers.get('etag'))
    expect((await json('GET', '/routes/nope')).status).toBe(404)
  })
})
