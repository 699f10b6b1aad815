/**
 * Bun's sockets for the HTTP/1.1 engine: `Bun.listen` (TLS through its `tls` option) and
 * `Bun.connect`, each socket behind the engine's `Socket` contract.
 *
 * Bun's sockets are callback-driven with one handler object per listener, so the per-connection
 * state lives in `socket.data`. Bun hands `data` a Buffer of its own for each read (checked by
 * test/unit/runtimes/sockets.test.ts), so chunks go through uncopied. `write` is unbuffered: it
 * returns what the kernel took, and the rest is queued here until `drain`.
 *
 * `pause()` is lazy: Bun's own pause and resume are two `epoll_ctl` and a `setsockopt` (strace,
 * Bun 1.4.5), and a relay pauses nearly every client for the moment its backend takes to connect,
 * most often with nothing more to read meanwhile. So the socket is paused only when something
 * arrives while the engine has it paused: that read is held, and handed over on `resume()`.
 *
 * HTTP/1.1 only: Bun has no HTTP/2 server to hand h2 connections to, so ALPN offers `http/1.1`.
 */
import type { Socket as BunSocket, SocketHandler, TCPSocketListener } from 'bun'
import type { Accept, Connect, Socket, SocketEvents } from '../../src/socket.ts'
import type { ListenOptions, Listener } from '../adapter.ts'
import { selectCertificate, type CertifiedKey, type TlsMaterial } from '../tls/certs.ts'
import { bunTls } from './tls.ts'

/** Bytes queued for writing before `write` returns `false`. */
export const HIGH_WATER_MARK = 64 * 1024

/**
 * The empty queue every connection starts with (frozen: a push into it would throw): most never
 * queue a write or hold a read, and two arrays per socket are two objects per connection.
 */
const NONE: Uint8Array[] = Object.freeze([]) as unknown as Uint8Array[]

/** ALPN, in wire format (RFC 7301 §3.1): `http/1.1` only. */
const ALPN_HTTP1 = new Uint8Array([8, ...new TextEncoder().encode('http/1.1')])

/** One Bun socket as the engine's {@link Socket}: its write queue and its events. */
class Connection implements Socket {
  /** Set once open: an upstream connection is made before its socket is. */
  #socket: BunSocket<Connection | undefined>
  readonly encrypted: boolean
  /** Set once the engine has answered `accept` (or `connect` resolved). */
  events: SocketEvents | undefined
  /** What the kernel did not take yet, oldest first. */
  #queue = NONE
  #queued = 0
  #needDrain = false
  #ending = false
  /** {@link endAndClose}: once the queue is written, close instead of shutting down. */
  #closeAfterWrites = false
  #done = false
  #peerEnded = false
  #error: unknown
  #remoteAddress: string | undefined | null = null
  #remotePort: number | undefined | null = null
  /** The engine asked for no data (see the module's comment: Bun may read one more time). */
  #paused = false
  /** Bun's socket is paused: something arrived while {@link #paused}. */
  #readingStopped = false
  /** What arrived while paused, oldest first, for `resume()`. */
  #held = NONE
  /** The peer's FIN arrived while paused: reported after {@link #held}. */
  #endHeld = false

  constructor(
    socket: BunSocket<Connection | undefined> | undefined,
    encrypted: boolean,
    events?: SocketEvents,
  ) {
    this.#socket = socket!
    this.encrypted = encrypted
    this.events = events
  }

  /** Bun's `open` of an upstream connection: its socket. */
  opened(socket: BunSocket<Connection | undefined>): void {
    this.#socket = socket
  }

  write(bytes: Uint8Array): boolean {
    if (this.#done || this.#ending) return true
    if (this.#queued === 0) {
      const written = this.#socket.write(bytes)
      if (written === bytes.byteLength) return true
      // -1: closing; `close` follows.
      if (written < 0) return true
      this.#queue = [written > 0 ? bytes.subarray(written) : bytes]
      this.#queued += bytes.byteLength - written
    } else {
      this.#queue.push(bytes)
      this.#queued += bytes.byteLength
    }
    if (this.#queued < HIGH_WATER_MARK) return true
    this.#needDrain = true
    return false
  }

  /**
   * `shutdown()`, not Bun's `end()`: that closes the socket entirely, even with `allowHalfOpen`,
   * and whatever the peer still sends is lost (or answered with a reset).
   */
  end(): void {
    if (this.#done || this.#ending) return
    this.#ending = true
    if (this.#queued === 0) this.#sendFin()
  }

  endAndClose(): void {
    this.#closeAfterWrites = true
    this.end()
  }

  /**
   * Everything queued is written: the FIN goes out. When the peer's FIN has been reported
   * already, or {@link endAndClose} says it sends nothing more, nothing more can come, so the
   * socket is closed rather than shut down:
   * `close(2)` sends the same FIN after what the kernel still holds (nothing is left unread,
   * so no reset), and Bun takes it out of epoll at once, where a shutdown costs an `epoll_ctl`
   * and the `shutdown` itself, and a wakeup later for the close (strace, Bun 1.4.5). HAProxy
   * closes such a connection the same way. Not over TLS, whose close waits for the peer's
   * `close_notify`. The close is reported in a microtask, never inside `end()`.
   */
  #sendFin(): void {
    const nothingToRead = this.#closeAfterWrites || (this.#peerEnded && !this.#endHeld)
    if (!nothingToRead || this.encrypted) return this.#socket.shutdown()
    this.#done = true
    this.#socket.close()
    queueMicrotask(() => this.events?.close())
  }

  destroy(): void {
    // Nothing more is reported, a close queued by `end()` included.
    this.events = undefined
    if (this.#done) return
    this.#done = true
    this.#held = NONE
    this.#queue = NONE
    this.#queued = 0
    this.#socket.close()
  }

  pause(): void {
    this.#paused = true
  }

  /** Hand over what was held, in order, unless the engine pauses again meanwhile; then read on. */
  resume(): void {
    this.#paused = false
    const held = this.#held
    while (held.length > 0 && !this.#paused && !this.#done) this.events?.data(held.shift()!)
    if (this.#paused || this.#done) return
    if (this.#endHeld) {
      this.#endHeld = false
      this.events?.end()
    }
    if (this.#readingStopped && !this.#paused && !this.#done) {
      this.#readingStopped = false
      this.#socket.resume()
    }
  }

  /** Keep what arrived while paused, and stop Bun reading more until `resume()`. */
  #stopReading(): void {
    if (this.#readingStopped) return
    this.#readingStopped = true
    this.#socket.pause()
  }

  /** The peer's address, asked of Bun once (each read is a native call and a new string). */
  get remoteAddress(): string | undefined {
    if (this.#remoteAddress === null) this.#remoteAddress = this.#socket.remoteAddress
    return this.#remoteAddress
  }

  get localAddress(): string | undefined {
    return this.#socket.localAddress
  }

  get localPort(): number | undefined {
    return this.#socket.localPort
  }

  get remotePort(): number | undefined {
    if (this.#remotePort === null) this.#remotePort = this.#socket.remotePort
    return this.#remotePort
  }

  /** Bun's `drain`: write what was queued, then tell the engine. */
  flush(): void {
    const queue = this.#queue
    while (queue.length > 0) {
      const bytes = queue[0]!
      const written = this.#socket.write(bytes)
      if (written < 0) return
      this.#queued -= written
      if (written < bytes.byteLength) {
        queue[0] = bytes.subarray(written)
        return
      }
      queue.shift()
    }
    if (this.#ending) this.#sendFin()
    if (this.#needDrain && !this.#done) {
      this.#needDrain = false
      this.events?.drain()
    }
  }

  received(chunk: Uint8Array): void {
    if (this.#done) return
    if (this.#paused || this.#held.length > 0) {
      if (this.#held === NONE) this.#held = [chunk]
      else this.#held.push(chunk)
      this.#stopReading()
    } else this.events?.data(chunk)
  }

  ended(): void {
    this.#peerEnded = true
    if (this.#done) return
    if (this.#paused || this.#held.length > 0) {
      this.#endHeld = true
      this.#stopReading()
    } else this.events?.end()
  }

  failed(error: unknown): void {
    this.#error ??= error
  }

  closed(error: unknown): void {
    if (this.#done) return
    this.#done = true
    error ??= this.#error
    // A clean close hands over what was held first; a reset loses it, as it would have been
    // lost in the kernel's buffer had Bun stopped reading at once.
    const held = this.#held
    this.#held = NONE
    if (!error) {
      for (const chunk of held) this.events?.data(chunk)
      if (this.#endHeld) this.events?.end()
    }
    // After `shutdown()`, Bun reports the peer's FIN as `close` alone: an `end` first, as the
    // contract (and node:net) has it.
    if (!error && this.#ending && !this.#peerEnded) this.events?.end()
    this.events?.close(error)
  }
}

/** The handlers both sides share; `socket.data` is the connection. */
const common: SocketHandler<Connection | undefined> = {
  data: (socket, chunk) => socket.data?.received(chunk),
  drain: (socket) => socket.data?.flush(),
  end: (socket) => socket.data?.ended(),
  error: (socket, error) => socket.data?.failed(error),
  close: (socket, error) => socket.data?.closed(error),
}

/**
 * Listen for TCP (or TLS) connections and hand each to `accept`. `http2` is ignored: Bun serves
 * HTTP/1.1 only.
 *
 * @example
 * ```ts
 * const listener = await listen({ host: '127.0.0.1', port: 8080 }, accept)
 * await listener.close()
 * ```
 */
export async function listen(options: ListenOptions, accept: Accept): Promise<Listener> {
  const { host, reusePort } = options
  let sni = options.tls && sniContexts(options.tls)
  const open = (
    at: number,
    tls: TlsMaterial | undefined,
  ): TCPSocketListener<Connection | undefined> =>
    Bun.listen<Connection | undefined>({
      hostname: host,
      port: at,
      allowHalfOpen: true,
      // Not in @types/bun's listen options, but taken (SO_REUSEPORT).
      ...({ reusePort: reusePort || tls !== undefined } as object),
      ...(tls ? { tls: { ...bunTls(tls)[0]!, ALPNProtocols: ALPN_HTTP1 } } : {}),
      data: undefined,
      socket: {
        ...common,
        open(socket) {
          const connection = new Connection(socket, tls !== undefined)
          socket.data = connection
          // No setNoDelay(true): Bun sets TCP_NODELAY on every socket it accepts or connects
          // (strace, Bun 1.4.5), and a second setsockopt per connection is 0.5% of a
          // Connection: close profile.
          connection.events = accept(connection)
        },
        // SNI (RFC 6066 §3): Bun's own TLS server (node:tls) picks a certificate through this
        // handler of `Bun.listen`; not in @types/bun. Without an answer, the default serves.
        ...(tls && tls.certificates.length > 1
          ? { serverName: (_socket: unknown, name: string) => sni?.(name) }
          : {}),
      },
    })

  let current = open(options.port, options.tls)
  const port = current.port
  return {
    port,
    close: async () => current.stop(false),
    // New certificates take a new listener on the same port (SO_REUSEPORT); the old one stops
    // accepting. Bun's listener.reload() takes handlers, not TLS options.
    ...(options.tls
      ? {
          setTls: async (material: TlsMaterial) => {
            const next = open(port, material)
            sni = sniContexts(material)
            const previous = current
            current = next
            previous.stop(false)
          },
        }
      : {}),
  }
}

/**
 * The secure context of each certificate, by SNI name (exact, then wildcard, then the default:
 * `selectCertificate`), built once with the same profile as the default: ciphers and the
 * `SSL_OP_NO_*` versions (see tls.ts).
 */
function sniContexts(material: TlsMaterial): (name: string) => unknown {
  const { ciphers, secureOptions } = bunTls(material)[0]!
  // node:tls only when asked (TLS listeners): loading it at start costs every Bun process memory.
  const { createSecureContext } = process.getBuiltinModule('node:tls')
  const contexts = new Map<CertifiedKey, unknown>()
  return (name) => {
    const certificate = selectCertificate(material.certificates, name || undefined)
    let context = contexts.get(certificate)
    if (context === undefined) {
      const { cert, key } = certificate
      context = (createSecureContext({ cert, key, ciphers, secureOptions }) as { context: unknown })
        .context
      contexts.set(certificate, context)
    }
    return context
  }
}

/**
 * The upstream side's handlers, one object for every `Bun.connect` (Bun reads a handlers object
 * anew on each call, and a fresh one would cost an object and a closure per connection).
 * `socket.data` is the connection from the start; `open` gives it its socket, before data can
 * come.
 */
const upstream: SocketHandler<Connection | undefined> = {
  ...common,
  open: (socket) => socket.data?.opened(socket),
}

/** The connection a resolved `Bun.connect` carries. */
const connectionOf = (socket: BunSocket<Connection | undefined>): Socket => socket.data!

/**
 * The upstream side: `Bun.connect`, Nagle off (TCP_NODELAY, Bun's default), half-open allowed.
 * Rejects when the connection cannot be made.
 */
export const connect: Connect = (host, port, events) =>
  Bun.connect<Connection | undefined>({
    hostname: host,
    port,
    allowHalfOpen: true,
    data: new Connection(undefined, false, events),
    socket: upstream,
  }).then(connectionOf)
