import { describe, expect, it } from 'vitest'
import { parseConfig, type Config, type ConfigInput } from '../../src/config.ts'
import type { BackendPool } from '../../src/pool.ts'
import { createRequestPlanner, type RequestPlan } from '../../src/request-plan.ts'
import type { Selector } from '../../src/strategies/strategy.ts'
import { StickySessions } from '../../src/sticky.ts'
import type { Backend } from '../../src/types.ts'

const backend = (id: string): Backend => ({ id, url: `http://${id}.example`, weight: 1 })
const A = backend('a')
const B = backend('b')
const C = backend('c')
const HOUR = 3_600_000

/** A planner over a fixed candidate order; `sessionTarget` knows every backend. */
function planner(config: ConfigInput = {}, sticky?: StickySessions) {
  const state = {
    config: parseConfig({ healthCheck: { enabled: false }, ...config }) as Config,
    order: [A, B, C],
    /** What the selector was asked to hash on, per call. */
    asked: [] as (string | undefined)[],
  }
  const selector: Selector = {
    candidates: (input) => {
      state.asked.push(input.clientIp)
      return state.order
    },
  }
  const pool = {
    sessionTarget: (id: string) => [A, B, C].find((b) => b.id === id),
  } as unknown as BackendPool
  const it = createRequestPlanner({
    config: () => state.config,
    pool,
    selector: () => selector,
    sticky: () => sticky,
  })
  return { state, plan: it.plan.bind(it) }
}

const request = (headers: Record<string, string> = {}) =>
  new Request('http://shop.example/cart?id=7', { headers: { host: 'shop.example', ...headers } })

const sync = (plan: RequestPlan | Promise<RequestPlan>): RequestPlan => {
  if (plan instanceof Promise) throw new Error('expected a synchronous plan')
  return plan
}

describe('request id', () => {
  it('keeps a sane X-Request-Id, and makes one up otherwise', () => {
    const { plan } = planner()
    expect(sync(plan(request({ 'x-request-id': 'abc-1' }), '/', '192.0.2.1')).requestId).toBe(
      'abc-1',
    )
    const made = sync(plan(request({ 'x-request-id': 'has space' }), '/', '192.0.2.1'))
    expect(made.requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect(made.headers.get('x-request-id')).toBe(made.requestId)
  })
})

describe('upstream fields', () => {
  it('strips hop-by-hop fields before adding the forwarding fields (RFC 9110 §7.6.1)', () => {
    const { plan } = planner()
    const planned = sync(
      plan(
        request({
          connection: 'keep-alive, X-Hop, Via',
          'keep-alive': 'timeout=5',
          'x-hop': '1',
          te: 'trailers',
          'x-keep': 'kept',
        }),
        '/',
        '192.0.2.1',
      ),
    )
    // Sorted here: fulcrum keeps the arrival order, with its own fields after the client's.
    expect([...planned.headers].sort(([a], [b]) => a.localeCompare(b))).toEqual([
      ['forwarded', 'for=192.0.2.1;proto=http;host=shop.example'],
      ['host', 'shop.example'],
      ['via', '1.1 fulcrum'],
      ['x-forwarded-for', '192.0.2.1'],
      ['x-forwarded-host', 'shop.example'],
      ['x-forwarded-proto', 'http'],
      ['x-keep', 'kept'],
      ['x-request-id', planned.requestId],
    ])
    expect(planned.host).toBe('shop.example')
  })

  it('drops Host unless preserveHost, and says https behind TLS', () => {
    const { plan, state } = planner({ forwarding: { preserveHost: false } })
    expect(sync(plan(request(), '/', '192.0.2.1')).headers.has('host')).toBe(false)
    state.config = { ...state.config, tls: { ...state.config.tls, enabled: true } }
    expect(sync(plan(request(), '/', '192.0.2.1')).headers.get('x-forwarded-proto')).toBe('https')
  })
})

describe('client address', () => {
  const spoof = { 'x-forwarded-for': '203.0.113.9', forwarded: 'for=198.51.100.4' }

  it('uses the peer, and drops its forwarding fields, when it is not a trusted proxy', () => {
    const { plan } = planner({ forwarding: { trustedProxies: ['10.0.0.0/8'] } })
    const planned = sync(plan(request(spoof), '/', '192.0.2.1'))
    expect([planned.peer, planned.client, planned.trusted]).toEqual([
      '192.0.2.1',
      '192.0.2.1',
      false,
    ])
    expect(planned.input.clientIp).toBe('192.0.2.1')
    expect(planned.headers.get('x-forwarded-for')).toBe('192.0.2.1')
  })

  it('resolves what a trusted proxy forwarded, as the edge does', () => {
    const { plan, state } = planner({ forwarding: { trustedProxies: ['10.0.0.0/8'] } })
    const viaXff = sync(plan(request(spoof), '/', '10.0.0.1'))
    expect([viaXff.client, viaXff.trusted]).toEqual(['203.0.113.9', true])
    expect(viaXff.headers.get('x-forwarded-for')).toBe('203.0.113.9, 10.0.0.1')
    // Only `Forwarded` (RFC 7239): its for= node is the client.
    const viaForwarded = sync(plan(request({ forwarded: 'for=198.51.100.4' }), '/', '10.0.0.1'))
    expect(viaForwarded.client).toBe('198.51.100.4')
    // The strategy hashes on it.
    expect(state.asked).toEqual([])
    expect([...viaForwarded.candidates()]).toEqual([A, B, C])
    expect(state.asked).toEqual(['198.51.100.4'])
  })

  it('follows a reload of trustedProxies', () => {
    const { plan, state } = planner()
    expect(sync(plan(request(spoof), '/', '10.0.0.1')).trusted).toBe(false)
    state.config = parseConfig({ forwarding: { trustedProxies: ['10.0.0.0/8'] } })
    expect(sync(plan(request(spoof), '/', '10.0.0.1')).trusted).toBe(true)
  })
})

describe('pick input', () => {
  it('splits the target into path and query', () => {
    const { plan } = planner()
    const { input } = sync(plan(request({ 'x-user': 'u1' }), '/a%2Fb?q=1&r', '192.0.2.1'))
    expect([input.path, input.query, input.header('x-user')]).toEqual(['/a%2Fb', 'q=1&r', 'u1'])
  })
})

describe('sticky sessions', () => {
  const sticky = () =>
    new StickySessions({ keys: [{ kid: 'k1', secret: 'x'.repeat(32) }], maxAge: HOUR })

  it('is synchronous and unpinned without sticky sessions or without a cookie', async () => {
    const off = sync(planner().plan(request(), '/', '192.0.2.1'))
    expect([off.pin, off.pinned, off.stickyVerdict(A), off.sessionCookie(A)]).toEqual([
      undefined,
      undefined,
      'none',
      undefined,
    ])
    expect([...off.candidates()]).toEqual([A, B, C])
    const fresh = sync(planner({}, sticky()).plan(request(), '/', '192.0.2.1'))
    expect(fresh.stickyVerdict(A)).toBe('new')
    expect(fresh.stickyVerdict(undefined)).toBe('new')
    expect(await fresh.sessionCookie(A)).toMatch(
      /^lb_sid=[^;]+; Max-Age=\d+; Path=\/; HttpOnly; SameSite=Lax$/,
    )
  })

  it('puts the pinned backend first, once, and issues no cookie while it serves', async () => {
    const layer = sticky()
    const { value } = await layer.issue('c')
    const { plan, state } = planner({}, layer)
    const planned = plan(request({ cookie: `other=1; lb_sid=${value}` }), '/', '192.0.2.1')
    expect(planned).toBeInstanceOf(Promise)
    const pinned = await planned
    expect(pinned.pin?.backendId).toBe('c')
    expect(pinned.pinned).toBe(C)
    expect([...pinned.candidates()]).toEqual([C, A, B])
    // Each call asks the selector in force again.
    state.order = [B, C]
    expect([...pinned.candidates()]).toEqual([C, B])
    expect(pinned.sessionCookie(C)).toBeUndefined()
    expect(pinned.stickyVerdict(C)).toBe('hit')
    expect(pinned.stickyVerdict(A)).toBe('moved')
    expect(await pinned.sessionCookie(A)).toMatch(/^lb_sid=/)
  })

  it('counts a forged cookie as none, and marks the cookie Secure behind TLS', async () => {
    const layer = sticky()
    const { value } = await layer.issue('c')
    const config = { tls: { enabled: true, cert: '/c.pem', key: '/k.pem' } }
    const planned = await planner(config, layer).plan(
      request({ cookie: `lb_sid=${value}x` }),
      '/',
      '192.0.2.1',
    )
    expect([planned.pin, planned.pinned]).toEqual([undefined, undefined])
    expect([...planned.candidates()]).toEqual([A, B, C])
    expect(await planned.sessionCookie(A)).toMatch(/; Secure$/)
  })

  it('renews an ageing cookie on the backend it pins', async () => {
    let now = Date.now()
    const layer = new StickySessions({
      keys: [{ kid: 'k1', secret: 'x'.repeat(32) }],
      maxAge: HOUR,
      now: () => now,
    })
    const { value } = await layer.issue('a')
    now += HOUR * 0.6
    const planned = await planner({}, layer).plan(
      request({ cookie: `lb_sid=${value}` }),
      '/',
      '192.0.2.1',
    )
    expect(planned.pinned).toBe(A)
    expect(await planned.sessionCookie(A)).toMatch(/^lb_sid=/)
  })
})
