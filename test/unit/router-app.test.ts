import { describe, expect, it } from 'vitest'
import { stripPrefix } from '../../src/app.ts'
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { silentLogger } from '../../src/log.ts'
import { createRouterApp } from '../../src/router-app.ts'
import { RouteTable, type Route } from '../../src/routes/table.ts'
import type { ServicePool } from '../../src/service-pool.ts'
import type { Logger, UpstreamInit } from '../../src/types.ts'

const API = 'http://127.0.0.1:9001'
const WEB = 'http://127.0.0.1:9002'
const V2 = 'http://127.0.0.1:9003'
const DEFAULT = 'http://127.0.0.1:9004'

describe('stripPrefix', () => {
  it('removes a whole leading segment, keeping the rest and the query', () => {
    expect(stripPrefix('/v1/users?id=7', '/v1')).toBe('/users?id=7')
    expect(stripPrefix('/v1/users/7', '/v1')).toBe('/users/7')
    expect(stripPrefix('/api/v1/users', '/api/v1')).toBe('/users')
    expect(stripPrefix('/v1/', '/v1')).toBe('/')
  })

  it('leaves / for an empty path, before a query too', () => {
    expect(stripPrefix('/v1', '/v1')).toBe('/')
    expect(stripPrefix('/v1?x', '/v1')).toBe('/?x')
    expect(stripPrefix('/v1?x=/v1/y', '/v1')).toBe('/?x=/v1/y')
  })

  it('strips whole segments only', () => {
    expect(stripPrefix('/v1x/users', '/v1')).toBe('/v1x/users')
    expect(stripPrefix('/v10', '/v1')).toBe('/v10')
    expect(stripPrefix('/v2/users', '/v1')).toBe('/v2/users')
    expect(stripPrefix('/V1/users', '/v1')).toBe('/V1/users')
    expect(stripPrefix('/x/v1/users', '/v1')).toBe('/x/v1/users')
  })

  it('strips what the router matched: a percent-encoded prefix too', () => {
    expect(stripPrefix('/%761/users?id=7', '/v1')).toBe('/users?id=7')
    expect(stripPrefix('/%61pi/%76%31/users', '/api/v1')).toBe('/users')
    expect(stripPrefix('/%761', '/v1')).toBe('/')
    expect(stripPrefix('/%761?x', '/v1')).toBe('/?x')
    expect(stripPrefix('/%761x/users', '/v1')).toBe('/%761x/users')
    // Decoded once, as the router decodes: `%2576` is the text `%76`, not `v`.
    expect(stripPrefix('/%25761/users', '/v1')).toBe('/%25761/users')
    // A malformed escape is left as it is.
    expect(stripPrefix('/%zz/v1/users', '/v1')).toBe('/%zz/v1/users')
  })

  it('takes a prefix written with a trailing slash as the same prefix', () => {
    expect(stripPrefix('/v1/users', '/v1/')).toBe('/users')
    expect(stripPrefix('/v1/', '/v1/')).toBe('/')
    expect(stripPrefix('/v1x/users', '/v1/')).toBe('/v1x/users')
  })

  it('does nothing without a prefix, or with /', () => {
    expect(stripPrefix('/v1/users', undefined)).toBe('/v1/users')
    expect(stripPrefix('/v1/users', '/')).toBe('/v1/users')
    expect(stripPrefix('/', '/v1')).toBe('/')
  })
})

/** A logger that keeps its error lines. */
function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = []
  return { ...silentLogger, errors, error: (message: string) => void errors.push(message) }
}

describe('createRouterApp', () => {
  const table = new RouteTable(
    parseConfig({
      pools: { api: {}, web: {} },
      routes: [
        { name: 'api', match: { host: 'api.example.com' }, pool: 'api' },
        { name: 'web', match: { path: '/web/*' }, pool: 'web' },
        { name: 'ghost', match: { path: '/ghost' }, pool: 'default' },
      ],
    }).routes,
  )
  /** Pools that answer with their name and the route that took the request. */
  function fakePools(...names: string[]) {
    const seen: { pool: string; route: string | undefined; env: unknown }[] = []
    const pools = new Map<string, ServicePool>()
    for (const name of names) {
      const proxy = async (_request: Request, env: unknown, route?: Route) => {
        seen.push({ pool: name, route: route?.name, env })
        return new Response(name)
      }
      pools.set(name, { name, proxy } as unknown as ServicePool)
    }
    return { seen, pools }
  }

  it('hands the request to the route\u2019s pool, with the route and the env', async () => {
    const { seen, pools } = fakePools('api', 'web')
    const app = createRouterApp({
      routes: () => table,
      pool: (name) => pools.get(name),
      logger: silentLogger,
    })
    const env = { ip: '192.0.2.7' }
    expect(await (await app.request('http://api.example.com/web/x', {}, env)).text()).toBe('api')
    expect(await (await app.request('http://www.example.com/web/x', {}, env)).text()).toBe('web')
    expect(seen).toEqual([
      { pool: 'api', route: 'api', env },
      { pool: 'web', route: 'web', env },
    ])
  })

  it('answers a JSON 404 with a request id when no route matches, and says so', async () => {
    const { seen, pools } = fakePools('api', 'web')
    const unrouted: [string, string][] = []
    const app = createRouterApp({
      routes: () => table,
      pool: (name) => pools.get(name),
      logger: silentLogger,
      onUnrouted: (request, requestId) => void unrouted.push([request.url, requestId]),
    })
    const response = await app.request('http://www.example.com/other')
    expect(response.status).toBe(404)
    expect(response.headers.get('content-type')).toBe('application/json')
    expect(response.headers.get('cache-control')).toBe('no-store')
    const body = await response.json()
    expect(body).toEqual({ error: 'No route', requestId: expect.any(String) })
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect(response.headers.get('x-request-id')).toBe(body.requestId)
    expect(unrouted).toEqual([['http://www.example.com/other', body.requestId]])
    expect(seen).toEqual([])

    // A client's sane X-Request-Id is kept; an unusable one is replaced.
    const own = await app.request('http://www.example.com/other', {
      headers: { 'x-request-id': 'trace-0123456789' },
    })
    expect((await own.json()).requestId).toBe('trace-0123456789')
    const bad = await app.request('http://www.example.com/other', {
      headers: { 'x-request-id': 'x'.repeat(500) },
    })
    expect((await bad.json()).requestId).not.toBe('x'.repeat(500))
  })

  it('answers 404 when the route names a pool not in service', async () => {
    const { pools } = fakePools('api', 'web')
    const app = createRouterApp({
      routes: () => table,
      pool: (name) => pools.get(name),
      logger: silentLogger,
    })
    const response = await app.request('http://www.example.com/ghost')
    expect(response.status).toBe(404)
    expect((await response.json()).error).toBe('No route')
  })

  it('reads the table per request, so that a new table takes effect at once', async () => {
    const { pools } = fakePools('api', 'web')
    let current = table
    const app = createRouterApp({
      routes: () => current,
      pool: (name) => pools.get(name),
      logger: silentLogger,
    })
    expect((await app.request('http://www.example.com/other')).status).toBe(404)
    current = new RouteTable(parseConfig({ pools: { web: {} }, routes: [{ pool: 'web' }] }).routes)
    expect(await (await app.request('http://www.example.com/other')).text()).toBe('web')
  })

  it('answers 500 JSON, and logs, when a pool throws', async () => {
    const logger = recordingLogger()
    const pools = new Map<string, ServicePool>([
      [
        'api',
        {
          proxy: () => {
            throw new Error('boom')
          },
        } as unknown as ServicePool,
      ],
    ])
    const app = createRouterApp({ routes: () => table, pool: (name) => pools.get(name), logger })
    const response = await app.request('http://api.example.com/')
    expect(response.status).toBe(500)
    expect(await response.json()).toEqual({
      error: 'Internal error',
      requestId: expect.any(String),
    })
    expect(logger.errors).toEqual(['internal error'])
  })

  it('gives the 500 the client\u2019s X-Request-Id when it is sane, as every other answer', async () => {
    const pools = new Map<string, ServicePool>([
      ['api', { proxy: () => Promise.reject(new Error('boom')) } as unknown as ServicePool],
    ])
    const app = createRouterApp({
      routes: () => table,
      pool: (name) => pools.get(name),
      logger: recordingLogger(),
    })
    const sane = await app.request('http://api.example.com/', {
      headers: { 'x-request-id': 'req-500-abcd' },
    })
    expect(await sane.json()).toEqual({ error: 'Internal error', requestId: 'req-500-abcd' })
    const insane = await app.request('http://api.example.com/', {
      headers: { 'x-request-id': 'bad id\twith tab' },
    })
    expect((await insane.json()).requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4/)
  })
})

/** One call the fake upstream received. */
interface Call {
  url: string
  init: UpstreamInit
}

/**
 * A balancer with three pools and `default` over a fake upstream, whose answer names the
 * backend and echoes the path it got.
 */
function routedBalancer(config: ConfigInput, answer?: (url: string) => Response) {
  const calls: Call[] = []
  const balancer = createBalancer(parseConfig({ healthCheck: { enabled: false }, ...config }), {
    fetch: async (url, init) => {
      calls.push({ url, init })
      if (answer) return answer(url)
      const { origin, pathname, search } = new URL(url)
      return new Response(`${origin} ${pathname}${search}`, {
        headers: { server: 'backend/1.0', 'x-backend': origin },
      })
    },
    clientAddress: () => '192.0.2.1',
    tcpConnect: async () => {},
    readTextFile: async () => '',
    logger: silentLogger,
  })
  const request = async (url: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    if (!headers.has('host')) headers.set('host', new URL(url).host)
    const response = await balancer.app.request(url, { ...init, headers }, {})
    return { status: response.status, headers: response.headers, text: await response.text() }
  }
  return { balancer, calls, request }
}

const threePools = {
  backends: [DEFAULT],
  pools: {
    api: { backends: [API] },
    web: { backends: [WEB] },
    'web-v2': { backends: [V2] },
  },
} satisfies ConfigInput

describe('the balancer\u2019s public app with routes', () => {
  it('routes by host, wildcard host, path, method and header to the right pool', async () => {
    const { request } = routedBalancer({
      ...threePools,
      routes: [
        { name: 'api', match: { host: 'api.example.com', path: '/v1/*' }, pool: 'api' },
        { name: 'beta', match: { headers: { 'x-beta': '1' } }, pool: 'web-v2' },
        {
          name: 'shop',
          match: { host: '*.example.com', path: '/shop/*', methods: ['GET', 'HEAD'] },
          pool: 'web',
        },
        { name: 'site', pool: 'default' },
      ],
    })
    const backendOf = async (url: string, init?: RequestInit) =>
      (await request(url, init)).text.split(' ')[0]
    expect(await backendOf('http://api.example.com/v1/users')).toBe(API)
    expect(await backendOf('http://API.example.com:8443/v1')).toBe(API)
    expect(await backendOf('http://api.example.com/v2/users')).toBe(DEFAULT)
    expect(await backendOf('http://api.example.com/v1/x', { headers: { 'x-beta': '1' } })).toBe(API)
    expect(await backendOf('http://www.example.com/', { headers: { 'x-beta': '1' } })).toBe(V2)
    expect(await backendOf('http://a.b.example.com/shop/cart')).toBe(WEB)
    expect(await backendOf('http://a.b.example.com/shop/cart', { method: 'POST' })).toBe(DEFAULT)
    expect(await backendOf('http://example.com/shop/cart')).toBe(DEFAULT)
  })

  it('answers a JSON 404 with a request id when no route matches, and calls no backend', async () => {
    const { request, calls } = routedBalancer({
      ...threePools,
      routes: [{ name: 'api', match: { host: 'api.example.com' }, pool: 'api' }],
    })
    const response = await request('http://www.example.com/', {
      headers: { 'x-request-id': 'req-4242-abcd' },
    })
    expect(response.status).toBe(404)
    expect(JSON.parse(response.text)).toEqual({ error: 'No route', requestId: 'req-4242-abcd' })
    expect(response.headers.get('x-request-id')).toBe('req-4242-abcd')
    expect(calls).toEqual([])
  })

  it('splits a route by weight across pools, exactly', async () => {
    const { request } = routedBalancer({
      ...threePools,
      routes: [
        {
          name: 'shop',
          pools: [
            { pool: 'web', weight: 90 },
            { pool: 'web-v2', weight: 10 },
          ],
        },
      ],
    })
    const picks: string[] = []
    for (let i = 0; i < 20; i++) picks.push((await request('http://h/')).text.split(' ')[0]!)
    expect(picks.filter((b) => b === V2)).toHaveLength(2)
    expect(picks.indexOf(V2)).toBe(5)
    expect(picks.lastIndexOf(V2)).toBe(15)
  })

  it('strips the prefix before forwarding, whole segments only, query kept', async () => {
    const { request, calls } = routedBalancer({
      ...threePools,
      routes: [
        { name: 'api', match: { path: '/v1/*' }, pool: 'api', stripPrefix: '/v1' },
        { name: 'rest', pool: 'default' },
      ],
    })
    expect((await request('http://h/v1/users?id=7')).text).toBe(`${API} /users?id=7`)
    expect((await request('http://h/v1?x')).text).toBe(`${API} /?x`)
    expect((await request('http://h/v1')).text).toBe(`${API} /`)
    expect((await request('http://h/v1/')).text).toBe(`${API} /`)
    expect((await request('http://h/v1x/users')).text).toBe(`${DEFAULT} /v1x/users`)
    // Routed as /v1/users, so stripped as /v1/users.
    expect((await request('http://h/%761/users')).text).toBe(`${API} /users`)
    expect(calls.map((c) => c.url)).toEqual([
      `${API}/users?id=7`,
      `${API}/?x`,
      `${API}/`,
      `${API}/`,
      `${DEFAULT}/v1x/users`,
      `${API}/users`,
    ])
  })

  it('edits request and response headers per route', async () => {
    const { request, calls } = routedBalancer({
      ...threePools,
      routes: [
        {
          name: 'site',
          pool: 'web',
          requestHeaders: { set: { 'x-env': 'prod' }, remove: ['x-debug'] },
          responseHeaders: { set: { 'x-served-by': 'fulcrum' }, remove: ['server'] },
        },
      ],
    })
    const response = await request('http://h/', { headers: { 'x-debug': '1', 'x-env': 'dev' } })
    const sent = new Headers(calls[0]!.init.headers)
    expect(sent.get('x-env')).toBe('prod')
    expect(sent.has('x-debug')).toBe(false)
    expect(response.headers.get('x-served-by')).toBe('fulcrum')
    expect(response.headers.has('server')).toBe(false)
    expect(response.headers.get('x-backend')).toBe(WEB)
  })

  it('takes new routes from a reload at the next request', async () => {
    const { balancer, request } = routedBalancer({
      ...threePools,
      routes: [{ name: 'all', pool: 'web' }],
    })
    expect((await request('http://h/x')).text).toBe(`${WEB} /x`)
    balancer.reload(
      parseConfig({
        healthCheck: { enabled: false },
        ...threePools,
        routes: [
          { name: 'x', match: { path: '/x' }, pool: 'api' },
          { name: 'all', pool: 'web' },
        ],
      }),
    )
    expect((await request('http://h/x')).text).toBe(`${API} /x`)
    expect((await request('http://h/y')).text).toBe(`${WEB} /y`)
    expect(balancer.routes.routes.map((r) => r.name)).toEqual(['x', 'all'])
  })
})
