/**
 * acceptProxy over in-memory sockets: the header taken off and its source as the peer, the
 * client's first bytes replayed in order, LOCAL and UNKNOWN keeping the real peer, untrusted
 * peers, malformed headers, FIN and the deadline (fake time) closing the connection with nothing
 * handed on, and the HTTP/1.1 engine seeing the client's address.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createHttp1Server } from '../../../src/http1/server.ts'
import type { Socket, SocketEvents } from '../../../src/socket.ts'
import {
  acceptProxy,
  ProxiedSocket,
  type AcceptProxyOptions,
} from '../../../src/tcp/proxy-accept.ts'
import { encodeProxyV1, encodeProxyV2 } from '../../../src/tcp/proxy-protocol.ts'
import { concat, latin1, MemorySocket, text } from './memory-socket.ts'

const CLIENT = {
  source: { address: '203.0.113.7', port: 51234 },
  destination: { address: '192.0.2.10', port: 80 },
}
const CLIENT6 = {
  source: { address: '2001:db8::7', port: 51234 },
  destination: { address: '2001:db8::10', port: 443 },
}
const REQUEST = 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'

/** What the wrapped `accept` saw: each socket, with everything reported on it. */
interface Seen {
  socket: Socket
  events: string[]
  data: string
}

/** A wrapped `accept` that records, and the acceptProxy in front of it. */
function setup(options: Partial<AcceptProxyOptions> = {}, onAccept?: (socket: Socket) => void) {
  const seen: Seen[] = []
  const refused: string[] = []
  const accept = acceptProxy(
    (socket) => {
      const record: Seen = { socket, events: [], data: '' }
      seen.push(record)
      onAccept?.(socket)
      const events: SocketEvents = {
        data: (chunk) => {
          record.events.push(`data:${text(chunk)}`)
          record.data += text(chunk)
        },
        drain: () => record.events.push('drain'),
        end: () => record.events.push('end'),
        close: (error) => record.events.push(error ? `close:${String(error)}` : 'close'),
      }
      return events
    },
    {
      trusted: ['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8'],
      onRefuse: (r) => refused.push(r),
      ...options,
    },
  )
  const connect = (address = '127.0.0.1', port = 40000) =>
    MemorySocket.accept(accept, address, port)
  return { accept, connect, seen, refused }
}

describe('acceptProxy', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('takes a v1 header off and hands on the client as the peer, then its bytes', () => {
    const { connect, seen, accept } = setup()
    const socket = connect()
    expect(accept.pending).toBe(1)
    socket.send(concat(encodeProxyV1(CLIENT), latin1(REQUEST)))
    expect(accept.pending).toBe(0)
    expect(seen).toHaveLength(1)
    const inner = seen[0]!.socket
    expect(inner.remoteAddress).toBe('203.0.113.7')
    expect(inner.remotePort).toBe(51234)
    expect(inner.encrypted).toBe(false)
    expect((inner as ProxiedSocket).header.version).toBe(1)
    expect(seen[0]!.events).toEqual([`data:${REQUEST}`])
    // Later bytes, drains, the FIN and the close follow in order; writes reach the socket.
    socket.send('more')
    socket.events.drain()
    socket.sendEnd()
    inner.write(latin1('HTTP/1.1 200 OK\r\n\r\n'))
    inner.end()
    socket.sendClose()
    expect(seen[0]!.events).toEqual([`data:${REQUEST}`, 'data:more', 'drain', 'end', 'close'])
    expect(socket.output()).toBe('HTTP/1.1 200 OK\r\n\r\n')
    expect(socket.ended).toBe(true)
    expect(socket.destroyed).toBe(false)
  })

  it('reads a v2 header split over many chunks, and one with nothing after it', () => {
    const { connect, seen } = setup()
    const socket = connect('fd00::1')
    const bytes = concat(encodeProxyV2(CLIENT6), latin1(REQUEST))
    for (let at = 0; at < bytes.length; at += 5) socket.send(bytes.subarray(at, at + 5))
    expect(seen[0]!.socket.remoteAddress).toBe('2001:db8::7')
    expect(seen[0]!.socket.remotePort).toBe(51234)
    expect(seen[0]!.data).toBe(REQUEST)

    const bare = connect()
    bare.send(encodeProxyV2(CLIENT))
    expect(seen[1]!.socket.remoteAddress).toBe('203.0.113.7')
    expect(seen[1]!.events).toEqual([])
    bare.send('late')
    expect(seen[1]!.events).toEqual(['data:late'])
  })

  it('keeps the real peer for LOCAL (v2) and UNKNOWN (v1)', () => {
    const { connect, seen } = setup()
    connect('10.1.2.3', 1111).send(concat(encodeProxyV2(), latin1('ping')))
    connect('10.1.2.4', 2222).send('PROXY UNKNOWN\r\nping')
    expect(seen.map((s) => [s.socket.remoteAddress, s.socket.remotePort, s.data])).toEqual([
      ['10.1.2.3', 1111, 'ping'],
      ['10.1.2.4', 2222, 'ping'],
    ])
  })

  it('matches trusted ranges as createAddressMatcher does, IPv4-mapped peers included', () => {
    const { connect, seen } = setup()
    for (const peer of ['127.0.0.1', '::ffff:127.0.0.1', '10.255.0.1', 'fd12::1']) {
      connect(peer).send(encodeProxyV1(CLIENT))
    }
    expect(seen).toHaveLength(4)
  })

  it('closes a connection from an untrusted peer at once, unread', () => {
    const { connect, seen, refused, accept } = setup()
    for (const peer of ['127.0.0.2', '192.0.2.1', '::1', 'fe80::1']) {
      const socket = connect(peer)
      expect(socket.destroyed).toBe(true)
      socket.send(encodeProxyV1(CLIENT)) // a runtime may still have a chunk in flight
    }
    expect(seen).toEqual([])
    expect(accept.pending).toBe(0)
    expect(refused[0]).toBe('PROXY protocol from an untrusted peer 127.0.0.2')
    expect(refused).toHaveLength(4)
    // No timer is left behind for them.
    expect(vi.getTimerCount()).toBe(0)
  })

  it('takes a predicate for trust', () => {
    const { connect, seen } = setup({ trusted: (address) => address === '192.0.2.99' })
    connect('192.0.2.99').send(encodeProxyV1(CLIENT))
    expect(connect('127.0.0.1').destroyed).toBe(true)
    expect(seen).toHaveLength(1)
  })

  it.each([
    ['no header at all', REQUEST, /no v1 or v2 signature/],
    ['a malformed v1 line', 'PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\nGET', /source address/],
    ['a v2 header of version 1', '\r\n\r\n\0\r\nQUIT\n\x11', /unsupported version 1/],
  ])('closes a trusted connection that sends %s, handing nothing on', (_name, bytes, reason) => {
    const { connect, seen, refused, accept } = setup()
    const socket = connect()
    socket.send(bytes)
    expect(socket.destroyed).toBe(true)
    expect(seen).toEqual([])
    expect(refused).toHaveLength(1)
    expect(refused[0]).toMatch(reason)
    expect(accept.pending).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('closes a connection that ends before its header is complete', () => {
    const { connect, seen, refused } = setup()
    const socket = connect()
    socket.send('PROXY TCP4 203.0.113.7')
    socket.sendEnd()
    expect(socket.destroyed).toBe(true)
    expect(seen).toEqual([])
    expect(refused).toEqual(['the connection ended before its PROXY protocol header'])
  })

  it('forgets a connection that goes away before its header', () => {
    const { connect, accept, refused } = setup()
    const socket = connect()
    socket.send('PROX')
    socket.sendClose(new Error('reset'))
    expect(accept.pending).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    expect(refused).toEqual([])
  })

  it('closes a connection whose header is not complete within 5 s (fake time)', () => {
    const { connect, seen, refused } = setup()
    const slow = connect()
    const silent = connect()
    slow.send('PROXY TCP4 ')
    vi.advanceTimersByTime(4999)
    expect(slow.destroyed || silent.destroyed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(slow.destroyed && silent.destroyed).toBe(true)
    expect(refused).toEqual([
      'no PROXY protocol header within 5000 ms',
      'no PROXY protocol header within 5000 ms',
    ])
    // Bytes that arrive after the deadline are ignored.
    slow.send('203.0.113.7 192.0.2.10 1 2\r\n')
    expect(seen).toEqual([])
  })

  it('stops the deadline once the header is in', () => {
    const { connect, seen } = setup({ timeout: 1000 })
    const socket = connect()
    vi.advanceTimersByTime(999)
    socket.send(encodeProxyV1(CLIENT))
    vi.advanceTimersByTime(10_000)
    expect(socket.destroyed).toBe(false)
    expect(seen).toHaveLength(1)
  })

  it('runs on the timers it is given', () => {
    const timers = new Map<number, () => void>()
    let next = 0
    const { connect } = setup({
      timeout: 250,
      setTimer: (callback, ms) => {
        expect(ms).toBe(250)
        timers.set(++next, callback)
        return next
      },
      clearTimer: (timer) => timers.delete(timer as number),
    })
    const done = connect()
    done.send(encodeProxyV1(CLIENT))
    expect(timers.size).toBe(0)
    const stuck = connect()
    expect(timers.size).toBe(1)
    timers.get(next)!()
    expect(stuck.destroyed).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('holds the client bytes while the accepted socket is paused, and keeps their order', async () => {
    const { connect, seen } = setup({}, (socket) => socket.pause())
    const socket = connect()
    socket.send(concat(encodeProxyV1(CLIENT), latin1('first')))
    expect(socket.paused).toBe(true)
    expect(seen[0]!.events).toEqual([])
    // A chunk the runtime had in flight, and the FIN, wait behind the first bytes.
    socket.send('second')
    socket.sendEnd()
    expect(seen[0]!.events).toEqual([])
    seen[0]!.socket.resume()
    expect(socket.paused).toBe(false)
    await Promise.resolve()
    expect(seen[0]!.events).toEqual(['data:first', 'data:second', 'end'])
    socket.send('third')
    expect(seen[0]!.events).toEqual(['data:first', 'data:second', 'end', 'data:third'])
  })

  it('hands nothing on to a socket that its accept destroyed', () => {
    const { connect, seen } = setup({}, (socket) => socket.destroy())
    const socket = connect()
    socket.send(concat(encodeProxyV1(CLIENT), latin1('first')))
    socket.send('second')
    expect(socket.destroyed).toBe(true)
    expect(seen[0]!.events).toEqual([])
  })

  it('closes the connections still waiting for a header, and new ones, on close()', () => {
    const { connect, seen, accept, refused } = setup()
    const open = connect()
    open.send(encodeProxyV1(CLIENT))
    const waiting = connect()
    waiting.send('PROXY ')
    accept.close()
    expect(waiting.destroyed).toBe(true)
    expect(open.destroyed).toBe(false)
    expect(accept.pending).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    expect(connect().destroyed).toBe(true)
    expect(refused).toEqual(['the listener is closing'])
    expect(seen).toHaveLength(1)
  })
})

describe('acceptProxy in front of the HTTP/1.1 engine', () => {
  it('gives the app the client from the header as the peer', async () => {
    const peers: (string | undefined)[] = []
    const engine = createHttp1Server({
      handler: (_request, env) => {
        peers.push(env.remoteAddress)
        return new Response('ok')
      },
      scheme: 'http',
      limits: {
        maxHeadBytes: 8192,
        headerTimeout: 1000,
        keepAliveTimeout: 1000,
        maxConnections: 10,
      },
    })
    const accept = acceptProxy(engine.accept, { trusted: ['127.0.0.1'] })
    const v1 = MemorySocket.accept(accept)
    v1.send(concat(encodeProxyV1(CLIENT), latin1(REQUEST)))
    const v2 = MemorySocket.accept(accept)
    v2.send(concat(encodeProxyV2(CLIENT6), latin1(REQUEST)))
    await vi.waitFor(() => expect(peers).toHaveLength(2))
    expect(peers).toEqual(['203.0.113.7', '2001:db8::7'])
    await vi.waitFor(() => expect(v2.output()).toMatch(/^HTTP\/1\.1 200 OK\r\n/))
    await engine.drain(0)
  })
})
