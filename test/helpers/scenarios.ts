/**
 * A backend handler whose behaviour the test picks per request with an `X-Scenario` header, so
 * that one fulcrum in front of one backend can exercise every forwarding case.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { brotliCompressSync, gzipSync } from 'node:zlib'
import type { BackendHandler } from './backends.ts'

/** A body that compresses well and is big enough to span several chunks. */
export const PLAIN_TEXT = Buffer.from(
  Array.from(
    { length: 4000 },
    (_, i) => `line ${i}: the quick brown fox jumps over the lazy dog\n`,
  ).join(''),
  'utf8',
)
/** {@link PLAIN_TEXT}, gzip-encoded once: the exact bytes the backend sends. */
export const GZIP_BODY = gzipSync(PLAIN_TEXT)
/** {@link PLAIN_TEXT}, brotli-encoded once. */
export const BR_BODY = brotliCompressSync(PLAIN_TEXT)

/** Set-Cookie values the `cookies` scenario sends; one has a comma inside its Expires date. */
export const COOKIES = [
  'a=1; Path=/; HttpOnly',
  'b=2; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure',
  'c=3; SameSite=Lax',
]

/** Size of the `big` scenario's body. */
export const BIG_SIZE = 1024 * 1024

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.once('end', () => resolve(Buffer.concat(chunks)))
    req.once('error', reject)
  })
}

const scenarios: Record<string, (req: IncomingMessage, res: ServerResponse) => Promise<void>> = {
  /** Echo the request body back, with its length. */
  async echo(req, res) {
    const body = await readBody(req)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-body-length': body.length })
    res.end(body)
  },
  /** Answer the status in `X-Status`; 204 and 304 without a body (RFC 9110 §15.3.5, §15.4.5). */
  async status(req, res) {
    await readBody(req)
    const status = Number(req.headers['x-status'])
    if (status === 204 || status === 304) {
      res.writeHead(status, { etag: '"v1"', 'cache-control': 'max-age=60' })
      res.end()
      return
    }
    const text = `body of ${status}`
    res.writeHead(status, { 'content-type': 'text/plain', 'content-length': text.length })
    res.end(text)
  },
  /** Several Set-Cookie lines and a repeated end-to-end header. */
  async cookies(req, res) {
    await readBody(req)
    res.setHeader('set-cookie', COOKIES)
    res.setHeader('x-multi', ['one', 'two'])
    res.end('cookies')
  },
  /** Hop-by-hop fields that must not reach the client (RFC 9110 §7.6.1). */
  async hop(req, res) {
    await readBody(req)
    res.writeHead(200, [
      'Connection',
      'keep-alive, X-Internal',
      'X-Internal',
      'secret',
      'Keep-Alive',
      'timeout=77, max=99',
      'Proxy-Connection',
      'keep-alive',
      'Proxy-Authenticate',
      'Basic realm="inner"',
      'X-Kept',
      'yes',
      'Content-Length',
      '3',
    ])
    res.end('hop')
  },
  /** A gzip body with its Content-Encoding, served as is. */
  async gzip(req, res) {
    await readBody(req)
    res.writeHead(200, {
      'content-type': 'text/plain; charset=utf-8',
      'content-encoding': 'gzip',
      'content-length': GZIP_BODY.length,
      vary: 'Accept-Encoding',
    })
    res.end(GZIP_BODY)
  },
  /** A brotli body, written in chunks without Content-Length (chunked framing). */
  async br(req, res) {
    await readBody(req)
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-encoding': 'br' })
    for (let at = 0; at < BR_BODY.length; at += 1000) res.write(BR_BODY.subarray(at, at + 1000))
    res.end()
  },
  /** For HEAD: the Content-Length a GET would have, and no body (RFC 9110 §9.3.2). */
  async head(req, res) {
    await readBody(req)
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1234' })
    res.end()
  },
  /** A 1 MiB body with Content-Length, written in 64 KiB chunks. */
  async big(req, res) {
    await readBody(req)
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG_SIZE })
    const chunk = Buffer.alloc(64 * 1024, 0x61)
    for (let sent = 0; sent < BIG_SIZE; sent += chunk.length) res.write(chunk)
    res.end()
  },
  /** The connection is reset once the request arrived. */
  async reset(req) {
    req.socket.resetAndDestroy()
  },
  /** Never answer (the socket stays open until the backend is closed). */
  async hang(req) {
    req.resume()
  },
}

/**
 * The handler: `/health` answers 200; otherwise `X-Scenario` (default `echo`) picks the behaviour.
 */
export const scenarioHandler: BackendHandler = (req, res) => {
  if (req.url === '/health') {
    res.end('ok')
    return
  }
  const name = String(req.headers['x-scenario'] ?? 'echo')
  const scenario = scenarios[name]
  if (!scenario) {
    res.writeHead(400).end(`unknown scenario ${name}`)
    return
  }
  scenario(req, res).catch((error: Error) => {
    if (!res.headersSent) res.writeHead(500)
    res.end(String(error))
  })
}
