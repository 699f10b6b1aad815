/**
 * The HTTP/1.1 server engine over an in-memory socket: framing of answers, keep-alive and
 * pipelining in order, 100-continue, refusals before the app, the deadlines (fake time), the
 * connection cap and the drain. The real sockets of each runtime are covered end to end.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  createHttp1Server,
  type Http1Handler,
  type Http1Limits,
} from '../../../src/http1/server.ts'
import { MemorySocket as PeerSocket } from '../tcp/memory-socket.ts'
import { bareResponse } from '../../../src/http1/body.ts'
import { FieldLines } from '../../../src/http1/field-lines.ts'
import { FieldList } from '../../../src/http1/fields.ts'

/** A socket whose peer is the test: what the engine writes is read back as text. */
class MemorySocket extends PeerSocket {
  constructor() {
    super('192.0.2.7', 40000)
  }
  get out(): string {
    return this.output()
  }
  /** The statuses of the responses written so far. */
  statuses(): number[] {
    return [...this.out.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]))
  }
}

const LIMITS: Http1Limits = {
  maxHeadBytes: 8192,
  headerTimeout: 1000,
  keepAliveTimeout: 5000,
  maxConnections: 100,
}

const flush = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve()
  await new Promise((resolve) => setImmediate(resolve))
}

function serve(handler: Http1Handler, limits: Partial<Http1Limits> = {}) {
  const server = createHttp1Server({ handler, scheme: 'http', limits: { ...LIMITS, ...limits } })
  const connect = () => {
    const socket = new MemorySocket()
    socket.events = server.accept(socket)
    return socket
  }
  return { server, connect }
}

describe('HTTP/1.1 server engine', () => {
  it('hands the app a Request and frames its answer with Content-Length', async () => {
    let seen: Request | undefined
    let peer: string | undefined
    const { connect } = serve((request, env) => {
      seen = request
      peer = env.remoteAddress
      return new Response('hello', { headers: { 'x-a': '1' } })
    })
    const socket = connect()
    socket.send('GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Multi: a\r\nX-Multi: b\r\n\r\n')
    await flush()
    expect(seen!.url).toBe('http://example.com/path?q=1')
    expect(seen!.headers.get('x-multi')).toBe('a, b')
    expect(peer).toBe('192.0.2.7')
    expect(socket.out).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(socket.out).toContain('x-a: 1\r\n')
    expect(socket.out).toContain('content-length: 5\r\n')
    expect(socket.out).toMatch(/\r\n\r\nhello$/)
    expect(socket.out).not.toContain('connection: close')
    expect(socket.ended).toBe(false)
  })

  it("writes the fields of lists that share their encoded lines (an upstream connection's)", async () => {
    const shared = new FieldLines()
    const answers = [
      ['nginx', '1'],
      ['nginx', '1'],
      ['nginx', '2'],
      ['other', '2'],
    ]
    let next = 0
    const { connect } = serve(() => {
      const [server, id] = answers[next++]!
      const headers = FieldList.ofLowerCase(['server', 'x-id'], [server!, id!], shared)
      headers.append('via', '1.1 fulcrum')
      return bareResponse({ status: 200, statusText: 'OK', headers: headers.asHeaders() })
    })
    const socket = connect()
    for (let i = 0; i < answers.length; i++) {
      socket.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
      await flush()
    }
    const heads = socket.out.split('HTTP/1.1 200 OK\r\n').slice(1)
    expect(heads).toHaveLength(answers.length)
    heads.forEach((head, i) => {
      const [server, id] = answers[i]!
      expect(head).toMatch(
        new RegExp(
          `^server: ${server}\r\nx-id: ${id}\r\nvia: 1.1 fulcrum\r\ndate: [^\r]+\r\ncontent-length: 0\r\n\r\n$`,
        ),
      )
    })
  })

  it('gives each request the URL and each answer the status line of its own', async () => {
    const urls: string[] = []
    const { connect } = serve((request) => {
      urls.push(request.url)
      const status = Number(new URL(request.url).pathname.slice(1))
      return new Response(null, { status, statusText: status === 299 ? 'Fine' : '' })
    })
    const socket = connect()
    socket.send('GET /200 HTTP/1.1\r\nHost: a.example\r\n\r\n')
    await flush()
    socket.send('GET /200 HTTP/1.1\r\nHost: b.example\r\n\r\n')
    await flush()
    socket.send('GET /299 HTTP/1.1\r\nHost: b.example\r\n\r\n')
    await flush()
    socket.send('GET /404 HTTP/1.1\r\nHost: b.example\r\n\r\n')
    await flush()
    socket.send('GET /200 HTTP/1.0\r\n\r\n')
    await flush()
    expect(urls).toEqual([
      'http://a.example/200',
      'http://b.example/200',
      'http://b.example/299',
      'http://b.example/404',
      'http://localhost/200',
    ])
    const lines = socket.out.split('\r\n').filter((line) => line.startsWith('HTTP/1.1 '))
    expect(lines).toEqual([
      'HTTP/1.1 200 OK',
      'HTTP/1.1 200 OK',
      'HTTP/1.1 299 Fine',
      'HTTP/1.1 404 Not Found',
      'HTTP/1.1 200 OK',
    ])
  })

  it('answers pipelined requests in order, even when the first is slower', async () => {
    const order: string[] = []
    const { connect } = serve(async (request) => {
      const path = new URL(request.url).pathname
      order.push(path)
      if (path === '/slow') await new Promise((resolve) => setTimeout(resolve, 30))
      return new Response(path)
    })
    const socket = connect()
    socket.send(
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    )
    await new Promise((resolve) => setTimeout(resolve, 80))
    await flush()
    expect(order).toEqual(['/slow', '/fast', '/last'])
    const bodies = [...socket.out.matchAll(/\r\n\r\n(\/[a-z]+)/g)].map((m) => m[1])
    expect(bodies).toEqual(['/slow', '/fast', '/last'])
    expect(socket.out.match(/connection: close/g)).toHaveLength(1)
    expect(socket.ended).toBe(true)
  })

  it('reads a Content-Length body and a chunked body', async () => {
    const bodies: string[] = []
    const { connect } = serve(async (request) => {
      bodies.push(await request.text())
      return new Response(null, { status: 204 })
    })
    const socket = connect()
    socket.send('POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab')
    socket.send('cde')
    await flush()
    socket.send(
      'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nfoo\r\n3\r\nbar\r\n0\r\n\r\n',
    )
    await flush()
    expect(bodies).toEqual(['abcde', 'foobar'])
    expect(socket.statuses()).toEqual([204, 204])
    expect(socket.out).not.toContain('content-length')
  })

  it('sends a stream of unknown length chunked to HTTP/1.1 and until the close to HTTP/1.0', async () => {
    // Two chunks a few milliseconds apart: the engine cannot know the length up front.
    const stream = () => {
      const parts = ['ab', 'cde']
      return new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 5))
          const part = parts.shift()
          if (part === undefined) controller.close()
          else controller.enqueue(new TextEncoder().encode(part))
        },
      })
    }
    const { connect } = serve(() => new Response(stream()))
    const one = connect()
    one.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(one.out).toContain('transfer-encoding: chunked\r\n')
    expect(one.out).toMatch(/\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n$/)
    const old = connect()
    old.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    await new Promise((resolve) => setTimeout(resolve, 40))
    expect(old.out).not.toContain('chunked')
    expect(old.out).toContain('connection: close\r\n')
    expect(old.out).toMatch(/\r\n\r\nabcde$/)
    expect(old.ended).toBe(true)
  })

  it('keeps an HTTP/1.0 client that asks for keep-alive when the length is known', async () => {
    const { connect } = serve(() => new Response('x'))
    const socket = connect()
    socket.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    await flush()
    expect(socket.out).toContain('content-length: 1\r\n')
    await flush()
    expect(socket.out).toContain('connection: keep-alive\r\n')
    expect(socket.ended).toBe(false)
  })

  it('says 100 Continue only when the app reads the body (RFC 9110 §10.1.1)', async () => {
    let read: (() => Promise<string>) | undefined
    const { connect } = serve(async (request) => {
      read = () => request.text()
      await new Promise((resolve) => setTimeout(resolve, 10))
      return new Response(await read())
    })
    const socket = connect()
    socket.send('PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n')
    await flush()
    expect(socket.out).toBe('')
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(socket.out).toBe('HTTP/1.1 100 Continue\r\n\r\n')
    socket.send('abc')
    await flush()
    expect(socket.statuses()).toEqual([100, 200])
    expect(socket.out).toMatch(/abc$/)
  })

  it('refuses malformed heads before the app, and closes', async () => {
    const handler = vi.fn(() => new Response('no'))
    const { connect } = serve(handler)
    for (const bad of [
      'GET / HTTP/1.1\r\n\r\n', // no Host in HTTP/1.1
      'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
      'GET / HTTP/1.1\nHost: x\n\n',
    ]) {
      const socket = connect()
      socket.send(bad)
      await flush()
      expect(socket.statuses(), JSON.stringify(bad)).toEqual([400])
      expect(socket.out).toContain('connection: close')
      expect(socket.ended).toBe(true)
    }
    expect(handler).not.toHaveBeenCalled()
  })

  it('answers 500 when the app throws, and keeps serving', async () => {
    let calls = 0
    const { connect } = serve(() => {
      calls++
      if (calls === 1) throw new Error('boom')
      return new Response('ok')
    })
    const socket = connect()
    socket.send('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    expect(socket.statuses()).toEqual([500, 200])
  })

  it('answers pipelined requests whose answers are promises, rejected ones with 500, in order', async () => {
    let calls = 0
    const { connect } = serve(async (request) => {
      calls++
      await new Promise((resolve) => setTimeout(resolve, calls === 1 ? 20 : 0))
      if (new URL(request.url).pathname === '/2') throw new Error('boom')
      return new Response(new URL(request.url).pathname)
    })
    const socket = connect()
    socket.send(
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /3 HTTP/1.1\r\nHost: x\r\n\r\n',
    )
    await vi.waitFor(() => expect(socket.statuses()).toHaveLength(3))
    expect(socket.statuses()).toEqual([200, 500, 200])
    expect(socket.out).toMatch(/\r\n\r\n\/1HTTP\/1\.1 500 /)
    expect(socket.out).toMatch(/\r\n\r\n\/3$/)
    expect(socket.ended).toBe(false)
  })

  it('writes the head byte for byte: fields in order, its own framing fields instead', async () => {
    const { connect } = serve(() => {
      const headers = new Headers([
        ['x-b', '2'],
        ['date', 'Mon, 07 Dec 2026 02:40:00 GMT'],
        ['keep-alive', 'timeout=5'],
        ['x-obs', 'caf\u00e9'],
        ['connection', 'close'],
        ['x-a', '1'],
      ])
      return new Response('hi', { status: 201, statusText: 'Made', headers })
    })
    const socket = connect()
    socket.send('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n')
    await flush()
    // A `Headers` iterates its names sorted; obs-text leaves as one byte (latin1). The app's
    // `connection: close` wins over the client's keep-alive.
    expect(socket.out).toBe(
      'HTTP/1.1 201 Made\r\ncontent-type: text/plain;charset=UTF-8\r\n' +
        'date: Mon, 07 Dec 2026 02:40:00 GMT\r\nx-a: 1\r\nx-b: 2\r\nx-obs: caf\u00e9\r\n' +
        'content-length: 2\r\nconnection: close\r\n\r\nhi',
    )
    expect(socket.ended).toBe(true)
  })

  it('keeps the length of a HEAD answer and sends no body', async () => {
    const { connect } = serve(() => new Response(null, { headers: { 'content-length': '1234' } }))
    const socket = connect()
    socket.send('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    expect(socket.statuses()).toEqual([200, 200])
    expect(socket.out.match(/content-length: 1234\r\n/g)).toHaveLength(2)
  })

  describe('deadlines (fake time)', () => {
    beforeEach(() => vi.useFakeTimers())
    afterEach(() => vi.useRealTimers())

    it('answers a head that is not in by the header deadline with 408', async () => {
      const { connect } = serve(() => new Response('x'))
      const socket = connect()
      socket.send('GET / HTTP/1.1\r\nHost: x\r\n')
      await vi.advanceTimersByTimeAsync(700)
      socket.send('X-Drip: 1\r\n')
      expect(socket.out).toBe('')
      await vi.advanceTimersByTimeAsync(600)
      expect(socket.statuses()).toEqual([408])
      expect(socket.ended).toBe(true)
    })

    it('closes an idle keep-alive connection silently after the idle timeout', async () => {
      const { connect } = serve(() => new Response('x'))
      const socket = connect()
      socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      await vi.advanceTimersByTimeAsync(10)
      expect(socket.statuses()).toEqual([200])
      await vi.advanceTimersByTimeAsync(4000)
      expect(socket.ended).toBe(false)
      await vi.advanceTimersByTimeAsync(1500)
      expect(socket.ended).toBe(true)
      expect(socket.statuses()).toEqual([200])
    })
  })

  it('closes the longest-idle connection at the cap, and answers 503 when none is idle', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { connect, server } = serve(
      async (request) => {
        if (request.url.endsWith('/slow')) await gate
        return new Response('x')
      },
      { maxConnections: 2 },
    )
    const idle = connect()
    idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    const busy = connect()
    busy.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    const third = connect()
    expect(idle.ended).toBe(true)
    idle.events.close()
    third.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    const fourth = connect()
    await flush()
    expect(fourth.statuses()).toEqual([503])
    expect(fourth.out).toContain('retry-after: 1\r\n')
    release()
    await flush()
    expect(busy.statuses()).toEqual([200])
    expect(server.connections).toBe(2)
  })

  it('drains: idle connections close at once, busy ones after a Connection: close answer', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    const { connect, server } = serve(async (request) => {
      if (request.url.endsWith('/slow')) await gate
      return new Response('x')
    })
    const idle = connect()
    idle.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    const busy = connect()
    busy.send('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    const drained = server.drain(5000)
    expect(idle.ended).toBe(true)
    idle.events.close()
    expect(busy.ended).toBe(false)
    release()
    await flush()
    expect(busy.statuses()).toEqual([200])
    expect(busy.out).toContain('connection: close\r\n')
    expect(busy.ended).toBe(true)
    busy.events.close()
    await drained
    expect(server.connections).toBe(0)
  })

  describe('closing (RFC 9112 §9.6)', () => {
    it.each([
      ['asked for the close', 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
      ['is HTTP/1.0 without keep-alive', 'GET / HTTP/1.0\r\n\r\n'],
    ])('closes outright after the answer when the client %s and sent no more', async (_, head) => {
      const { connect } = serve(() => new Response('bye'))
      const socket = connect()
      socket.send(head)
      await flush()
      expect(socket.statuses()).toEqual([200])
      expect(socket.out).toContain('connection: close\r\n')
      expect(socket.closedAfterEnd).toBe(true)
    })

    it.each([
      [
        'bytes followed a Connection: close request',
        () => new Response('bye'),
        'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n',
        200,
      ],
      [
        'fulcrum closes a keep-alive client, which may be sending',
        () => new Response('bye', { headers: { connection: 'close' } }),
        'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
        200,
      ],
      [
        'the answer went out before the request body was read',
        () => new Response('no', { status: 413 }),
        'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\nab',
        413,
      ],
    ])('half-closes and reads on when %s', async (_, handler, input, status) => {
      const { connect } = serve(handler)
      const socket = connect()
      socket.send(input)
      await flush()
      expect(socket.statuses()).toEqual([status])
      expect(socket.ended).toBe(true)
      expect(socket.closedAfterEnd).toBe(false)
    })
  })

  it('aborts the env signal when the client goes away before the answer', async () => {
    let aborted = false
    const { connect } = serve(async (_request, env) => {
      env.signal.addEventListener('abort', () => (aborted = true))
      await new Promise((resolve) => setTimeout(resolve, 20))
      return new Response('late')
    })
    const socket = connect()
    socket.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    await flush()
    socket.events.close()
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(aborted).toBe(true)
    expect(socket.out).toBe('')
  })
})
