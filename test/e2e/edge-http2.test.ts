/**
 * HTTP/2 to clients over TLS (ALPN h2, RFC 9113) with HTTP/1.1 as the fallback, on Node and
 * Deno, driven by Node's `http2` client. Bun serves HTTP/1.1 only: it must not offer h2.
 */
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBackend, type TestBackend } from '../helpers/backends.ts'
import { RUNTIMES, startFulcrum, type FulcrumProcess } from '../helpers/fulcrum.ts'
import { exchange } from '../helpers/raw-http.ts'

interface H2Response {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

function request(
  session: ClientHttp2Session,
  headers: Record<string, string>,
  body?: string,
): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined })
    let status = 0
    let responseHeaders: IncomingHttpHeaders = {}
    let text = ''
    stream.setEncoding('utf8')
    stream.on('response', (h) => {
      status = Number(h[':status'])
      responseHeaders = h
    })
    stream.on('data', (chunk: string) => (text += chunk))
    stream.on('end', () => resolve({ status, headers: responseHeaders, body: text }))
    stream.on('error', reject)
    if (body !== undefined) stream.end(body)
  })
}

let backend: TestBackend
beforeAll(async () => {
  backend = await startBackend('a', (req, res) => {
    let size = 0
    req.on('data', (chunk: Buffer) => (size += chunk.length))
    req.on('end', () => {
      res.setHeader('x-seen-method', req.method ?? '')
      res.end(req.method === 'POST' ? `a:${size}` : 'a')
    })
  })
})
afterAll(async () => {
  await backend?.close()
})

describe.each(RUNTIMES)('HTTP/2 on %s', (runtime) => {
  let fulcrum: FulcrumProcess

  beforeAll(async () => {
    fulcrum = await startFulcrum(runtime, ['--tls', '--backend', backend.url])
  })
  afterAll(async () => {
    await fulcrum?.stop()
  })

  const open = () =>
    new Promise<{ session: ClientHttp2Session; alpn: string | false | undefined }>(
      (resolve, reject) => {
        const session = connect(fulcrum.url, { rejectUnauthorized: false })
        session.once('connect', () => resolve({ session, alpn: session.alpnProtocol }))
        session.once('error', reject)
      },
    )

  if (runtime === 'bun') {
    it('does not offer h2, and serves HTTP/1.1 over TLS', async () => {
      const alpn = await open().then(
        ({ session, alpn }) => {
          session.destroy()
          return alpn
        },
        () => undefined,
      )
      expect(alpn).not.toBe('h2')
      const result = await exchange(fulcrum.port, 'GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n', {
        expect: 1,
        tls: { ALPNProtocols: ['h2', 'http/1.1'] },
      })
      expect(result.responses[0]?.status).toBe(200)
    })
    return
  }

  it('negotiates h2 by ALPN and proxies concurrent streams on one connection', async () => {
    const { session, alpn } = await open()
    try {
      expect(alpn).toBe('h2')
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) => request(session, { ':path': `/h2/${i}` })),
      )
      for (const answer of answers) {
        expect(answer.status).toBe(200)
        expect(answer.body).toBe('a')
        // HTTP/2 carries no connection-specific fields (RFC 9113 §8.2.2).
        expect(answer.headers.connection).toBe(undefined)
      }
      const posted = await request(
        session,
        { ':method': 'POST', ':path': '/upload', 'content-type': 'text/plain' },
        'x'.repeat(100_000),
      )
      expect(posted.status).toBe(200)
      expect(posted.body).toBe('a:100000')
      expect(backend.requests.some((r) => r.url === '/h2/9')).toBe(true)
    } finally {
      session.close()
    }
  })

  it('applies the edge to HTTP/2 requests too', async () => {
    const { session } = await open()
    try {
      const trace = await request(session, { ':method': 'TRACE', ':path': '/trace' })
      expect(trace.status).toBe(405)
      const long = await request(session, { ':path': `/${'a'.repeat(10_000)}` })
      expect(long.status).toBe(414)
      // The session survives refusals.
      expect((await request(session, { ':path': '/after' })).status).toBe(200)
    } finally {
      session.close()
    }
  })

  it('still serves HTTP/1.1 to clients that ask for it', async () => {
    const result = await exchange(fulcrum.port, 'GET /h1 HTTP/1.1\r\nHost: x\r\n\r\n', {
      expect: 1,
      tls: { ALPNProtocols: ['http/1.1'] },
    })
    expect(result.responses[0]?.status).toBe(200)
    expect(result.responses[0]?.body).toBe('a')
  })
})
