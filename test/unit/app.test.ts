import { afterEach, describe, expect, it, vi } from 'vitest'
import { createBalancer } from '../../src/balancer.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { UpstreamConnectError } from '../../src/errors.ts'
import { silentLogger } from '../../src/log.ts'
import type { RuntimeDeps, UpstreamFetch, UpstreamInit } from '../../src/types.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'
const D = 'http://127.0.0.1:9004'

/** One call the fake upstream received. */
interface Call {
  url: string
  init: UpstreamInit
}

/**
 * A balancer over a fake upstream. `answer` decides per call; the peer address comes from the
 * `env` passed to `app.request`.
 */
function balancerWith(
  config: ConfigInput,
  answer: (url: string, init: UpstreamInit) => Promise<Response> | Response,
) {
  const calls: Call[] = []
  const fetch: UpstreamFetch = async (url, init) => {
    calls.push({ url, init })
    return answer(url, init)
  }
  const deps: RuntimeDeps = {
    fetch,
    clientAddress: (_request, env) => (env as { ip?: string } | undefined)?.ip,
    tcpConnect: async () => {},
    readTextFile: async () => '',
    logger: silentLogger,
  }
  const balancer = createBalancer(parseConfig({ healthCheck: { enabled: false }, ...config }), deps)
  // A real server's Request always carries the client's Host; app.request's does not.
  const request = (path: string, init: RequestInit = {}, ip = '192.0.2.1') => {
    const headers = new Headers(init.headers)
    if (!headers.has('host')) headers.set('host', 'shop.example')
    return balancer.app.request(`http://shop.example${path}`, { ...init, headers }, { ip })
  }
  return { balancer, calls, request }
}

const refused = () => Promise.reject(new UpstreamConnectError('ECONNREFUSED'))
const origin = (url: string) => new URL(url).origin

afterEach(() => {
  vi.useRealTimers()
})

describe('no backend available', () => {
  it('answers 503 JSON with Retry-After when there are no backends', async () => {
    const { calls, request } = balancerWith({}, () => new Response('never'))
    const response = await request('/')
    expect(response.status).toBe(503)
    expect(response.headers.get('retry-after')).toBe('1')
    expect(response.headers.get('content-type')).toBe('application/json')
    const body = await response.json()
    expect(body).toEqual({ error: 'No backend available', requestId: expect.any(String) })
    expect(response.headers.get('x-request-id')).toBe(body.requestId)
    expect(calls).toEqual([])
  })

  it('answers 503 when every backend is down', async () => {
    const { balancer, calls, request } = balancerWith(
      { backends: [A, B], healthCheck: { enabled: false, fall: 1 } },
      () => new Response('never'),
    )
    for (const state of balancer.pool.states()) balancer.pool.recordProbe(state.backend.id, false)
    expect((await request('/')).status).toBe(503)
    expect(calls).toEqual([])
  })
})

describe('forwarding', () => {
  it('sends the raw target to the chosen backend and streams the answer back', async () => {
    const { balancer, calls, request } = balancerWith({ backends: [A] }, () => {
      return new Response('hello', {
        status: 201,
        headers: { 'x-up': '1', connection: 'x-secret', 'x-secret': 's', 'keep-alive': '5' },
      })
    })
    const response = await request('/a%2Fb//c?q=%20x+y&r', {
      headers: { 'x-request-id': 'client-id', connection: 'x-drop', 'x-drop': '1', 'x-keep': '2' },
    })
    expect(response.status).toBe(201)
    expect(response.headers.get('x-up')).toBe('1')
    expect(response.headers.has('x-secret')).toBe(false)
    expect(response.headers.has('keep-alive')).toBe(false)
    expect(response.headers.get('via')).toBe('1.1 fulcrum')
    expect(calls).toHaveLength(1)
    expect(calls[0]!.url).toBe(`${A}/a%2Fb//c?q=%20x+y&r`)
    expect(calls[0]!.init.redirect).toBe('manual')
    const sent = new Headers(calls[0]!.init.headers)
    expect(sent.get('x-keep')).toBe('2')
    expect(sent.has('x-drop')).toBe(false)
    expect(sent.get('x-request-id')).toBe('client-id')
    expect(sent.get('x-forwarded-for')).toBe('192.0.2.1')
    expect(sent.get('host')).toBe('shop.example')
    // In flight until the body has been read.
    expect(balancer.inflight()).toBe(1)
    expect(await response.text()).toBe('hello')
    expect(balancer.inflight()).toBe(0)
  })

  it('generates an X-Request-Id when the client sent none', async () => {
    const { calls, request } = balancerWith({ backends: [A] }, () => new Response('ok'))
    await request('/')
    expect(new Headers(calls[0]!.init.headers).get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    )
  })

  it('trusts forwarding headers only from trustedProxies', async () => {
    const { calls, request } = balancerWith(
      { backends: [A], forwarding: { trustedProxies: ['10.0.0.0/8', '::1'] } },
      () => new Response('ok'),
    )
    const spoof = { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }
    await request('/', { headers: spoof }, '10.1.2.3')
    await request('/', { headers: spoof }, '::1')
    await request('/', { headers: spoof }, '192.0.2.50')
    const sent = calls.map((call) => new Headers(call.init.headers))
    expect(sent[0]!.get('x-forwarded-for')).toBe('203.0.113.9, 10.1.2.3')
    expect(sent[0]!.get('x-forwarded-proto')).toBe('https')
    expect(sent[1]!.get('x-forwarded-for')).toBe('203.0.113.9, ::1')
    expect(sent[1]!.get('forwarded')).toBe('for="[::1]";proto=http;host=shop.example')
    expect(sent[2]!.get('x-forwarded-for')).toBe('192.0.2.50')
    expect(sent[2]!.get('x-forwarded-proto')).toBe('http')
  })

  it('drops the client Host when preserveHost is off', async () => {
    const { calls, request } = balancerWith(
      { backends: [A], forwarding: { preserveHost: false } },
      () => new Response('ok'),
    )
    await request('/')
    expect(new Headers(calls[0]!.init.headers).has('host')).toBe(false)
  })

  it('round-robins over the backends in turn', async () => {
    const { calls, request } = balancerWith({ backends: [A, B, C] }, () => new Response('ok'))
    for (let i = 0; i < 6; i++) await (await request('/')).text()
    expect(calls.map((call) => origin(call.url))).toEqual([A, B, C, A, B, C])
  })
})

describe('upstream failures', () => {
  it('retries a GET that failed before its response headers on the next backend', async () => {
    // As when a backend closed the keep-alive connection the request went out on.
    const { balancer, calls, request } = balancerWith({ backends: [A, B, C] }, (url) =>
      origin(url) === A
        ? Promise.reject(new TypeError('other side closed'))
        : new Response(origin(url)),
    )
    const response = await request('/')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(B)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
    expect(balancer.inflight()).toBe(0)
  })

  it('answers 502 JSON when every attempt fails', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, () =>
      Promise.reject(new TypeError('other side closed')),
    )
    const response = await request('/')
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({
      error: 'Upstream failed',
      requestId: expect.any(String),
    })
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
  })

  it('does not repeat a non-idempotent request that failed after connecting', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, () =>
      Promise.reject(new TypeError('other side closed')),
    )
    expect((await request('/', { method: 'POST' })).status).toBe(502)
    expect((await request('/', { method: 'PATCH' })).status).toBe(502)
    expect(calls.map((call) => call.init.method)).toEqual(['POST', 'PATCH'])
  })

  it('does not repeat an idempotent request whose body outgrew the replay buffer', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, () =>
      Promise.reject(new TypeError('other side closed')),
    )
    const body = 'x'.repeat(70_000) // beyond retries.replayBuffer (64 KiB)
    expect((await request('/', { method: 'PUT', body })).status).toBe(502)
    expect(calls).toHaveLength(1)
  })

  it('repeats an idempotent request whose small body was kept whole', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, (url) =>
      origin(url) === A ? Promise.reject(new TypeError('other side closed')) : new Response('ok'),
    )
    expect((await request('/', { method: 'PUT', body: 'x' })).status).toBe(200)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
  })

  it('answers 504 when the response headers do not arrive in time', async () => {
    vi.useFakeTimers()
    const { balancer, calls, request } = balancerWith(
      { backends: [A, B], timeouts: { responseHeaders: '2s' } },
      (_url, init) =>
        new Promise((_, reject) =>
          init.signal!.addEventListener('abort', () => reject(new Error('aborted'))),
        ),
    )
    const pending = Promise.resolve(request('/'))
    await vi.advanceTimersByTimeAsync(1999)
    expect(calls).toHaveLength(1)
    let settled = false
    void pending.then(() => (settled = true))
    await vi.advanceTimersByTimeAsync(0)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const response = await pending
    expect(response.status).toBe(504)
    expect(await response.json()).toEqual({
      error: 'Upstream timed out',
      requestId: expect.any(String),
    })
    // A timed-out request may have been processed: it is not sent elsewhere.
    expect(calls).toHaveLength(1)
    expect(balancer.inflight()).toBe(0)
  })

  it('retries a refused GET on the next candidate', async () => {
    const { balancer, calls, request } = balancerWith({ backends: [A, B, C] }, (url) =>
      origin(url) === A ? refused() : new Response(origin(url)),
    )
    const response = await request('/')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(B)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
    expect(balancer.inflight()).toBe(0)
  })

  it('retries a refused HEAD too', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, (url) =>
      origin(url) === A ? refused() : new Response(null),
    )
    expect((await request('/', { method: 'HEAD' })).status).toBe(200)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
  })

  it('retries a refused request without a body whatever its method', async () => {
    const { calls, request } = balancerWith({ backends: [A, B] }, (url) =>
      origin(url) === A ? refused() : new Response('ok'),
    )
    expect((await request('/', { method: 'POST' })).status).toBe(200)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
  })

  it('retries a refused POST with a small body from the replay buffer: nothing was sent', async () => {
    const { calls, request } = balancerWith({ backends: [A, B, C] }, (url) =>
      origin(url) === A ? refused() : new Response('ok'),
    )
    const response = await request('/', { method: 'POST', body: 'payload' })
    expect(response.status).toBe(200)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B])
  })

  it('gives up after three refused attempts', async () => {
    const { calls, request } = balancerWith({ backends: [A, B, C, D] }, refused)
    const response = await request('/')
    expect(response.status).toBe(502)
    expect(calls.map((call) => origin(call.url))).toEqual([A, B, C])
  })

  it('answers 502 when the only backend refuses', async () => {
    const { calls, request } = balancerWith({ backends: [A] }, refused)
    expect((await request('/')).status).toBe(502)
    expect(calls).toHaveLength(1)
  })
})
