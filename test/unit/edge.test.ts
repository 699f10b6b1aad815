import { describe, expect, it } from 'vitest'
import { parseConfig, type ConfigInput } from '../../src/config.ts'
import { createEdge } from '../../src/edge/edge.ts'

function edgeWith(input: ConfigInput, peer = '192.0.2.1') {
  const config = parseConfig(input)
  return createEdge({ config: () => config, deps: { clientAddress: () => peer } })
}

const ok = () => new Response('ok')
const get = (headers: Record<string, string> = {}) =>
  new Request('http://x/a', { headers: { host: 'x', ...headers } })

describe('createEdge', () => {
  it('keys the rate limit by a header when asked, and by address without it', async () => {
    const edge = edgeWith({
      rateLimit: { requests: 1, per: '1m', burst: 1, key: 'header:x-api-key' },
    })
    const status = async (headers: Record<string, string>) =>
      (await edge.handle(get(headers), undefined, ok)).status
    expect(await status({ 'x-api-key': 'k1' })).toBe(200)
    expect(await status({ 'x-api-key': 'k1' })).toBe(429)
    expect(await status({ 'x-api-key': 'k2' })).toBe(200)
    expect(await status({})).toBe(200)
    expect(await status({})).toBe(429)
  })

  it('sends HSTS over TLS when configured, and never without TLS', async () => {
    const tls = edgeWith({
      tls: { enabled: true, hsts: { maxAge: '1h', includeSubDomains: true } },
    })
    const response = await tls.handle(get(), undefined, ok)
    expect(response.headers.get('strict-transport-security')).toBe(
      'max-age=3600; includeSubDomains',
    )
    // Refusals carry it too.
    const refused = await tls.handle(get({ host: 'a b' }), undefined, ok)
    expect(refused.status).toBe(400)
    expect(refused.headers.get('strict-transport-security')).toMatch(/^max-age=3600/)
    const plain = edgeWith({ tls: { enabled: false, hsts: { maxAge: '1h' } } })
    expect(
      (await plain.handle(get(), undefined, ok)).headers.has('strict-transport-security'),
    ).toBe(false)
  })

  it('answers 503 beyond maxConnections, counting requests and held WebSockets', async () => {
    const edge = edgeWith({ limits: { maxConnections: 2 } })
    let release!: () => void
    const slow = () =>
      new Promise<Response>((resolve) => (release = () => resolve(new Response('late'))))
    const first = edge.handle(get(), undefined, slow)
    const free = edge.hold()
    expect(edge.inProgress).toBe(2)
    const refused = await edge.handle(get(), undefined, ok)
    expect(refused.status).toBe(503)
    expect(refused.headers.get('retry-after')).toBe('1')
    release()
    await first
    free()
    free()
    expect(edge.inProgress).toBe(0)
    expect((await edge.handle(get(), undefined, ok)).status).toBe(200)
  })

  it('cuts a streamed body over the limit with 413, and drops Expect on the way', async () => {
    const edge = edgeWith({ limits: { maxBodySize: 10 } })
    let sawExpect: string | null = 'unset'
    const reader = async (request: Request) => {
      sawExpect = request.headers.get('expect')
      try {
        await request.arrayBuffer()
        return new Response('read')
      } catch {
        return new Response('upstream failed', { status: 502 })
      }
    }
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new Uint8Array(8))
        c.enqueue(new Uint8Array(8))
        c.close()
      },
    })
    const request = new Request('http://x/up', {
      method: 'POST',
      headers: { host: 'x', expect: '100-continue' },
      body,
      duplex: 'half',
    } as RequestInit)
    const response = await edge.handle(request, undefined, reader)
    expect(response.status).toBe(413)
    expect(response.headers.get('connection')).toBe('close')
    expect(sawExpect).toBe(null)
    // The re-created request keeps its client address.
    expect(edge.clientAddress(request, undefined)).toBe('192.0.2.1')
  })
})
