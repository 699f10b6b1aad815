/**
 * Node's sockets for the HTTP/1.1 engine: `net.Server`/`tls.Server` for the listeners and
 * `net.connect` upstream, each `net.Socket` behind the engine's `Socket` contract.
 *
 * Over TLS with `http2`, ALPN (RFC 7301) offers h2 first: the connections that choose it go to a
 * `node:http2` server made by @hono/node-server's `createAdaptorServer` (so the env is
 * `{ incoming, outgoing }` as ever), which never listens itself but takes them through its
 * `secureConnection` event; every other connection is the engine's.
 */
import { createAdaptorServer } from '@hono/node-server'
import { Buffer } from 'node:buffer'
import { createSecureServer, type Http2Session } from 'node:http2'
import {
  connect as netConnect,
  createServer as createNetServer,
  type AddressInfo,
  type ListenOptions as NetListenOptions,
  type Server,
  type Socket as NetSocket,
  type TcpNetConnectOpts,
} from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import type { Accept, Connect, Socket, SocketEvents } from '../../src/socket.ts'
import type { ListenOptions, Listener } from '../adapter.ts'
import { trackHttp2Connections } from './http2.ts'
import { nodeTls } from './tls.ts'
import { keptIfLent, UpstreamReader } from './upstream-reader.ts'

/**
 * Bytes a socket queues for writing before `write` returns `false` (and reads ahead before a
 * paused socket stops reading from the kernel). Node's default is 16 KiB.
 */
export const HIGH_WATER_MARK = 64 * 1024

/** How long a TLS handshake may take by default (Node's own default is 120 s). */
export const HANDSHAKE_TIMEOUT = 10_000

/** ALPN with `http2`: h2 first, HTTP/1.1 as the fallback (RFC 9113 §3.2). */
const ALPN_H2 = ['h2', 'http/1.1']
/** ALPN without: HTTP/1.1 only, as Node's `https.Server` offers. */
const ALPN_H1 = ['http/1.1']

/**
 * One `net.Socket` (or `TLSSocket`) as the engine's {@link Socket}. Node hands each `data` event
 * a Buffer of its own, so chunks go through as they are; `allowHalfOpen` leaves the write side
 * to the engine after the peer's FIN.
 */
class NodeSocket implements Socket {
  readonly #socket: NetSocket
  #error: unknown
  #destroyed = false
  /** Told of an error before {@link bind} (a connect that failed), instead of keeping it. */
  #connectFailed: ((error: Error) => void) | undefined

  constructor(socket: NetSocket, connectFailed?: (error: Error) => void) {
    this.#socket = socket
    this.#connectFailed = connectFailed
    // One listener for the socket's life: `once` and `off` would cost an object or two each.
    socket.on('error', (error) => {
      if (this.#connectFailed) this.#connectFailed(error)
      else this.#error ??= error
    })
  }

  /**
   * Report `socket`'s events to `events`, from now on; `reading` says that the socket reads
   * through its own `onread` callback (see {@link connect}), which reports the data itself.
   */
  bind(events: SocketEvents, reading = false): this {
    const socket = this.#socket
    this.#connectFailed = undefined
    if (!reading) socket.on('data', (chunk: Buffer) => events.data(chunk))
    socket.on('drain', () => events.drain())
    socket.on('end', () => events.end())
    // `close` is emitted once: `on` without the wrapper `once` makes.
    socket.on('close', () => {
      if (!this.#destroyed) events.close(this.#error)
    })
    return this
  }

  write(bytes: Uint8Array): boolean {
    const socket = this.#socket
    const more = socket.write(bytes)
    // A borrowed chunk (see UpstreamReader) that the stream queued, even in part, is kept.
    if (socket.writableLength > 0) keptIfLent(bytes)
    return more
  }

  end(): void {
    this.#socket.end()
  }

  /**
   * With nothing left in the stream's queue, `destroy()` is `close(2)` at once: the kernel sends
   * what it holds, then the FIN. Else the close waits for the queue to empty (`end`'s callback).
   * A TLS socket ends as {@link end} does, with its `close_notify`.
   */
  endAndClose(): void {
    const socket = this.#socket
    if (this.encrypted) socket.end()
    else if (socket.writableLength === 0) socket.destroy()
    else socket.end(() => socket.destroy())
  }

  destroy(): void {
    this.#destroyed = true
    this.#socket.destroy()
  }

  pause(): void {
    this.#socket.pause()
  }

  resume(): void {
    this.#socket.resume()
  }

  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress
  }

  get localAddress(): string | undefined {
    return this.#socket.localAddress
  }

  get localPort(): number | undefined {
    return this.#socket.localPort
  }

  get remotePort(): number | undefined {
    return this.#socket.remotePort
  }

  get encrypted(): boolean {
    return (this.#socket as Partial<TLSSocket>).encrypted === true
  }
}

/**
 * Listen for TCP (or TLS) connections and hand each to `accept`.
 *
 * @example
 * ```ts
 * const listener = await listen({ host: '127.0.0.1', port: 8080 }, (socket) => ({
 *   data: (chunk) => socket.write(chunk),
 *   drain: () => {},
 *   end: () => socket.end(),
 *   close: () => {},
 * }))
 * await listener.close()
 * ```
 */
export async function listen(options: ListenOptions, accept: Accept): Promise<Listener> {
  const onSocket = (socket: NetSocket) => {
    const wrapped = new NodeSocket(socket)
    wrapped.bind(accept(wrapped))
  }
  const serverOptions = { allowHalfOpen: true, noDelay: true, highWaterMark: HIGH_WATER_MARK }
  const { tls, http2 } = options
  if (!tls) {
    const server = createNetServer(serverOptions, onSocket)
    return listening(server, await bind(server, options))
  }

  const secure = nodeTls(tls)
  const server = createTlsServer({
    ...serverOptions,
    ...secure.options,
    ALPNProtocols: http2 ? ALPN_H2 : ALPN_H1,
    handshakeTimeout: options.handshakeTimeout ?? HANDSHAKE_TIMEOUT,
  })
  // Handshake failures (a TLS 1.0 client, no shared cipher, a port scan, the handshake timeout)
  // only lose their socket.
  server.on('tlsClientError', (_error, socket) => socket.destroy())
  const h2 = http2 && http2Server(http2.handler)
  server.on('secureConnection', (socket: TLSSocket) => {
    if (h2 && socket.alpnProtocol === 'h2') h2.take(socket)
    else onSocket(socket)
  })
  const port = await bind(server, options)
  return {
    ...listening(server, port),
    setTls: async (material) => {
      secure.update(material)
      // The SNI callback reads the new material; this replaces the default certificate.
      server.setSecureContext(secure.defaults())
    },
    ...(h2 ? { closeHttp2: () => h2.close() } : {}),
  }
}

/** Bind `server` to the options' address; resolves with the port bound. */
function bind(server: Server, { host, port, reusePort, backlog }: ListenOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    // `reusePort` is Node ≥ 22.12 (SO_REUSEPORT); older versions ignore the option.
    const at: NetListenOptions & { reusePort?: boolean } = { host, port, reusePort, backlog }
    server.listen(at, () => {
      server.off('error', reject)
      // An accept failure (EMFILE) is retried by the next connection; it is no reason to crash.
      server.on('error', () => {})
      resolve((server.address() as AddressInfo).port)
    })
  })
}

/** The common part of a listener. */
function listening(server: Server, port: number): Listener {
  return {
    port,
    // `close()` stops accepting at once; its callback would wait for every open connection.
    close: async () => {
      if (server.listening) server.close()
    },
  }
}

/** The HTTP/2 side of a TLS listener. */
interface Http2Side {
  /** Serve a connection that negotiated h2. */
  take(socket: TLSSocket): void
  /** GOAWAY to every session; resolves once they are all closed. */
  close(): Promise<void>
}

/**
 * A `node:http2` server that never listens: @hono/node-server's request listener on
 * `http2.createSecureServer`, fed the TLS sockets that chose h2 (its `secureConnection` handler
 * makes the session, as when it accepts them itself).
 */
function http2Server(handler: NonNullable<ListenOptions['http2']>['handler']): Http2Side {
  const server = createAdaptorServer({ fetch: handler, createServer: createSecureServer })
  const connections = trackHttp2Connections(server as unknown as Server)
  const sessions = new Set<Http2Session>()
  let idle: (() => void) | undefined
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => {
      sessions.delete(session)
      if (sessions.size === 0) idle?.()
    })
  })
  return {
    take(socket) {
      // The HTTP/2 session owns the connection now: a peer's FIN ends it.
      socket.allowHalfOpen = false
      server.emit('secureConnection', socket)
    },
    close() {
      connections.closeGracefully()
      if (sessions.size === 0) return Promise.resolve()
      return new Promise((resolve) => {
        idle = resolve
      })
    },
  }
}

/**
 * The upstream side: a TCP connection with Nagle off (TCP_NODELAY) and half-open allowed.
 * Rejects with the connection error (ECONNREFUSED…); nothing is reported to `events` then.
 */
export const connect: Connect = (host, port, events) =>
  new Promise((resolve, reject) => {
    const reader = new UpstreamReader(events)
    // `highWaterMark` goes to the socket's Duplex (not in @types/node's connect options).
    const options: TcpNetConnectOpts & { highWaterMark: number } = {
      host,
      port,
      noDelay: true,
      allowHalfOpen: true,
      highWaterMark: HIGH_WATER_MARK,
      // Reads go straight to the engine through `onread`, without the stream's `data`
      // machinery; pause() and resume() work as ever. `buffer` is asked after each read for
      // the memory of the next one.
      onread: { buffer: reader.buffer, callback: reader.callback },
    }
    const socket = netConnect(options)
    // An error before the connect rejects; `connect` is emitted once.
    const connection = new NodeSocket(socket, reject)
    socket.on('connect', () => resolve(connection.bind(events, true)))
  })
