import { describe, expect, it } from 'vitest'
import type { RouteMatch } from '../../src/config-routes.ts'
import { covers, findShadowed } from '../../src/shadowed-routes.ts'

describe('covers: a route with no conditions', () => {
  it('takes everything, and is taken only by another catch-all', () => {
    expect(covers(undefined, undefined)).toBe(true)
    expect(covers({}, undefined)).toBe(true)
    expect(covers(undefined, { host: 'a.example.com', path: '/x', methods: ['GET'] })).toBe(true)
    expect(covers({ path: '/*' }, undefined)).toBe(true)
    expect(covers({ path: '/x/*' }, undefined)).toBe(false)
    expect(covers({ host: 'a.example.com' }, undefined)).toBe(false)
    expect(covers({ methods: ['GET'] }, undefined)).toBe(false)
    expect(covers({ headers: { 'x-beta': true } }, undefined)).toBe(false)
  })
})

describe('covers: host', () => {
  it('covers the same exact host only', () => {
    expect(covers({ host: 'a.example.com' }, { host: 'a.example.com' })).toBe(true)
    expect(covers({ host: 'a.example.com' }, { host: 'b.example.com' })).toBe(false)
    expect(covers({ host: 'a.example.com' }, { host: '*.example.com' })).toBe(false)
  })

  it('covers names under a wildcard, and narrower wildcards, not the bare domain', () => {
    const wild = { host: '*.example.com' }
    expect(covers(wild, { host: 'a.example.com' })).toBe(true)
    expect(covers(wild, { host: 'a.b.example.com' })).toBe(true)
    expect(covers(wild, { host: '*.example.com' })).toBe(true)
    expect(covers(wild, { host: '*.a.example.com' })).toBe(true)
    expect(covers(wild, { host: 'example.com' })).toBe(false)
    expect(covers(wild, { host: 'badexample.com' })).toBe(false)
    expect(covers(wild, { host: '*.example.org' })).toBe(false)
    expect(covers({ host: '*.a.example.com' }, { host: '*.example.com' })).toBe(false)
  })
})

describe('covers: path', () => {
  it('covers an equal pattern, and nothing else when exact', () => {
    expect(covers({ path: '/health' }, { path: '/health' })).toBe(true)
    expect(covers({ path: '/health' }, { path: '/health/' })).toBe(false)
    expect(covers({ path: '/users/:id' }, { path: '/users/:id' })).toBe(true)
    // Parameters are not reasoned about: no proof, no error.
    expect(covers({ path: '/users/:id' }, { path: '/users/7' })).toBe(false)
  })

  it('covers what a prefix /x/* matches: /x, /x/, anything under /x/', () => {
    const prefix = { path: '/x/*' }
    for (const path of ['/x', '/x/', '/x/y', '/x/y/*', '/x/:id', '/x/*', '/x/:id/z']) {
      expect(covers(prefix, { path }), path).toBe(true)
    }
    for (const path of ['/xy', '/xy/*', '/', '/y/x', '/:x/y']) {
      expect(covers(prefix, { path }), path).toBe(false)
    }
  })

  it('does not claim /x/* covers /x* (which takes /xy)', () => {
    expect(covers({ path: '/x/*' }, { path: '/x*' })).toBe(false)
    expect(covers({ path: '/api/*' }, { path: '/api:version' })).toBe(false)
  })

  it('covers everything with /* or *, and reasons no further about parameter prefixes', () => {
    expect(covers({ path: '/*' }, { path: '/anything/at/all' })).toBe(true)
    expect(covers({ path: '*' }, { path: '/x' })).toBe(true)
    expect(covers({ path: '/:tenant/*' }, { path: '/acme/x' })).toBe(false)
  })
})

describe('covers: methods and headers', () => {
  it('covers a subset of methods, not a superset, not every method', () => {
    expect(covers({ methods: ['GET', 'HEAD'] }, { methods: ['GET'] })).toBe(true)
    expect(covers({ methods: ['GET'] }, { methods: ['GET', 'POST'] })).toBe(false)
    expect(covers({ methods: ['GET'] }, {})).toBe(false)
    expect(covers({}, { methods: ['DELETE'] })).toBe(true)
  })

  it('covers a later route requiring at least the same header values', () => {
    expect(covers({ headers: { 'x-beta': '1' } }, { headers: { 'x-beta': '1' } })).toBe(true)
    expect(covers({ headers: { 'x-beta': '1' } }, { headers: { 'x-beta': '2' } })).toBe(false)
    expect(covers({ headers: { 'x-beta': '1' } }, { headers: { 'x-beta': true } })).toBe(false)
    expect(covers({ headers: { 'x-beta': true } }, { headers: { 'x-beta': '2' } })).toBe(true)
    expect(
      covers({ headers: { 'x-beta': '1' } }, { headers: { 'x-beta': '1', 'x-user': true } }),
    ).toBe(true)
    expect(
      covers({ headers: { 'x-beta': '1', 'x-user': true } }, { headers: { 'x-beta': '1' } }),
    ).toBe(false)
  })

  it('needs every condition to cover', () => {
    const earlier: RouteMatch = { host: '*.example.com', path: '/shop/*', methods: ['GET', 'HEAD'] }
    expect(covers(earlier, { host: 'a.example.com', path: '/shop/cart', methods: ['GET'] })).toBe(
      true,
    )
    expect(covers(earlier, { host: 'a.example.com', path: '/shop/cart' })).toBe(false)
    expect(covers(earlier, { host: 'a.example.org', path: '/shop/cart', methods: ['GET'] })).toBe(
      false,
    )
    expect(covers(earlier, { host: 'a.example.com', path: '/blog', methods: ['GET'] })).toBe(false)
  })
})

describe('findShadowed', () => {
  it('reports each shadowed route with the first earlier route that takes it', () => {
    const matches: (RouteMatch | undefined)[] = [
      { path: '/api/*' },
      { path: '/api/users' },
      { host: 'a.example.com' },
      undefined,
      { path: '/late' },
      { path: '/api/*' },
    ]
    expect(findShadowed(matches)).toEqual([
      { index: 1, by: 0 },
      { index: 4, by: 3 },
      { index: 5, by: 0 },
    ])
  })

  it('finds nothing when the specific routes come first', () => {
    expect(
      findShadowed([
        { path: '/api/users' },
        { path: '/api/*' },
        { host: 'a.example.com', path: '/x' },
        { host: '*.example.com' },
        { headers: { 'x-beta': '1' } },
        undefined,
      ]),
    ).toEqual([])
  })
})
