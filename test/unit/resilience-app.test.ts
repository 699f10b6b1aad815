/**
 * The public app's resilience with a fake upstream: retries and their limits, the replay buffer,
 * the queue, passive health on live traffic, body timeouts and client cancellation.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { AbortSignalLike } from '../../src/abort.ts'
import { createApp, type ProxyContext } from '../../src/app.ts'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { UpstreamConnectError } from '../../src/errors.ts'
import { BackendPool } from '../../src/pool.ts'
import { bindSelector, strategies } from '../../src/strategies/index.ts'
import type { Logger, RuntimeDeps, UpstreamInit } from '../../src/types.ts'

const A = 'http://127.0.0.1:9001'
const B = 'http://127.0.0.1:9002'
const C = 'http://127.0.0.1:9003'
const D = 'http://127.0.0.1:9004'

interface Call {
  origin: string
  method: string
  body: string | undefined
  signal: AbortSignalLike
}

/** The app over a fake upstream; each call's body is read in full before `answer` decides. */
function appWith(
  input: ConfigInput,
  answer: (origin: string, call: Call, index: number) => Promise<Response> | Response,
  options: { readBody?: boolean } = {},
) {
  const config = parseConfig({ healthCheck: { enabled: false }, ...input })
  const lines: { msg: string; fields: Record<string, unknown> }[] = []
  const logger: Logger = {
    info: (msg, fields = {}) => lines.push({ msg, fields }),
    warn: (msg, fields = {}) => lines.push({ msg, fields }),
    error: (msg, fields = {}) => lines.push({ msg, fields }),
  }
  const calls: Call[] = []
  const deps: RuntimeDeps = {
    fetch: async (url: string, init: UpstreamInit) => {
      const origin = new URL(url).origin
      const body =
        init.body && options.readBody !== false
          ? await new Response(init.body as ReadableStream).text()
          : undefined
      const call = { origin, method: init.method!, body, signal: init.signal! }
      calls.push(call)
      return answer(origin, call, calls.length - 1)
    },
    clientAddress: () => '192.0.2.1',
    tcpConnect: async () => {},
    readTextFile: async () => '',
    logger,
  }
  const pool = new BackendPool(config.backends, { logger })
  const ctx: ProxyContext = {
    config,
    deps,
    pool,
    logger,
    selector: bindSelector(pool, strategies[config.strategy], config.strategyOptions),
  }
  const app = createApp(ctx)
  const request = (path: string, init: RequestInit = {}) =>
    app.request(`http://shop.example${path}`, {
      ...init,
      headers: { host: 'shop.example', ...(init.headers as Record<string, string>) },
    })
  return { app, pool, calls, lines, request, ctx }
}

const refused = () => Promise.reject(new UpstreamConnectError('ECONNREFUSED'))
const reset = () => Promise.reject(new TypeError('other side closed'))
const status = (code: number, text = String(code)) => new Response(text, { status: code })

afterEach(() => {
  vi.useRealTimers()
})

describe('retries', () => {
  it('retries a GET answered 503 on another backend and logs the reason', async () => {
    const { calls, request, lines, pool } = appWith({ backends: [A, B, C] }, (origin) =>
      origin === A ? status(503) : new Response(origin),
    )
    const idOf = (url: string) => [...pool.states()].find((s) => s.backend.url === url)!.backend.id
    const response = await request('/')
    expect(response.status).toBe(200)
    expect(await response.text()).toBe(B)
    expect(calls.map((c) => c.origin)).toEqual([A, B])
    expect(lines.find((l) => l.msg === 'retry')!.fields).toMatchObject({
      backend: idOf(B),
      attempt: 2,
      reason: 'status 503',
    })
  })

  it('passes the last retryable answer through when no backend is left', async () => {
    const { calls, request } = appWith({ backends: [A, B] }, (origin) =>
      status(503, `busy ${origin}`),
    )
    const response = await request('/')
    expect(response.status).toBe(503)
    expect(await response.text()).toBe(`busy ${B}`)
    expect(calls).toHaveLength(2)
  })

  it('does not retry a status that is not listed', async () => {
    const { calls, request } = appWith({ backends: [A, B] }, () => status(500))
    expect((await request('/')).status).toBe(500)
    expect(calls).toHaveLength(1)
  })

  it('never sends a POST that reached a backend twice without Idempotency-Key', async () => {
    const { calls, request } = appWith({ backends: [A, B] }, (origin) =>
      origin === A ? reset() : new Response('ok'),
    )
    expect((await request('/', { method: 'POST', body: 'order' })).status).toBe(502)
    const second = appWith({ backends: [A, B] }, (origin) =>
      origin === A ? status(503) : new Response('ok'),
    )
    expect((await second.request('/', { method: 'POST', body: 'order' })).status).toBe(503)
    expect(calls).toHaveLength(1)
    expect(second.calls).toHaveLength(1)
  })

  it('retries a POST with Idempotency-Key after a reset, with the same body', async () => {
    const { calls, request } = appWith({ backends: [A, B] }, (origin) =>
      origin === A ? reset() : new Response('ok'),
    )
    const response = await request('/', {
      method: 'POST',
      body: 'order-42',
      headers: { 'idempotency-key': 'k1' },
    })
    expect(response.status).toBe(200)
    expect(calls.map((c) => [c.origin, c.body])).toEqual([
      [A, 'order-42'],
      [B, 'order-42'],
    ])
  })

  it('retries a refused POST with the body it kept: nothing was sent', async () => {
    const { calls, request } = appWith({ backends: [A, B] }, (origin) =>
      origin === A ? refused() : new Response('ok'),
    )
    expect((await request('/', { method: 'POST', body: 'payload' })).status).toBe(200)
    expect(calls.map((c) => [c.origin, c.body])).toEqual([
      [A, 'payload'],
      [B, 'payload'],
    ])
  })

  it('retries a PUT answered 502 with its whole body, even one the backend did not read', async () => {
    const { calls, request } = appWith(
      { backends: [A, B] },
      (origin) => (origin === A ? status(502) : new Response('ok')),
      { readBody: false },
    )
    expect((await request('/', { method: 'PUT', body: 'x'.repeat(1000) })).status).toBe(200)
    expect(calls.map((c) => c.origin)).toEqual([A, B])
  })

  it('does not repeat a body larger than the replay buffer', async () => {
    const { calls, request } = appWith(
      { backends: [A, B], retries: { replayBuffer: 10 } },
      (origin) => (origin === A ? reset() : new Response('ok')),
    )
    const response = await request('/', { method: 'PUT', body: 'x'.repeat(100) })
    expect(response.status).toBe(502)
    expect(calls).toHaveLength(1)
  })

  it('never retries a timeout', async () => {
    const { calls, request } = appWith(
      { backends: [A, B], timeouts: { responseHeaders: '20ms' } },
      (_origin, call) =>
        new Promise((_, reject) =>
          call.signal.addEventListener('abort', () => reject(new Error('x'))),
        ),
    )
    expect((await request('/')).status).toBe(504)
    expect(calls).toHaveLength(1)
  })

  it('caps the attempts per request', async () => {
    const { calls, request } = appWith(
      { backends: [A, B, C, D], retries: { attempts: 2 } },
      refused,
    )
    expect((await request('/')).status).toBe(502)
    expect(calls).toHaveLength(2)
  })

  it('stops retrying when the budget is spent, and says so', async () => {
    const { calls, request, lines } = appWith(
      { backends: [A, B], retries: { budgetPercent: 0, minRetryConcurrency: 0 } },
      refused,
    )
    expect((await request('/')).status).toBe(502)
    expect(calls).toHaveLength(1)
    expect(lines.map((l) => l.msg)).toContain('retry budget exhausted')
  })
})

describe('queue', () => {
  it('queues behind maxConnections, then 503s with Retry-After when full or timed out', async () => {
    const gates: (() => void)[] = []
    const { calls, request, ctx } = appWith(
      {
        backends: [{ url: A, maxConnections: 1 }],
        queue: { size: 1, timeout: '200ms' },
      },
      () => new Promise<Response>((resolve) => gates.push(() => resolve(new Response('ok')))),
    )
    const first = request('/1')
    await vi.waitFor(() => expect(calls).toHaveLength(1))
    const second = request('/2')
    await vi.waitFor(() => expect(ctx.queue!.length).toBe(1))
    const third = await request('/3')
    expect(third.status).toBe(503)
    expect(third.headers.get('retry-after')).toBe('1')
    expect(await third.json()).toMatchObject({ error: 'Queue full' })
    gates[0]!()
    expect(await (await first).text()).toBe('ok')
    await vi.waitFor(() => expect(calls).toHaveLength(2))
    gates[1]!()
    // The slot is held until the response body ends.
    expect(await (await second).text()).toBe('ok')

    // Now one in flight that never ends: the next waits for the queue timeout.
    const stuck = request('/4')
    await vi.waitFor(() => expect(calls).toHaveLength(3))
    const startedAt = Date.now()
    const late = await request('/5')
    expect(late.status).toBe(503)
    expect(await late.json()).toMatchObject({ error: 'Queue timeout' })
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(190)
    gates[2]!()
    await stuck
  })

  it('answers 503 at once when every backend is down', async () => {
    const { request, pool, calls } = appWith({ backends: [A, B] }, () => new Response('x'))
    for (const state of pool.states()) state.healthy = false
    pool.configure({})
    const startedAt = performance.now()
    const response = await request('/')
    expect(response.status).toBe(503)
    expect(performance.now() - startedAt).toBeLessThan(100)
    expect(calls).toEqual([])
  })
})

describe('passive health on live traffic', () => {
  it('ejects a backend after consecutive 5xx and sends the traffic elsewhere', async () => {
    const { request, calls, lines } = appWith(
      { backends: [A, B, C], circuitBreaker: { enabled: false } },
      (origin) => (origin === A ? status(500) : new Response('ok')),
    )
    for (let i = 0; i < 15; i++) await (await request(`/${i}`)).text()
    const toA = calls.filter((c) => c.origin === A).length
    expect(toA).toBe(5)
    expect(lines.find((l) => l.msg === 'backend ejected')!.fields.reason).toBe(
      '5 consecutive 5xx responses',
    )
  })

  it('opens the circuit of a failing backend and logs it', async () => {
    const { request, pool, lines } = appWith(
      {
        backends: [A, B],
        outlierDetection: { enabled: false },
        circuitBreaker: { minimumRequests: 4 },
      },
      (origin) => (origin === A ? status(500) : new Response('ok')),
    )
    for (let i = 0; i < 12; i++) await (await request(`/${i}`)).text()
    expect(pool.get([...pool.states()][0]!.backend.id)!.circuit).toBe('open')
    expect(lines.map((l) => l.msg)).toContain('circuit open')
  })
})

describe('body timeouts and cancellation', () => {
  it('aborts a response whose upstream body goes idle, never ending it as complete', async () => {
    const { request, lines } = appWith(
      { backends: [A], timeouts: { upstreamIdle: '50ms' } },
      () => {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('partial'))
          },
        })
        return new Response(body, { status: 200 })
      },
    )
    const response = await request('/')
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow(/No body data within 50 ms/)
    expect(lines.find((l) => l.msg === 'upstream body aborted')!.fields.reason).toBe('timeout')
  })

  it('answers 408 when the client stops sending its body', async () => {
    const { request, calls } = appWith(
      { backends: [A], timeouts: { clientIdle: '50ms' } },
      () => new Response('never'),
    )
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('start'))
      },
    })
    const response = await request('/', { method: 'POST', body, duplex: 'half' } as RequestInit)
    expect(response.status).toBe(408)
    expect(calls).toHaveLength(0) // the fake reads the whole body first: it never got one
  })

  it('cancels the upstream request at once when the client goes away', async () => {
    const client = new AbortController()
    let upstreamSignal: AbortSignalLike | undefined
    const { app } = appWith({ backends: [A, B] }, (_origin, call) => {
      upstreamSignal = call.signal
      return new Promise((_, reject) =>
        call.signal.addEventListener('abort', () => reject(new Error('aborted'))),
      )
    })
    const pending = app.request('http://shop.example/', {
      headers: { host: 'shop.example' },
      signal: client.signal,
    })
    await vi.waitFor(() => expect(upstreamSignal).toBeDefined())
    client.abort()
    await pending
    expect(upstreamSignal!.aborted).toBe(true)
  })
})

describe('backups', () => {
  it('tries a backup when every primary failed the request, and only then', async () => {
    const { request, calls } = appWith(
      { backends: [A, B, { url: C, backup: true }], circuitBreaker: { enabled: false } },
      (origin) => (origin === C ? new Response('backup') : refused()),
    )
    const response = await request('/')
    expect(await response.text()).toBe('backup')
    expect(calls.map((c) => c.origin)).toEqual([A, B, C])
  })

  it('does not use a backup while a primary answers', async () => {
    const { request, calls } = appWith(
      { backends: [A, { url: C, backup: true }] },
      (origin) => new Response(origin),
    )
    for (let i = 0; i < 5; i++) expect(await (await request('/')).text()).toBe(A)
    expect(calls.every((c) => c.origin === A)).toBe(true)
  })
})
