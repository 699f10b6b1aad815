/**
 * `GET /healthz` on the admin app (issue 14, "An HA pair"): no token, `ok` (200) while some pool
 * has an available backend, `not ok` (503) otherwise, and nothing else: no version, no names, no
 * counts. Host and Origin are checked as on every admin route. keepalived's track script calls it
 * with `curl -fsS --max-time 1 http://127.0.0.1:9090/healthz`.
 */
import { describe, expect, it } from 'vitest'
import { VERSION } from '../../../src/cli.ts'
import type { ConfigInput } from '../../../src/config.ts'
import { adminBalancer } from '../admin-helpers.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const NO_TOKEN = { authorization: '' }

/** `GET /healthz` without a token: status, body and headers. */
function healthz(config: ConfigInput) {
  const setup = adminBalancer(config)
  const check = async (headers: HeadersInit = NO_TOKEN, method = 'GET') => {
    const response = await setup.admin(method, '/healthz', undefined, headers)
    return { status: response.status, text: await response.text(), headers: response.headers }
  }
  return { ...setup, check }
}

/** Every header and the body, as one string: what a caller without the token can read. */
function everything(answer: { text: string; headers: Headers }): string {
  return [...answer.headers].map(([name, value]) => `${name}: ${value}`).join('\n') + answer.text
}

describe('GET /healthz', () => {
  it('answers ok (200) without the token, in plain text, uncached', async () => {
    const { check } = healthz({ backends: [{ url: A, id: 'web-a' }] })
    const answer = await check()
    expect(answer.status).toBe(200)
    expect(answer.text).toBe('ok\n')
    expect(answer.headers.get('content-type')).toBe('text/plain; charset=utf-8')
    expect(answer.headers.get('cache-control')).toBe('no-store')
    expect(answer.headers.get('www-authenticate')).toBeNull()
  })

  it('says nothing else: no version, no backend id or address, no pool name', async () => {
    const { check } = healthz({
      backends: [],
      pools: { 'secret-pool': { backends: [{ url: A, id: 'secret-backend' }] } },
      routes: [{ name: 'secret-route', pool: 'secret-pool' }],
    })
    const answer = everything(await check())
    for (const word of [VERSION, 'secret', '127.0.0.1:9001', '9001', 'fulcrum']) {
      expect(answer).not.toContain(word)
    }
  })

  it('answers not ok (503) without backends, as while waiting for registrations', async () => {
    const { check, admin } = healthz({ backends: [] })
    expect(await check()).toMatchObject({ status: 503, text: 'not ok\n' })
    const registered = await admin('POST', '/backends', { url: A, id: 'a' })
    expect(registered.status).toBe(201)
    expect(await check()).toMatchObject({ status: 200, text: 'ok\n' })
  })

  it('follows availability: down, disabled and draining backends do not count', async () => {
    const { check, admin, balancer } = healthz({
      backends: [
        { url: A, id: 'a' },
        { url: B, id: 'b' },
      ],
      healthCheck: { enabled: false, fall: 1, rise: 1 },
    })
    expect((await check()).status).toBe(200)
    // Active health: one failed probe (fall 1) takes a backend down.
    balancer.pool.recordProbe('a', false, 'connection refused')
    expect((await check()).status).toBe(200)
    expect((await admin('PATCH', '/backends/b', { enabled: false })).status).toBe(200)
    expect(await check()).toMatchObject({ status: 503, text: 'not ok\n' })
    expect((await admin('PATCH', '/backends/b', { enabled: true, draining: true })).status).toBe(
      200,
    )
    expect((await check()).status).toBe(503)
    balancer.pool.recordProbe('a', true)
    expect((await check()).status).toBe(200)
  })

  it('is ok while any pool can serve, whichever it is', async () => {
    const { check, balancer } = healthz({
      backends: [],
      healthCheck: { enabled: false, fall: 1 },
      pools: {
        api: { backends: [{ url: A, id: 'a' }], healthCheck: { enabled: false, fall: 1 } },
        web: { backends: [{ url: B, id: 'b' }], healthCheck: { enabled: false, fall: 1 } },
      },
      routes: [
        { name: 'api', match: { path: '/api/*' }, pool: 'api' },
        { name: 'web', pool: 'web' },
      ],
    })
    expect((await check()).status).toBe(200)
    balancer.pools.get('api')!.pool.recordProbe('a', false)
    expect((await check()).status).toBe(200)
    balancer.pools.get('web')!.pool.recordProbe('b', false)
    expect(await check()).toMatchObject({ status: 503, text: 'not ok\n' })
  })

  it('answers HEAD with the status alone', async () => {
    const { check } = healthz({ backends: [A] })
    expect(await check(NO_TOKEN, 'HEAD')).toMatchObject({ status: 200, text: '' })
    const empty = healthz({ backends: [] })
    expect(await empty.check(NO_TOKEN, 'HEAD')).toMatchObject({ status: 503, text: '' })
  })

  it('ignores a token, right or wrong: it never answers 401', async () => {
    const { check } = healthz({ backends: [A] })
    expect((await check({})).status).toBe(200)
    expect((await check({ authorization: 'Bearer wrong' })).status).toBe(200)
  })

  it('checks Host and Origin as every admin route does (DNS rebinding, cross-site)', async () => {
    const { check } = healthz({ backends: [A] })
    expect((await check({ ...NO_TOKEN, host: 'localhost:9090' })).status).toBe(200)
    expect((await check({ ...NO_TOKEN, host: '[::1]:9090' })).status).toBe(200)
    expect((await check({ ...NO_TOKEN, host: 'attacker.example' })).status).toBe(403)
    expect((await check({ ...NO_TOKEN, origin: 'https://attacker.example' })).status).toBe(403)
    expect((await check({ ...NO_TOKEN, 'sec-fetch-site': 'cross-site' })).status).toBe(403)
  })

  it('is public for GET and HEAD only, and only at /healthz', async () => {
    const { admin } = healthz({ backends: [A] })
    for (const [method, path] of [
      ['POST', '/healthz'],
      ['DELETE', '/healthz'],
      ['GET', '/healthz/'],
      ['GET', '/healthzz'],
      ['GET', '/healthz/../backends'],
    ] as const) {
      const response = await admin(method, path, undefined, NO_TOKEN)
      expect(response.status, `${method} ${path}`).toBe(401)
    }
  })

  it('is listed among the admin routes', async () => {
    const { admin } = healthz({ backends: [A] })
    expect((await (await admin('GET', '/')).json()).routes).toContain('GET /healthz')
  })
})
