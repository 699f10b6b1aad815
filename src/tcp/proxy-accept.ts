/**
 * Accept the PROXY protocol (src/tcp/proxy-protocol.ts) in front of any {@link Accept}: behind
 * another load balancer, a connection from a trusted address starts with a PROXY header (v1 or
 * v2, told apart by their signatures), which is read and taken off before the connection is
 * handed on, with the client it names as its peer. This is HAProxy's `accept-proxy` on a `bind`
 * line, with the spec's advice built in: take the header only from known sources (§5), and give
 * up on it after a short while (§2: "at least 3 seconds to cover a TCP retransmit").
 *
 * @example
 * ```ts
 * const accept = acceptProxy(engine.accept, { trusted: ['10.0.0.0/8'] })
 * await listen({ host: '0.0.0.0', port: 8080 }, accept)
 * ```
 */
import type { Accept, Socket, SocketEvents } from '../socket.ts'
import { createAddressMatcher } from '../net.ts'
import { ProxyHeaderParser, type ProxyHeader } from './proxy-protocol.ts'

/** Options for {@link acceptProxy}. */
export interface AcceptProxyOptions {
  /**
   * Who may send a PROXY header: addresses and CIDR ranges (IPv4-mapped IPv6 peers match their
   * IPv4 ranges, see `createAddressMatcher` in src/net.ts), or a predicate. A connection from
   * anyone else is closed unread: a header is never optional (§2: a receiver "MUST not try to
   * guess whether the protocol header is present or not").
   */
  trusted: readonly string[] | ((address: string | undefined) => boolean)
  /**
   * Milliseconds the whole header may take to arrive, from the accept on; then the connection
   * is closed. HAProxy bounds it with `timeout client`.
   * @default 5000
   */
  timeout?: number
  /** Start a timer. @default globalThis.setTimeout (looked up at each call: fake timers work) */
  setTimer?: (callback: () => void, ms: number) => unknown
  /** Cancel a timer from {@link setTimer}. @default globalThis.clearTimeout */
  clearTimer?: (timer: unknown) => void
  /** The longest v2 header taken. @default 16_384 (see `ProxyParserOptions`) */
  maxHeaderBytes?: number
  /** Told of each connection closed here (untrusted, malformed, too slow), with the reason. */
  onRefuse?: (reason: string, socket: Socket) => void
}

/**
 * The {@link Accept} that {@link acceptProxy} returns, with a hold on the connections still
 * waiting for their header (the wrapped `accept` knows nothing of them yet).
 */
export interface ProxyAccept {
  (socket: Socket): SocketEvents
  /** Connections whose header is not complete yet. */
  readonly pending: number
  /** Close the connections still waiting for their header, and every new one from now on. */
  close(): void
}

/**
 * Wrap `accept` so that each connection must start with a PROXY header from a trusted peer.
 *
 * - From an untrusted peer, the connection is destroyed at once and `accept` never sees it.
 * - From a trusted one, bytes are read until the header is complete, within `timeout`. A
 *   malformed header, the peer's FIN or the timeout closes the connection, and nothing is
 *   handed on.
 * - Then `accept` gets the connection with `remoteAddress` and `remotePort` set to the header's
 *   source (a `LOCAL` or `UNKNOWN` header keeps the real peer, §2.1, §2.2), and the bytes that
 *   came after the header as its first `data`, before anything else the socket reports.
 *
 * Connections waiting for their header do not count against the engine's `maxConnections`;
 * the timeout bounds them, and only trusted peers get that far.
 */
export function acceptProxy(accept: Accept, options: AcceptProxyOptions): ProxyAccept {
  const { trusted, timeout = 5000, maxHeaderBytes, onRefuse } = options
  const isTrusted = typeof trusted === 'function' ? trusted : createAddressMatcher(trusted)
  const setTimer = options.setTimer ?? ((callback, ms) => setTimeout(callback, ms))
  const clearTimer =
    options.clearTimer ?? ((timer) => clearTimeout(timer as ReturnType<typeof setTimeout>))
  /** The connections waiting for their header, with their deadline's timer. */
  const pending = new Map<Socket, unknown>()
  let closed = false

  const refuse = (socket: Socket, reason: string): SocketEvents => {
    socket.destroy()
    onRefuse?.(reason, socket)
    return IGNORE
  }
  /** Take `socket` off the waiting list; `false` when it was not on it (any more). */
  const settle = (socket: Socket): boolean => {
    if (!pending.has(socket)) return false
    clearTimer(pending.get(socket))
    pending.delete(socket)
    return true
  }

  const proxied = (socket: Socket): SocketEvents => {
    if (closed) return refuse(socket, 'the listener is closing')
    if (!isTrusted(socket.remoteAddress)) {
      return refuse(socket, `PROXY protocol from an untrusted peer ${socket.remoteAddress}`)
    }
    const parser = new ProxyHeaderParser({ maxHeaderBytes })
    let inner: SocketEvents | undefined
    const stop = (reason: string) => {
      if (settle(socket)) refuse(socket, reason)
    }
    pending.set(
      socket,
      setTimer(() => stop(`no PROXY protocol header within ${timeout} ms`), timeout),
    )
    return {
      data(chunk) {
        if (inner) return inner.data(chunk)
        // Refused already: a runtime may still report a chunk it had.
        if (!pending.has(socket)) return
        const result = parser.push(chunk)
        if (result.state === 'need-more') return
        if (result.state === 'error') return stop(`PROXY protocol: ${result.reason}`)
        settle(socket)
        const connection = new ProxiedSocket(socket, result.header)
        inner = connection.start(accept(connection), result.rest)
      },
      drain() {
        inner?.drain()
      },
      end() {
        if (inner) return inner.end()
        stop('the connection ended before its PROXY protocol header')
      },
      close(error) {
        if (inner) return inner.close(error)
        settle(socket)
      },
    }
  }

  return Object.defineProperties(proxied, {
    pending: { get: () => pending.size },
    close: {
      value: () => {
        closed = true
        for (const socket of [...pending.keys()]) {
          settle(socket)
          socket.destroy()
        }
      },
    },
  }) as ProxyAccept
}

/** Events for a connection that is being closed: nothing more is wanted from it. */
const IGNORE: SocketEvents = { data() {}, drain() {}, end() {}, close() {} }

/**
 * A connection after its PROXY header, as the wrapped `accept` sees it: the header's source as
 * its peer and its destination as its local end (`header` tells the rest), and the bytes that
 * followed the header first. Everything else is the socket's own.
 */
export class ProxiedSocket implements Socket {
  readonly #socket: Socket
  /** The header that was read. */
  readonly header: ProxyHeader
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly localAddress: string | undefined
  readonly localPort: number | undefined
  #events: SocketEvents = IGNORE
  #paused = false
  #destroyed = false
  /**
   * Bytes not handed on yet because `accept` paused the socket before they could be; while
   * set, the socket's later data and its FIN queue behind them, so that the order holds.
   */
  #backlog: Uint8Array[] | undefined
  #endQueued = false

  constructor(socket: Socket, header: ProxyHeader) {
    this.#socket = socket
    this.header = header
    this.remoteAddress = header.source?.address ?? socket.remoteAddress
    this.remotePort = header.source?.port ?? socket.remotePort
    // Where the client reached the balancer in front, as that balancer's header says.
    this.localAddress = header.destination?.address ?? socket.localAddress
    this.localPort = header.destination?.port ?? socket.localPort
  }

  get encrypted(): boolean {
    return this.#socket.encrypted
  }

  /**
   * Report to `events` from now on, starting with `rest`.
   *
   * @returns the events for the underlying socket to report, from now on
   */
  start(events: SocketEvents, rest: Uint8Array): SocketEvents {
    this.#events = events
    if (rest.length > 0 && !this.#destroyed) {
      if (this.#paused) this.#backlog = [rest]
      else events.data(rest)
    }
    return {
      data: (chunk) => {
        if (this.#destroyed) return
        if (this.#backlog) this.#backlog.push(chunk)
        else this.#events.data(chunk)
      },
      drain: () => {
        if (!this.#destroyed) this.#events.drain()
      },
      end: () => {
        if (this.#destroyed) return
        if (this.#backlog) this.#endQueued = true
        else this.#events.end()
      },
      close: (error) => {
        // Reported at once, as a reset would be: bytes still held for a paused reader are lost.
        if (this.#destroyed) return
        this.#destroyed = true
        this.#backlog = undefined
        this.#events.close(error)
      },
    }
  }

  write(bytes: Uint8Array): boolean {
    return this.#socket.write(bytes)
  }

  end(): void {
    this.#socket.end()
  }

  endAndClose(): void {
    this.#socket.endAndClose()
  }

  destroy(): void {
    this.#destroyed = true
    this.#backlog = undefined
    this.#socket.destroy()
  }

  pause(): void {
    this.#paused = true
    this.#socket.pause()
  }

  resume(): void {
    this.#paused = false
    this.#socket.resume()
    if (this.#backlog) queueMicrotask(() => this.#flush())
  }

  /** Hand on the backlog, as long as the socket is not paused again. */
  #flush(): void {
    const backlog = this.#backlog
    if (!backlog) return
    while (backlog.length > 0) {
      if (this.#paused || this.#destroyed) return
      this.#events.data(backlog.shift()!)
    }
    if (this.#backlog !== backlog) return
    this.#backlog = undefined
    if (this.#endQueued && !this.#destroyed) this.#events.end()
  }
}
