import { Hono } from 'hono'
import { UnsupportedPathError } from 'hono/router'
import { describe, expect, it } from 'vitest'
import { CatchAllRouter, catchAllFirst } from '../../src/catch-all-router.ts'

describe('CatchAllRouter', () => {
  it('gives the routes a method takes, in the order added, whatever the path', () => {
    const router = new CatchAllRouter<string>()
    router.add('ALL', '/*', 'a')
    router.add('POST', '*', 'b')
    router.add('ALL', '/*', 'c')
    const handlers = (method: string, path: string) =>
      router.match(method, path)[0].map(([handler]) => handler)
    expect(handlers('GET', '/')).toEqual(['a', 'c'])
    expect(handlers('POST', '/x/y?z')).toEqual(['a', 'b', 'c'])
    expect(handlers('BREW', '/pot')).toEqual(['a', 'c'])
    // The same result each time: made once per method.
    expect(router.match('GET', '/a')).toBe(router.match('GET', '/b'))
  })

  it('refuses a route with a path, so that SmartRouter falls back', () => {
    expect(() => new CatchAllRouter<string>().add('GET', '/users/:id', 'x')).toThrow(
      UnsupportedPathError,
    )
  })
})

describe('catchAllFirst', () => {
  it('routes a catch-all app by method alone', async () => {
    const app = new Hono({ router: catchAllFirst() })
    app.all('*', (c) => c.text(`${c.req.method} ${c.req.path}`))
    expect(await (await app.request('http://h/a/b?c')).text()).toBe('GET /a/b')
    expect(app.router.name).toBe('SmartRouter + CatchAllRouter')
  })

  it('falls back to Hono’s own routers for routes with paths', async () => {
    const app = new Hono({ router: catchAllFirst() })
    app.get('/users/:id', (c) => c.text(`user ${c.req.param('id')}`))
    app.all('*', (c) => c.text('rest'))
    expect(await (await app.request('http://h/users/7')).text()).toBe('user 7')
    expect(await (await app.request('http://h/other')).text()).toBe('rest')
    expect(app.router.name).not.toContain('CatchAllRouter')
  })
})
