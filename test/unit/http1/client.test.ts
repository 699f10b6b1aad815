/**
 * The engine's HTTP/1.1 upstream client (src/http1/client.ts), driven here over real loopback
 * TCP: node:net sockets on the socket contract (src/socket.ts) stand in for the runtimes'
 * sockets, and the backends are raw `net` servers that record the bytes they receive.
 */
import { Buffer } from 'node:buffer'
import net from 'node:net'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createH1Fetch, type H1FetchOptions } from '../../../src/http1/client.ts'
import { FieldList } from '../../../src/http1/fields.ts'
import { UpstreamProtocolError } from '../../../src/http1/parser.ts'
import type { Connect, Socket } from '../../../src/socket.ts'
import { UpstreamConnectError } from '../../../src/errors.ts'
import type { UpstreamFetch, UpstreamInit } from '../../../src/types.ts'

// ---- the sockets: node:net on the socket contract, with what they were asked to do counted ----

interface SocketStats {
  opened: number
  pauses: number
  resumes: number
  /** Writes that returned false. */
  fullWrites: number
  drains: number
  /** Calls of `end()`. */
  ends: number
  /** Calls of `destroy()`. */
  destroys: number
}

function nodeConnector(): { connect: Connect; stats: SocketStats } {
  const stats: SocketStats = {
    opened: 0,
    pauses: 0,
    resumes: 0,
    fullWrites: 0,
    drains: 0,
    ends: 0,
    destroys: 0,
  }
  const connect: Connect = (host, port, events) =>
    new Promise((resolve, reject) => {
      // Half-open allowed, as the contract has it: the peer's FIN does not end the writing side.
      const socket = net.connect({ host, port, allowHalfOpen: true })
      socket.setNoDelay(true)
      let open = false
      let destroyed = false
      let failure: unknown
      const wrapped: Socket = {
        write: (bytes) => {
          const ok = socket.write(bytes)
          if (!ok) stats.fullWrites++
          return ok
        },
        end: () => {
          stats.ends++
          socket.end()
        },
        // The client never closes outright: it half-closes (RFC 9112 §9.6).
        endAndClose: () => wrapped.end(),
        destroy: () => {
          stats.destroys++
          destroyed = true
          socket.destroy()
        },
        pause: () => {
          stats.pauses++
          socket.pause()
        },
        resume: () => {
          stats.resumes++
          socket.resume()
        },
        get remoteAddress() {
          return socket.remoteAddress
        },
        get remotePort() {
          return socket.remotePort
        },
        encrypted: false,
      }
      socket.on('connect', () => {
        open = true
        stats.opened++
        resolve(wrapped)
      })
      socket.on('data', (chunk) => {
        if (!destroyed) events.data(chunk)
      })
      socket.on('drain', () => {
        stats.drains++
        if (!destroyed) events.drain()
      })
      socket.on('end', () => {
        if (!destroyed) events.end()
      })
      socket.on('error', (error) => (failure = error))
      socket.on('close', () => {
        if (!open) reject(failure ?? new Error('Closed while connecting'))
        else if (!destroyed) events.close(failure)
      })
    })
  return { connect, stats }
}

// ---- the backends: raw TCP, each request recorded byte for byte ----

interface Request {
  /** The request as it came: head and (framed) body. */
  raw: Buffer
  head: string
  /** The body, de-chunked. */
  body: Buffer
  /** The connection it came on, numbered from 1. */
  connection: number
  socket: net.Socket
}

interface Backend {
  port: number
  url: string
  requests: Request[]
  /** Connections accepted. */
  connections: number
  /** Connections that have closed. */
  closed: number
  sockets: net.Socket[]
  close(): Promise<void>
}

type Handler = (request: Request, socket: net.Socket) => void

const backends: Backend[] = []

afterEach(async () => {
  vi.useRealTimers()
  await Promise.all(backends.splice(0).map((backend) => backend.close()))
})

/**
 * A backend that parses requests (Content-Length or chunked bodies) and calls `handler` for each
 * once it has arrived whole. `onConnection` sees each raw socket first.
 */
async function startBackend(
  handler: Handler,
  onConnection?: (socket: net.Socket) => void,
): Promise<Backend> {
  const backend: Backend = {
    port: 0,
    url: '',
    requests: [],
    connections: 0,
    closed: 0,
    sockets: [],
    close: () =>
      new Promise((resolve) => {
        for (const socket of backend.sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
  const server = net.createServer((socket) => {
    const connection = ++backend.connections
    backend.sockets.push(socket)
    socket.on('error', () => {})
    socket.on('close', () => backend.closed++)
    onConnection?.(socket)
    // Chunks are joined only once a request can be whole (no quadratic copying of large ones).
    let parts: Buffer[] = []
    let size = 0
    let need = 0
    socket.on('data', (chunk: Buffer) => {
      parts.push(chunk)
      size += chunk.length
      if (size < need) return
      let buffered = Buffer.concat(parts, size)
      for (;;) {
        const request = takeRequest(buffered)
        if (!('raw' in request)) {
          parts = [buffered]
          size = buffered.length
          need = request.need
          return
        }
        buffered = buffered.subarray(request.raw.length)
        parts = [buffered]
        size = buffered.length
        need = 0
        const full: Request = { ...request, connection, socket }
        backend.requests.push(full)
        handler(full, socket)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  backend.port = (server.address() as net.AddressInfo).port
  backend.url = `http://127.0.0.1:${backend.port}`
  backends.push(backend)
  return backend
}

/** One whole request from the front of `buffer`, or how many bytes it needs at least. */
function takeRequest(buffer: Buffer): Omit<Request, 'connection' | 'socket'> | { need: number } {
  const more = { need: buffer.length + 1 }
  const headEnd = buffer.indexOf('\r\n\r\n')
  if (headEnd === -1) return more
  const head = buffer.toString('latin1', 0, headEnd + 4)
  let at = headEnd + 4
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)
  if (length) {
    at += Number(length[1])
    if (buffer.length < at) return { need: at }
    return { raw: buffer.subarray(0, at), head, body: buffer.subarray(headEnd + 4, at) }
  }
  if (!/\r\ntransfer-encoding: *chunked/i.test(head)) {
    return { raw: buffer.subarray(0, at), head, body: Buffer.alloc(0) }
  }
  const chunks: Buffer[] = []
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at)
    if (lineEnd === -1) return more
    const size = parseInt(buffer.toString('latin1', at, lineEnd), 16)
    if (size === 0) {
      if (buffer.length < lineEnd + 4) return more
      return { raw: buffer.subarray(0, lineEnd + 4), head, body: Buffer.concat(chunks) }
    }
    if (buffer.length < lineEnd + 2 + size + 2) return more
    chunks.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size))
    at = lineEnd + 2 + size + 2
  }
}

/** Answer 200 with `body` and a Content-Length. */
const ok =
  (body = 'ok', fields = ''): Handler =>
  (_request, socket) => {
    socket.write(`HTTP/1.1 200 OK\r\n${fields}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n`)
    socket.write(body)
  }

// ---- the client ----

function client(options: Partial<H1FetchOptions> = {}) {
  const { connect, stats } = nodeConnector()
  const fallback = vi.fn<UpstreamFetch>(async () => new Response('fallback'))
  const fetch = createH1Fetch({ connect, connectTimeout: 2000, fallback, ...options })
  return { fetch, stats, fallback }
}

const init = (fields: Partial<UpstreamInit> = {}): UpstreamInit => ({
  method: 'GET',
  headers: new Headers(),
  redirect: 'manual',
  ...fields,
})

/** A request body stream of `pieces`. */
function streamOf(...pieces: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const piece of pieces) {
        controller.enqueue(typeof piece === 'string' ? Buffer.from(piece) : piece)
      }
      controller.close()
    },
  })
}

async function bodyOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer())
}

/** Wait until `condition` holds, checking on each turn of the event loop (bounded). */
async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** A pattern no two nearby offsets share, for checking large bodies byte by byte. */
function pattern(length: number, seed = 0): Buffer {
  const buffer = Buffer.allocUnsafe(length)
  for (let i = 0; i < length; i++) buffer[i] = (i * 7 + seed + (i >> 8)) & 0xff
  return buffer
}

describe('http1 client: the request on the wire', () => {
  it('sends the method, the raw target and the fields as given, Host first', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const headers = new Headers()
    headers.append('X-B', '2')
    headers.append('Accept', '*/*')
    headers.append('Host', 'example.test:8443')
    headers.append('X-A', 'caf\u00e9')
    headers.append('X-A', 'again')
    // Not normalised: neither the `..` segment nor the escapes nor the doubled slash.
    const target = '/a%2F%20b/../c//d?x=1&y=%7E&z'
    const response = await fetch(backend.url + target, init({ method: 'PURGE', headers }))
    expect(response.status).toBe(200)
    expect(await response.text()).toBe('ok')
    // A Headers object lists its fields sorted, same names combined: that order goes out.
    expect(backend.requests[0]!.raw.toString('latin1')).toBe(
      `PURGE ${target} HTTP/1.1\r\n` +
        'host: example.test:8443\r\n' +
        'accept: */*\r\n' +
        'x-a: caf\u00e9, again\r\n' +
        'x-b: 2\r\n' +
        '\r\n',
    )
  })

  it("sends the engine's own field list in its order, byte for byte, repeated names joined", async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const headers = FieldList.ofLowerCase(
      ['x-b', 'set-cookie', 'x-a', 'host', 'set-cookie', 'x-a', 'content-length'],
      ['2', 'a=1', 'caf\u00e9', 'example.test', 'b=2', 'again', '2'],
    ).asHeaders()
    const body = streamOf(Buffer.from('hi'))
    await (
      await fetch(backend.url + '/\u00ff', init({ method: 'POST', headers, body, duplex: 'half' }))
    ).text()
    expect(backend.requests[0]!.raw.toString('latin1')).toBe(
      'POST /\u00ff HTTP/1.1\r\n' +
        'host: example.test\r\n' +
        'x-b: 2\r\n' +
        'set-cookie: a=1\r\n' +
        'x-a: caf\u00e9, again\r\n' +
        'set-cookie: b=2\r\n' +
        'content-length: 2\r\n' +
        '\r\nhi',
    )
  })

  it('takes Host from the URL when the request has none, and adds no other field', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    await (await fetch(backend.url, init())).text()
    await (await fetch(`${backend.url}/p`, init({ method: 'POST' }))).text()
    await (
      await fetch(`${backend.url}/q`, init({ method: 'HEAD' }))
    ).body
    expect(backend.requests.map((request) => request.raw.toString('latin1'))).toEqual([
      `GET / HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\n\r\n`,
      `POST /p HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\n\r\n`,
      `HEAD /q HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\n\r\n`,
    ])
  })

  it('sends a body without a Content-Length chunked, skipping empty pieces', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const headers = new Headers({ 'content-type': 'text/plain' })
    const body = streamOf('abc', new Uint8Array(0), 'defghijklmnopqr')
    await (
      await fetch(`${backend.url}/up`, init({ method: 'POST', headers, body, duplex: 'half' }))
    ).text()
    expect(backend.requests[0]!.raw.toString('latin1')).toBe(
      `POST /up HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\ncontent-type: text/plain\r\n` +
        'transfer-encoding: chunked\r\n\r\n' +
        '3\r\nabc\r\nf\r\ndefghijklmnopqr\r\n0\r\n\r\n',
    )
  })

  it('sends nothing, not even the head, when the body fails before its first byte', async () => {
    let received = 0
    const backend = await startBackend(ok(), (socket) =>
      socket.on('data', (chunk: Buffer) => (received += chunk.length)),
    )
    const { fetch } = client()
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.error(new Error('Malformed chunked body')),
    })
    await expect(
      fetch(backend.url, init({ method: 'POST', body, duplex: 'half' })),
    ).rejects.toThrow('Malformed chunked body')
    // The connection is closed unused: everything it carried has arrived by then.
    await vi.waitFor(() => expect(backend.closed).toBe(1))
    expect(received).toBe(0)
    expect(backend.requests).toEqual([])
  })

  it('sends an empty body without a Content-Length as the last chunk alone', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    await (
      await fetch(backend.url, init({ method: 'PUT', body: streamOf(), duplex: 'half' }))
    ).text()
    expect(backend.requests[0]!.raw.toString('latin1')).toBe(
      `PUT / HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n`,
    )
  })

  it('sends a body with a Content-Length byte for byte, unframed', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    const headers = new Headers({ 'content-length': '256' })
    const body = streamOf(bytes.subarray(0, 100), bytes.subarray(100))
    await (await fetch(backend.url, init({ method: 'POST', headers, body, duplex: 'half' }))).text()
    const raw = backend.requests[0]!.raw
    const head = `POST / HTTP/1.1\r\nhost: 127.0.0.1:${backend.port}\r\ncontent-length: 256\r\n\r\n`
    expect(raw.subarray(0, head.length).toString('latin1')).toBe(head)
    expect(raw.subarray(head.length).equals(bytes)).toBe(true)
  })

  it('waits for drain: a large upload to a backend that does not read is not read ahead', async () => {
    const total = 16 * 1024 * 1024
    const piece = 64 * 1024
    let reading: (() => void) | undefined
    const backend = await startBackend(ok(), (socket) => {
      socket.pause()
      reading = () => socket.resume()
    })
    const { fetch, stats } = client()
    let pulled = 0
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (pulled >= total) return controller.close()
          controller.enqueue(pattern(piece, pulled))
          pulled += piece
        },
      },
      { highWaterMark: 0 },
    )
    const headers = new Headers({ 'content-length': String(total) })
    const response = fetch(backend.url, init({ method: 'POST', headers, body, duplex: 'half' }))
    await until(() => stats.fullWrites > 0, 'a full write')
    // The kernel buffers a few MiB at most (no reads, so no receive-window growth).
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(pulled).toBeLessThan(total / 2)
    reading!()
    expect((await response).status).toBe(200)
    expect(stats.drains).toBeGreaterThan(0)
    const expected = Buffer.concat(
      Array.from({ length: total / piece }, (_, i) => pattern(piece, i * piece)),
    )
    expect(backend.requests[0]!.body.equals(expected)).toBe(true)
  })
})

describe('http1 client: keep-alive', () => {
  it('reuses one connection for 20 sequential requests', async () => {
    const backend = await startBackend((request, socket) => {
      const body = `#${backend.requests.length}`
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
    })
    const { fetch, stats } = client()
    for (let i = 1; i <= 20; i++) {
      const response = await fetch(`${backend.url}/${i}`, init())
      expect(await response.text()).toBe(`#${i}`)
    }
    expect(backend.connections).toBe(1)
    expect(stats.opened).toBe(1)
    expect(backend.requests.map((request) => request.head.split(' ')[1])).toEqual(
      Array.from({ length: 20 }, (_, i) => `/${i + 1}`),
    )
  })

  it('reuses connections across chunked, HEAD, 204 and 304 responses', async () => {
    let n = 0
    const backend = await startBackend((request, socket) => {
      const answers = [
        'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n',
        'HTTP/1.1 204 No Content\r\n\r\n',
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz',
      ]
      socket.write(answers[n++]!)
    })
    const { fetch } = client()
    const a = await fetch(backend.url, init())
    expect(await a.text()).toBe('ab')
    const b = await fetch(backend.url, init({ method: 'HEAD' }))
    expect(b.body).toBeNull()
    expect(b.headers.get('content-length')).toBe('10')
    const c = await fetch(backend.url, init())
    expect([c.status, c.body]).toEqual([204, null])
    const d = await fetch(backend.url, init())
    expect([d.status, d.body]).toEqual([304, null])
    const e = await fetch(backend.url, init())
    expect([e.status, await e.text()]).toEqual([200, 'z'])
    expect(backend.connections).toBe(1)
  })

  it('opens a second connection for a concurrent request, then reuses both', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const pair = await Promise.all([fetch(backend.url, init()), fetch(backend.url, init())])
    await Promise.all(pair.map((response) => response.text()))
    for (let i = 0; i < 4; i++) await (await fetch(backend.url, init())).text()
    expect(backend.connections).toBe(2)
  })

  const NOT_REUSED: [string, Handler][] = [
    ['Connection: close', ok('ok', 'Connection: close\r\n')],
    [
      'an HTTP/1.0 response without keep-alive',
      (_request, socket) => socket.write('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    ],
    [
      'a body delimited by the close',
      (_request, socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nok'),
    ],
    [
      'Transfer-Encoding with Content-Length',
      (_request, socket) =>
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
        ),
    ],
    [
      'bytes after the end of the response, in the same read',
      (_request, socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokXX'),
    ],
  ]

  for (const [name, handler] of NOT_REUSED) {
    it(`does not reuse a connection after ${name}`, async () => {
      const backend = await startBackend(handler)
      const { fetch } = client()
      expect(await (await fetch(backend.url, init())).text()).toBe('ok')
      expect(await (await fetch(backend.url, init())).text()).toBe('ok')
      expect(backend.connections).toBe(2)
      // The first one is closed, by one side or the other.
      await until(() => backend.closed >= 1, 'the first connection to close')
    })
  }

  it('reuses an HTTP/1.0 connection that says keep-alive', async () => {
    const backend = await startBackend((_request, socket) =>
      socket.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok'),
    )
    const { fetch } = client()
    for (let i = 0; i < 3; i++) expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(1)
  })

  it('does not reuse a connection idle for longer than keepAliveTimeout', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const backend = await startBackend(ok())
    const { fetch } = client({ keepAliveTimeout: 1000 })
    await (await fetch(backend.url, init())).text()
    vi.setSystemTime(Date.now() + 999)
    await (await fetch(backend.url, init())).text()
    expect(backend.connections).toBe(1)
    vi.setSystemTime(Date.now() + 1000)
    await (await fetch(backend.url, init())).text()
    expect(backend.connections).toBe(2)
    expect(backend.requests.map((request) => request.connection)).toEqual([1, 1, 2])
    // The stale one is closed, not left open.
    await until(() => backend.closed === 1, 'the stale connection to close')
  })

  it('drops an idle connection the backend closed', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    await (await fetch(backend.url, init())).text()
    backend.sockets[0]!.end()
    await until(() => backend.closed === 1, 'the close')
    expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(2)
  })

  it('drops an idle connection that receives bytes', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    await (await fetch(backend.url, init())).text()
    backend.sockets[0]!.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlate!')
    await until(() => backend.closed === 1, 'the client to close it')
    expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(2)
  })
})

describe('http1 client: failures', () => {
  it('rejects the body read when the backend closes mid-body (Content-Length)', async () => {
    const backend = await startBackend((_request, socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this'),
    )
    const { fetch } = client()
    const response = await fetch(backend.url, init())
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow(
      new UpstreamProtocolError('Upstream closed the connection in the middle of the response'),
    )
  })

  it('rejects the body read when the backend closes mid-body (chunked)', async () => {
    const backend = await startBackend((_request, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n')
      setTimeout(() => socket.destroy(), 20)
    })
    const { fetch } = client()
    const response = await fetch(backend.url, init())
    const reader = response.body!.getReader()
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('hello')
    await expect(reader.read()).rejects.toThrow(UpstreamProtocolError)
  })

  it('rejects the fetch when the backend closes before answering', async () => {
    const backend = await startBackend((_request, socket) => socket.end())
    const { fetch } = client()
    await expect(fetch(backend.url, init())).rejects.toThrow(
      new UpstreamProtocolError('Upstream closed the connection before answering'),
    )
  })

  it('rejects the fetch when the backend closes in the middle of the head', async () => {
    const backend = await startBackend((_request, socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Le'),
    )
    const { fetch } = client()
    await expect(fetch(backend.url, init())).rejects.toThrow(UpstreamProtocolError)
  })

  it('rejects the fetch on a malformed response and does not reuse the connection', async () => {
    let n = 0
    const backend = await startBackend((_request, socket) => {
      if (n++ === 0) socket.write('HTTP/1.1 200 OK\r\nBad Field: 1\r\nContent-Length: 0\r\n\r\n')
      else ok()(_request, socket)
    })
    const { fetch } = client()
    await expect(fetch(backend.url, init())).rejects.toThrow(UpstreamProtocolError)
    expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(2)
  })

  it('rejects with the error of the request body and closes the connection', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const broken = new Error('client body broke off')
    let sent!: ReadableStreamDefaultController<Uint8Array>
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        sent = controller
        controller.enqueue(Buffer.from('some'))
      },
    })
    const response = fetch(backend.url, init({ method: 'POST', body, duplex: 'half' }))
    await until(() => backend.connections === 1, 'the connection')
    sent.error(broken)
    await expect(response).rejects.toBe(broken)
    await until(() => backend.closed === 1, 'the close')
    expect(backend.requests).toHaveLength(0)
  })

  it('rejects with UpstreamConnectError when the connection is refused', async () => {
    const server = net.createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    await new Promise((resolve) => server.close(resolve))
    const { fetch } = client()
    const error = await fetch(`http://127.0.0.1:${port}/`, init()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(UpstreamConnectError)
  })

  it('rejects with UpstreamConnectError when the connect times out, and closes a late one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let connected: ((socket: Socket) => void) | undefined
    const late = {
      write: vi.fn(() => true),
      end: vi.fn(),
      endAndClose: vi.fn(),
      destroy: vi.fn(),
      pause: vi.fn(),
      resume: vi.fn(),
      remoteAddress: '127.0.0.1',
      remotePort: 9,
      encrypted: false,
    }
    const { fetch } = client({
      connectTimeout: 500,
      connect: () => new Promise((resolve) => (connected = resolve)),
    })
    const result = fetch('http://127.0.0.1:9/', init()).catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(499)
    let settled = false
    void result.then(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const error = await result
    expect(error).toBeInstanceOf(UpstreamConnectError)
    expect((error as Error).message).toBe('Connect timed out after 500 ms')
    connected!(late)
    await Promise.resolve()
    expect(late.destroy).toHaveBeenCalledOnce()
    expect(late.write).not.toHaveBeenCalled()
  })
})

describe("http1 client: the backend's FIN", () => {
  /** A backend that keeps writing after the client's FIN, as the contract allows a peer to. */
  async function halfOpenBackend(onRequest: (socket: net.Socket) => void) {
    const seen = { clientEnded: 0, closed: 0 }
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      socket.on('error', () => {})
      socket.once('data', () => onRequest(socket))
      socket.on('end', () => seen.clientEnded++)
      socket.on('close', () => seen.closed++)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as net.AddressInfo
    return { url: `http://127.0.0.1:${port}`, seen, server }
  }

  it('ends a body delimited by the close, and closes the connection', async () => {
    const backend = await halfOpenBackend((socket) =>
      socket.end('HTTP/1.1 200 OK\r\n\r\nuntil FIN'),
    )
    try {
      const { fetch, stats } = client()
      expect(await (await fetch(backend.url, init())).text()).toBe('until FIN')
      await until(() => backend.seen.closed === 1, 'the connection to close')
      expect(stats.opened).toBe(1)
      expect(await (await fetch(backend.url, init())).text()).toBe('until FIN')
      expect(stats.opened).toBe(2)
    } finally {
      backend.server.close()
    }
  })

  it('fails a body delimited by the close when the connection is reset', async () => {
    let backendSocket: net.Socket | undefined
    const backend = await halfOpenBackend((socket) => {
      backendSocket = socket
      socket.write('HTTP/1.1 200 OK\r\n\r\npart')
    })
    try {
      const { fetch } = client()
      const response = await fetch(backend.url, init())
      const reader = response.body!.getReader()
      expect(Buffer.from((await reader.read()).value!).toString()).toBe('part')
      backendSocket!.resetAndDestroy()
      await expect(reader.read()).rejects.toThrow()
    } finally {
      backend.server.close()
    }
  })

  it('does not reuse a connection whose backend sent its FIN after the response', async () => {
    const backend = await halfOpenBackend((socket) =>
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    )
    try {
      const { fetch, stats } = client()
      expect(await (await fetch(backend.url, init())).text()).toBe('ok')
      await until(() => backend.seen.closed === 1, 'the connection to close')
      expect(await (await fetch(backend.url, init())).text()).toBe('ok')
      expect(stats.opened).toBe(2)
    } finally {
      backend.server.close()
    }
  })
})

describe('http1 client: abort', () => {
  it('rejects at once with the reason when the signal is already aborted', async () => {
    const backend = await startBackend(ok())
    const { fetch, stats } = client()
    const controller = new AbortController()
    const reason = new Error('gone')
    controller.abort(reason)
    await expect(fetch(backend.url, init({ signal: controller.signal }))).rejects.toBe(reason)
    expect(stats.opened).toBe(0)
  })

  it('rejects when aborted while connecting, and pools the connection once it opens', async () => {
    const backend = await startBackend(ok())
    const { fetch, stats } = client()
    const controller = new AbortController()
    const response = fetch(backend.url, init({ signal: controller.signal }))
    const reason = new Error('gone')
    controller.abort(reason)
    await expect(response).rejects.toBe(reason)
    await until(() => stats.opened === 1, 'the connect')
    expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(1)
    expect(backend.requests).toHaveLength(1)
  })

  it('rejects the fetch and closes the connection when aborted before the head', async () => {
    const backend = await startBackend(() => {})
    const { fetch } = client()
    const controller = new AbortController()
    const response = fetch(backend.url, init({ signal: controller.signal }))
    await until(() => backend.requests.length === 1, 'the request')
    const reason = new Error('client went away')
    controller.abort(reason)
    await expect(response).rejects.toBe(reason)
    await until(() => backend.closed === 1, 'the close')
  })

  it('fails the body and closes the connection when aborted after the head', async () => {
    const backend = await startBackend((_request, socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart'),
    )
    const { fetch } = client()
    const controller = new AbortController()
    const response = await fetch(backend.url, init({ signal: controller.signal }))
    const reader = response.body!.getReader()
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('part')
    const reason = new Error('client went away')
    controller.abort(reason)
    await expect(reader.read()).rejects.toBe(reason)
    await until(() => backend.closed === 1, 'the close')
    // The next request gets a fresh connection.
    const next = await fetch(backend.url, init())
    expect(next.status).toBe(200)
    expect(backend.connections).toBe(2)
  })

  it('ignores an abort once the response has ended', async () => {
    const backend = await startBackend(ok())
    const { fetch } = client()
    const controller = new AbortController()
    const response = await fetch(backend.url, init({ signal: controller.signal }))
    expect(await response.text()).toBe('ok')
    controller.abort(new Error('late'))
    await (await fetch(backend.url, init())).text()
    expect(backend.connections).toBe(1)
  })

  it('closes the connection when the body is cancelled before its end', async () => {
    const backend = await startBackend((_request, socket) =>
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart'),
    )
    const { fetch } = client()
    const response = await fetch(backend.url, init())
    await response.body!.cancel()
    await until(() => backend.closed === 1, 'the close')
  })
})

describe('http1 client: early responses and backpressure', () => {
  it('does not reuse a connection answered before the request body was sent', async () => {
    let n = 0
    const backend = await startBackend(ok(), (socket) => {
      if (++n > 1) return
      // Answer as soon as the head arrives, as an early 413 would.
      socket.once('data', () =>
        socket.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 3\r\n\r\nbig'),
      )
    })
    const { fetch } = client()
    let cancelled = false
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from('first piece'))
      },
      cancel() {
        cancelled = true
      },
    })
    const response = await fetch(backend.url, init({ method: 'POST', body, duplex: 'half' }))
    expect(response.status).toBe(413)
    expect(await response.text()).toBe('big')
    await until(() => backend.closed === 1, 'the close')
    expect(await (await fetch(backend.url, init())).text()).toBe('ok')
    expect(backend.connections).toBe(2)
    await until(() => cancelled, 'the request body to be cancelled')
  })

  it('pauses the connection while a large body is not read, then delivers it intact', async () => {
    const size = 8 * 1024 * 1024
    const payload = pattern(size)
    let written = false
    const backend = await startBackend((_request, socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`)
      socket.write(payload, () => (written = true))
    })
    const { fetch, stats } = client()
    const response = await fetch(backend.url, init())
    await until(() => stats.pauses > 0, 'the socket to be paused')
    await new Promise((resolve) => setTimeout(resolve, 100))
    // Paused: the backend cannot finish writing 8 MiB into the kernel buffers.
    expect(written).toBe(false)
    expect(stats.resumes).toBe(0)
    const received = await bodyOf(response)
    expect(received.length).toBe(size)
    expect(received.equals(payload)).toBe(true)
    expect(stats.resumes).toBeGreaterThan(0)
    // And the connection is reused afterwards.
    await (await fetch(backend.url, init())).arrayBuffer()
    expect(backend.connections).toBe(1)
  })
})

describe('http1 client: other origins', () => {
  it('hands https: URLs to the fallback, unchanged', async () => {
    const { fetch, fallback, stats } = client()
    const options = init({ headers: new Headers({ 'x-a': '1' }) })
    const response = await fetch('https://127.0.0.1:1/x?y', options)
    expect(await response.text()).toBe('fallback')
    expect(fallback).toHaveBeenCalledExactlyOnceWith('https://127.0.0.1:1/x?y', options)
    expect(stats.opened).toBe(0)
  })

  it('connects to an IPv6 literal and names it in Host with its brackets', async () => {
    const seen: string[] = []
    const server = net.createServer((socket) =>
      socket.once('data', (chunk) => {
        seen.push(chunk.toString('latin1'))
        socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6')
      }),
    )
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve))
    try {
      const { port } = server.address() as net.AddressInfo
      const { fetch } = client()
      expect(await (await fetch(`http://[::1]:${port}/six`, init())).text()).toBe('v6')
      expect(seen).toEqual([`GET /six HTTP/1.1\r\nhost: [::1]:${port}\r\n\r\n`])
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })

  it('keeps a pool per origin', async () => {
    const one = await startBackend(ok('one'))
    const two = await startBackend(ok('two'))
    const { fetch } = client()
    for (let i = 0; i < 3; i++) {
      expect(await (await fetch(`${one.url}/`, init())).text()).toBe('one')
      expect(await (await fetch(`${two.url}/`, init())).text()).toBe('two')
    }
    expect([one.connections, two.connections]).toEqual([1, 1])
  })
})
