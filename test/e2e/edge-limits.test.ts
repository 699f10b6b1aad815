/**
 * Edge limits on the real entry points: rate limiting (429 with Retry-After and RateLimit-*),
 * IP allow/deny lists through trusted proxies, body size and body deadline, the connection cap,
 * and a slowloris cut at the header deadline while a normal client keeps being served. The body
 * and connection limits, slowloris and slow POST among them, hold over HTTP and HTTPS alike.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { send } from '../helpers/client.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import {
  exchange,
  parseResponses,
  rawConnect,
  whenConnected,
  type RawTls,
} from '../helpers/raw-http.ts'
import {
  RUNTIME_SCHEMES,
  makeTlsMaterial,
  schemeArgs,
  type TlsMaterial,
} from '../helpers/tls-material.ts'

let dir: string
let material: TlsMaterial
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fulcrum-edge-'))
  material = await makeTlsMaterial()
})
afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
  material?.remove()
})

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * A raw connection, plain or TLS, that records what it receives (latin1) and when it closed
 * (0: still open).
 */
async function watchedConnection(port: number, tls: RawTls) {
  const socket = rawConnect(port, tls)
  const seen = { raw: '', closedAt: 0 }
  socket.on('data', (chunk: Buffer) => (seen.raw += chunk.toString('latin1')))
  socket.on('error', () => {})
  socket.on('close', () => (seen.closedAt = Date.now()))
  await whenConnected(socket)
  return { socket, seen }
}

/**
 * A normal client meanwhile: sequential GETs of `path` on `base` (trusting `ca` over HTTPS),
 * `pauseMs` apart while `more()`; their statuses.
 */
async function normalClient(
  base: string,
  path: string,
  ca: string,
  more: () => boolean,
  pauseMs: number,
): Promise<number[]> {
  const statuses: number[] = []
  while (more()) {
    statuses.push((await send(base, { path, ca })).status)
    await sleep(pauseMs)
  }
  return statuses
}

function writeConfig(name: string, config: unknown): string {
  const path = join(dir, `${name}.json`)
  writeFileSync(path, JSON.stringify(config))
  return path
}

/** GET as client `ip` behind the trusted loopback proxy. */
const getAs = (base: string, ip: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/r`, { headers: { 'x-forwarded-for': ip, ...headers } })

describe.each(RUNTIMES)('rate limit and access lists on %s', (runtime) => {
  let backend: TestBackend
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    backend = await startBackend('a')
    const config = writeConfig(`acl-${runtime}`, {
      healthCheck: { enabled: false },
      forwarding: { trustedProxies: ['127.0.0.1', '::1'] },
      rateLimit: { requests: 2, per: '1s', burst: 3 },
      access: { allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.6.6.0/24'] },
    })
    fulcrum = await startFulcrum(runtime, ['--backend', backend.url, '--config', config])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await backend?.close()
  })

  it('lets a burst through, then answers 429 with Retry-After and RateLimit-* fields', async () => {
    const statuses: number[] = []
    let limited: Response | undefined
    let first: Response | undefined
    for (let i = 0; i < 5; i++) {
      const response = await getAs(fulcrum.url, '10.0.0.1')
      await response.arrayBuffer()
      statuses.push(response.status)
      first ??= response
      if (response.status === 429) limited ??= response
    }
    // A burst of 3, refilled at 2/s: the loop takes far less than 500 ms, so at most one more.
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200])
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1)
    expect(first!.headers.get('ratelimit-limit')).toBe('3')
    expect(first!.headers.get('ratelimit-remaining')).toBe('2')
    expect(first!.headers.get('ratelimit-policy')).toBe('2;w=1')
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(limited!.headers.get('ratelimit-remaining')).toBe('0')
    expect(Number(limited!.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1)
    // Another client has its own bucket.
    expect((await getAs(fulcrum.url, '10.0.0.2')).status).toBe(200)
    // Tokens come back at the configured rate.
    await sleep(1100)
    expect((await getAs(fulcrum.url, '10.0.0.1')).status).toBe(200)
  })

  it('applies the allow and deny lists to the forwarded client, IPv4 and IPv6', async () => {
    expect((await getAs(fulcrum.url, '10.1.2.3')).status).toBe(200)
    expect((await getAs(fulcrum.url, '2001:db8::7')).status).toBe(200)
    const denied = await getAs(fulcrum.url, '10.6.6.6')
    expect(denied.status).toBe(403)
    expect(await denied.json()).toMatchObject({ error: 'Forbidden' })
    expect((await getAs(fulcrum.url, '192.0.2.1')).status).toBe(403)
    expect((await getAs(fulcrum.url, '2001:db9::1')).status).toBe(403)
    // Forwarded (RFC 7239) counts as well as X-Forwarded-For.
    const viaForwarded = await fetch(`${fulcrum.url}/r`, {
      headers: { forwarded: 'for="[2001:db8::9]:4711"' },
    })
    expect(viaForwarded.status).toBe(200)
    // The loopback proxy itself is not on the allow list.
    expect((await fetch(`${fulcrum.url}/r`)).status).toBe(403)
    const before = backend.requests.length
    await getAs(fulcrum.url, '10.6.6.7')
    expect(backend.requests.length).toBe(before)
  })
})

describe.each(RUNTIME_SCHEMES)('body and connection limits on %s over %s', (runtime, scheme) => {
  let backend: TestBackend
  let fulcrum: FulcrumProcess
  const tls = scheme === 'https'
  /** GET or POST through fulcrum on a fresh connection, trusting the test certificate. */
  const request = (path: string, options: { method?: string; body?: string } = {}) =>
    send(fulcrum.url, { path, ca: material.cert, ...options })

  beforeAll(async () => {
    // Reads the whole body before answering; /slow answers after 1.5 s.
    backend = await startBackend('b', (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('error', () => {})
      req.on('end', () => {
        const wait = req.url === '/slow' ? 1500 : 0
        setTimeout(() => res.end(`b:${Buffer.concat(chunks).length}`), wait)
      })
    })
    const config = writeConfig(`limits-${runtime}-${scheme}`, {
      healthCheck: { enabled: false },
      timeouts: { clientHeaders: '1s' },
      limits: { maxBodySize: '64k', bodyTimeout: '1500ms', maxConnections: 4 },
    })
    fulcrum = await startFulcrum(runtime, [
      '--backend',
      backend.url,
      '--config',
      config,
      ...schemeArgs(scheme, material),
    ])
  })
  afterAll(async () => {
    await fulcrum?.stop()
    await backend?.close()
  })

  // First, while no other connection counts against Node's maxConnections.
  it('cuts a slowloris at the header deadline while a normal client is served', async () => {
    const { socket, seen } = await watchedConnection(fulcrum.port, tls)
    const startedAt = Date.now()
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n')
    // One header byte every 200 ms: never idle, never done.
    const drip = setInterval(() => socket.writable && socket.write('X'), 200)
    // The engine follows clientHeaders (1 s) on every runtime; a few seconds past it show it.
    const limit = 5000
    const normal = await normalClient(
      fulcrum.url,
      '/normal',
      material.cert,
      () => seen.closedAt === 0 && Date.now() - startedAt < limit,
      200,
    )
    clearInterval(drip)
    socket.destroy()
    expect(normal.every((status) => status === 200)).toBe(true)
    expect(normal.length).toBeGreaterThanOrEqual(3)
    expect(seen.closedAt).toBeGreaterThan(0)
    const elapsed = seen.closedAt - startedAt
    expect(seen.raw).toMatch(/^HTTP\/1\.1 408/)
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(elapsed).toBeLessThan(4000)
  }, 30_000)

  it('cuts off a chunked body where it crosses the limit with 413', async () => {
    const chunk = 'x'.repeat(16_384)
    const body = Array.from({ length: 6 }, () => `4000\r\n${chunk}\r\n`).join('') + '0\r\n\r\n'
    const result = await exchange(
      fulcrum.port,
      `POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      { expect: 1, timeoutMs: 5000, tls },
    )
    expect(result.responses[0]?.status).toBe(413)
    // Within the limit passes whole.
    const small = await request('/small', { method: 'POST', body: 'y'.repeat(60_000) })
    expect(small.body.toString()).toBe('b:60000')
  })

  it('answers a slow POST with 408 at the body deadline while a normal client is served', async () => {
    const { socket, seen } = await watchedConnection(fulcrum.port, tls)
    const startedAt = Date.now()
    socket.write('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n')
    const drip = setInterval(() => socket.writable && socket.write('z'), 100)
    const normal = await normalClient(
      fulcrum.url,
      '/normal',
      material.cert,
      () => parseResponses(seen.raw).length === 0 && Date.now() - startedAt < 8000,
      100,
    )
    clearInterval(drip)
    const answeredAt = Date.now()
    const answer = parseResponses(seen.raw)[0]
    // The close follows the answer by a few milliseconds: the loop may have seen the one first.
    while (seen.closedAt === 0 && Date.now() - answeredAt < 1000) await sleep(10)
    socket.destroy()
    expect(answer?.status).toBe(408)
    // The deadline is 1.5 s; generous margins for a loaded machine.
    expect(answeredAt - startedAt).toBeGreaterThanOrEqual(1400)
    expect(answeredAt - startedAt).toBeLessThan(6000)
    expect(answer?.headers.connection).toBe('close')
    expect(seen.closedAt).toBeGreaterThan(0)
    expect(normal.length).toBeGreaterThanOrEqual(3)
    expect(normal.every((status) => status === 200)).toBe(true)
  })

  it('refuses connections or answers 503 beyond maxConnections, and keeps serving', async () => {
    const before = backend.requests.length
    const slow = Array.from({ length: 4 }, () =>
      request('/slow').then(
        (r) => r.status,
        () => 0,
      ),
    )
    // Wait until all four are in progress (they reach the backend) before the fifth.
    const deadline = Date.now() + 5000
    while (
      backend.requests.slice(before).filter((r) => r.url === '/slow').length < 4 &&
      Date.now() < deadline
    ) {
      await sleep(20)
    }
    const extra = await exchange(fulcrum.port, 'GET /extra HTTP/1.1\r\nHost: x\r\n\r\n', {
      expect: 1,
      timeoutMs: 3000,
      tls,
    })
    const status = extra.responses[0]?.status
    expect(status).toBe(503)
    expect(extra.responses[0]!.headers['retry-after']).toBe('1')
    expect(await Promise.all(slow)).toEqual([200, 200, 200, 200])
    expect(fulcrum.child.exitCode).toBe(null)
    expect((await request('/after')).status).toBe(200)
  })
})
