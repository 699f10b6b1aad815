import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../../src/config.ts'
import { RouteTable } from '../../../src/routes/table.ts'

/** A table compiled from config routes, validated as a config file's would be. */
function tableOf(routes: unknown[]): RouteTable {
  const config = parseConfig({ pools: { api: {}, web: {}, 'web-v2': {} }, routes })
  return new RouteTable(config.routes)
}

/** The name of the route that takes a request, or `undefined` (404). */
function routed(table: RouteTable, url: string, init: RequestInit = {}): string | undefined {
  return table.match(new Request(url, init))?.name
}

describe('RouteTable: order', () => {
  it('takes the first route whose conditions all hold, in config order', () => {
    const hostFirst = tableOf([
      { name: 'by-host', match: { host: 'api.example.com' }, pool: 'api' },
      { name: 'by-path', match: { path: '/v1/*' }, pool: 'web' },
    ])
    expect(routed(hostFirst, 'http://api.example.com/v1/users')).toBe('by-host')
    expect(routed(hostFirst, 'http://www.example.com/v1/users')).toBe('by-path')
    const pathFirst = tableOf([
      { name: 'by-path', match: { path: '/v1/*' }, pool: 'web' },
      { name: 'by-host', match: { host: 'api.example.com' }, pool: 'api' },
    ])
    expect(routed(pathFirst, 'http://api.example.com/v1/users')).toBe('by-path')
    expect(routed(pathFirst, 'http://api.example.com/v2/users')).toBe('by-host')
  })

  it('falls through to a later route when an earlier one fails on method or header', () => {
    const table = tableOf([
      { name: 'write', match: { path: '/items/:id', methods: ['PUT', 'DELETE'] }, pool: 'api' },
      { name: 'beta', match: { path: '/items/*', headers: { 'x-beta': '1' } }, pool: 'web-v2' },
      { name: 'items', match: { path: '/items/*' }, pool: 'web' },
    ])
    expect(routed(table, 'http://h/items/7', { method: 'PUT' })).toBe('write')
    expect(routed(table, 'http://h/items/7', { method: 'PUT', headers: { 'x-beta': '1' } })).toBe(
      'write',
    )
    expect(routed(table, 'http://h/items/7', { headers: { 'x-beta': '1' } })).toBe('beta')
    expect(routed(table, 'http://h/items/7')).toBe('items')
    expect(routed(table, 'http://h/items')).toBe('items')
  })

  it('answers undefined when no route matches (the app answers 404)', () => {
    const table = tableOf([
      { name: 'api', match: { host: 'api.example.com' }, pool: 'api' },
      { name: 'shop', match: { path: '/shop/*' }, pool: 'web' },
    ])
    expect(routed(table, 'http://www.example.com/')).toBeUndefined()
    expect(routed(table, 'http://www.example.com/shopping')).toBeUndefined()
  })

  it('routes everything to the one catch-all route of a flat config', () => {
    const table = new RouteTable(parseConfig({}).routes)
    expect(table.routes.map((route) => [route.name, route.pools()])).toEqual([
      ['route0', ['default']],
    ])
    for (const url of ['http://a/', 'http://b.example:81/x/y?z', 'http://[::1]/']) {
      expect(routed(table, url, { method: 'PATCH' })).toBe('route0')
    }
  })

  it('does not take a single route with conditions for a catch-all', () => {
    const table = tableOf([{ name: 'only', match: { path: '/x' }, pool: 'api' }])
    expect(routed(table, 'http://h/x')).toBe('only')
    expect(routed(table, 'http://h/y')).toBeUndefined()
  })
})

describe('RouteTable: host', () => {
  const table = tableOf([
    { name: 'exact', match: { host: 'API.example.com' }, pool: 'api' },
    { name: 'wild', match: { host: '*.example.com' }, pool: 'web' },
  ])

  it('matches an exact host case-insensitively, whatever the port', () => {
    expect(routed(table, 'http://api.example.com/')).toBe('exact')
    expect(routed(table, 'http://API.EXAMPLE.COM/')).toBe('exact')
    expect(routed(table, 'http://api.example.com:8443/x')).toBe('exact')
    expect(routed(table, 'https://Api.Example.Com:1/x')).toBe('exact')
  })

  it('matches a wildcard for one label or more under the name, not the name itself', () => {
    expect(routed(table, 'http://www.example.com/')).toBe('wild')
    expect(routed(table, 'http://a.b.example.com:8080/')).toBe('wild')
    expect(routed(table, 'http://WWW.Example.COM/')).toBe('wild')
    expect(routed(table, 'http://example.com/')).toBeUndefined()
    expect(routed(table, 'http://badexample.com/')).toBeUndefined()
    expect(routed(table, 'http://www.example.com.evil.test/')).toBeUndefined()
  })
})

describe('RouteTable: path', () => {
  const table = tableOf([
    { name: 'health', match: { path: '/health' }, pool: 'api' },
    { name: 'prefix', match: { path: '/x/*' }, pool: 'web' },
    { name: 'user', match: { path: '/users/:id' }, pool: 'web-v2' },
  ])

  it('matches an exact path only', () => {
    expect(routed(table, 'http://h/health')).toBe('health')
    expect(routed(table, 'http://h/health?verbose=1')).toBe('health')
    expect(routed(table, 'http://h/health/')).toBeUndefined()
    expect(routed(table, 'http://h/healthz')).toBeUndefined()
    expect(routed(table, 'http://h/Health')).toBeUndefined()
  })

  it('matches /x/* for /x, /x/ and anything under /x/, not /xy', () => {
    for (const path of ['/x', '/x/', '/x/y', '/x/y/z', '/x/y?q=1']) {
      expect(routed(table, `http://h${path}`), path).toBe('prefix')
    }
    expect(routed(table, 'http://h/xy')).toBeUndefined()
    expect(routed(table, 'http://h/xy/z')).toBeUndefined()
  })

  it('matches /users/:id for one segment', () => {
    expect(routed(table, 'http://h/users/7')).toBe('user')
    expect(routed(table, 'http://h/users/ann')).toBe('user')
    expect(routed(table, 'http://h/users')).toBeUndefined()
    expect(routed(table, 'http://h/users/7/orders')).toBeUndefined()
  })

  it('cannot be dodged by percent-encoding the path', () => {
    const guarded = tableOf([
      { name: 'admin', match: { path: '/admin/*' }, pool: 'api' },
      { name: 'site', pool: 'web' },
    ])
    expect(routed(guarded, 'http://h/%61dmin/users')).toBe('admin')
    expect(routed(guarded, 'http://h/%61%64%6D%69%6E')).toBe('admin')
    // Dot segments are resolved before routing, encoded or not.
    expect(routed(guarded, 'http://h/public/../admin/x')).toBe('admin')
    expect(routed(guarded, 'http://h/public/%2e%2E/admin/x')).toBe('admin')
    // Decoded once: `%2561` is the text `%61` to the backend too, not `a`.
    expect(routed(guarded, 'http://h/%2561dmin/x')).toBe('site')
  })
})

describe('RouteTable: methods and headers', () => {
  const table = tableOf([
    { name: 'read', match: { path: '/r/*', methods: ['get', 'HEAD'] }, pool: 'api' },
    { name: 'beta', match: { headers: { 'X-Beta': '1' } }, pool: 'web-v2' },
    { name: 'user', match: { headers: { 'x-user': true } }, pool: 'web' },
  ])

  it('matches the listed methods only', () => {
    expect(routed(table, 'http://h/r/1')).toBe('read')
    expect(routed(table, 'http://h/r/1', { method: 'HEAD' })).toBe('read')
    expect(routed(table, 'http://h/r/1', { method: 'POST' })).toBeUndefined()
  })

  it('matches a header by exact value, or by presence for true', () => {
    expect(routed(table, 'http://h/', { headers: { 'x-beta': '1' } })).toBe('beta')
    expect(routed(table, 'http://h/', { headers: { 'X-BETA': '1' } })).toBe('beta')
    expect(routed(table, 'http://h/', { headers: { 'x-beta': '10' } })).toBeUndefined()
    expect(routed(table, 'http://h/', { headers: { 'x-user': 'ann' } })).toBe('user')
    expect(routed(table, 'http://h/', { headers: { 'x-user': '' } })).toBe('user')
    expect(routed(table, 'http://h/')).toBeUndefined()
  })
})

describe('RouteTable: explain', () => {
  const table = tableOf([
    { name: 'api', match: { host: 'api.example.com' }, pool: 'api' },
    { name: 'docs', match: { path: '/docs/*' }, pool: 'web' },
    { name: 'write', match: { path: '/items/*', methods: ['POST'] }, pool: 'api' },
    { name: 'beta', match: { path: '/items/*', headers: { 'x-beta': '1' } }, pool: 'web-v2' },
    { name: 'items', match: { path: '/items/*' }, pool: 'web' },
  ])

  it('names the first failed condition of each earlier route, and stops at the match', () => {
    expect(table.explain(new Request('http://www.example.com/items/1'))).toEqual([
      { route: 'api', matched: false, failed: 'host' },
      { route: 'docs', matched: false, failed: 'path' },
      { route: 'write', matched: false, failed: 'method' },
      { route: 'beta', matched: false, failed: 'headers' },
      { route: 'items', matched: true },
    ])
    expect(table.explain(new Request('http://api.example.com/items/1'))).toEqual([
      { route: 'api', matched: true },
    ])
    expect(
      table.explain(new Request('http://www.example.com/items/1', { headers: { 'x-beta': '1' } })),
    ).toEqual([
      { route: 'api', matched: false, failed: 'host' },
      { route: 'docs', matched: false, failed: 'path' },
      { route: 'write', matched: false, failed: 'method' },
      { route: 'beta', matched: true },
    ])
  })

  it('gives every route a failed condition when none matches', () => {
    const verdicts = table.explain(new Request('http://www.example.com/other'))
    expect(verdicts.map((v) => [v.route, v.matched, v.failed])).toEqual([
      ['api', false, 'host'],
      ['docs', false, 'path'],
      ['write', false, 'path'],
      ['beta', false, 'path'],
      ['items', false, 'path'],
    ])
  })

  it('agrees with match on percent-encoded paths', () => {
    const request = new Request('http://www.example.com/%64ocs/x')
    expect(table.match(request)?.name).toBe('docs')
    expect(table.explain(request).at(-1)).toEqual({ route: 'docs', matched: true })
  })
})

describe('RouteTable: 1,000 routes', () => {
  it('still picks the right route, first in order', () => {
    const routes: unknown[] = []
    for (let i = 0; i < 400; i++) {
      routes.push({ name: `host${i}`, match: { host: `s${i}.example.com` }, pool: 'api' })
    }
    for (let i = 0; i < 300; i++) {
      routes.push({ name: `path${i}`, match: { path: `/svc${i}/*` }, pool: 'web' })
    }
    // Many routes share a host and path; only their header tells them apart.
    for (let i = 0; i < 299; i++) {
      routes.push({
        name: `tenant${i}`,
        match: { path: '/t/*', headers: { 'x-tenant': String(i) } },
        pool: 'web-v2',
      })
    }
    routes.push({ name: 'rest', pool: 'api' })
    const table = tableOf(routes)
    expect(table.routes).toHaveLength(1000)
    expect(routed(table, 'http://s0.example.com/svc5/x')).toBe('host0')
    expect(routed(table, 'http://s399.example.com/')).toBe('host399')
    expect(routed(table, 'http://S257.example.com:8080/t/x')).toBe('host257')
    expect(routed(table, 'http://s400.example.com/svc299')).toBe('path299')
    expect(routed(table, 'http://h/svc0/a/b')).toBe('path0')
    expect(routed(table, 'http://h/svc30')).toBe('path30')
    expect(routed(table, 'http://h/svc300')).toBe('rest')
    expect(routed(table, 'http://h/t/x', { headers: { 'x-tenant': '0' } })).toBe('tenant0')
    expect(routed(table, 'http://h/t/x', { headers: { 'x-tenant': '298' } })).toBe('tenant298')
    expect(routed(table, 'http://h/t/x', { headers: { 'x-tenant': '299' } })).toBe('rest')
    expect(table.get('tenant17')?.index).toBe(717)
  })
})

describe('Route', () => {
  it('sends a pool route to its pool, and a split by smooth weighted round robin', () => {
    const table = tableOf([
      { name: 'api', match: { path: '/api/*' }, pool: 'api' },
      {
        name: 'shop',
        pools: [
          { pool: 'web', weight: 3 },
          { pool: 'web-v2', weight: 1 },
        ],
      },
    ])
    const api = table.get('api')!
    expect([api.pool(), api.pool()]).toEqual(['api', 'api'])
    expect(api.pools()).toEqual(['api'])
    expect(api.split).toBeUndefined()
    const shop = table.get('shop')!
    expect(shop.pools()).toEqual(['web', 'web-v2'])
    expect(Array.from({ length: 8 }, () => shop.pool())).toEqual([
      'web',
      'web',
      'web-v2',
      'web',
      'web',
      'web',
      'web-v2',
      'web',
    ])
    shop.setWeights([
      { pool: 'web', weight: 0 },
      { pool: 'web-v2', weight: 1 },
    ])
    expect([shop.pool(), shop.pool()]).toEqual(['web-v2', 'web-v2'])
    // setWeights on a route without a split does nothing.
    api.setWeights([{ pool: 'web', weight: 1 }])
    expect(api.pool()).toBe('api')
  })

  it('keeps its rate-limit buckets across a new table when its limit is unchanged', () => {
    const limited = { name: 'limited', pool: 'api', rateLimit: { requests: 1, per: '1m' } }
    const first = tableOf([limited])
    const buckets = first.get('limited')!.buckets
    expect(buckets).toBeDefined()
    expect(buckets!.take('ip:192.0.2.1').allowed).toBe(true)
    expect(buckets!.take('ip:192.0.2.1').allowed).toBe(false)

    const config = parseConfig({ pools: { api: {} }, routes: [limited] })
    const same = new RouteTable(config.routes, first)
    expect(same.get('limited')!.buckets).toBe(buckets)
    expect(same.get('limited')!.buckets!.take('ip:192.0.2.1').allowed).toBe(false)

    const changed = new RouteTable(
      parseConfig({ pools: { api: {} }, routes: [{ ...limited, rateLimit: { requests: 2 } }] })
        .routes,
      same,
    )
    expect(changed.get('limited')!.buckets).not.toBe(buckets)
    expect(changed.get('limited')!.buckets!.take('ip:192.0.2.1').allowed).toBe(true)

    const off = tableOf([
      { name: 'limited', pool: 'api', rateLimit: { enabled: false, requests: 1 } },
    ])
    expect(off.get('limited')!.buckets).toBeUndefined()
  })
})
