/**
 * A layer-4 byte relay between a client and a backend connection (as HAProxy's `mode tcp`,
 * nginx's `stream`): bytes both ways with backpressure on both sides, half-close (a FIN,
 * RFC 9293 §3.6) passed through, an idle timeout, and one report when both sides are gone.
 */
import { wallClock } from '../clock.ts'
import { deadlineAfter, type Deadline } from '../deadlines.ts'
import type { Socket, SocketEvents } from '../socket.ts'

/** Why a relayed connection ended, for the access log and the metrics. */
export type CloseReason =
  | 'done'
  | 'client-reset'
  | 'backend-reset'
  | 'idle-timeout'
  | 'shutdown'
  | 'connect-failed'
  | 'refused'

/** What a relayed connection moved. */
export interface RelayStats {
  /** Bytes from the client to the backend. */
  bytesIn: number
  /** Bytes from the backend to the client. */
  bytesOut: number
  reason: CloseReason
}

/** The timers a relay uses; fake ones in tests. */
export interface RelayTimers {
  now(): number
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** Options for {@link Relay}. */
export interface RelayOptions {
  /** No byte either way for this long closes both sides. */
  idleTimeout: number
  /** Told once, when both sides are closed. */
  onEnd(stats: RelayStats): void
  /** Told of each chunk relayed (metrics that count bytes as they flow). */
  onBytes?(direction: 'in' | 'out', bytes: number): void
  /**
   * Without them, the idle deadline is one of src/deadlines.ts's: the relays of one listener
   * share a runtime timer instead of arming one each.
   */
  timers?: RelayTimers
}

/**
 * One relayed connection. The client side is attached first (its events are what the listener
 * hands back on accept); bytes that arrive before the backend is attached are kept, the client
 * paused, and sent first.
 *
 * @example
 * ```ts
 * const relay = new Relay({ idleTimeout: 600_000, onEnd: (stats) => log(stats) })
 * const accept: Accept = (client) => relay.attachClient(client)
 * relay.attachBackend(await connect(host, port, relay.backendEvents))
 * ```
 */
export class Relay {
  /**
   * The client's events as an object with methods, one per relay (object literals of arrow
   * functions made an object and four closures per side and connection).
   */
  static readonly #ClientSide = class ClientSide implements SocketEvents {
    constructor(readonly relay: Relay) {}

    data(chunk: Uint8Array): void {
      const relay = this.relay
      relay.#counted('in', chunk.byteLength)
      const backend = relay.#backend
      if (!backend) {
        ;(relay.#early ??= []).push(chunk)
        relay.#clientPaused = true
        relay.#client?.pause()
      } else if (relay.#backendClosed) {
        // The backend is gone (the client got its FIN): these bytes have nowhere to go.
      } else if (!backend.write(chunk)) {
        relay.#client?.pause()
      }
    }

    drain(): void {
      this.relay.#backend?.resume()
    }

    end(): void {
      const relay = this.relay
      // Half-close: the client has said all it will; the backend may still answer.
      relay.#clientEnded = true
      if (relay.#backend) relay.#endBackend()
      relay.#maybeDone()
    }

    close(error?: unknown): void {
      const relay = this.relay
      relay.#clientClosed = true
      relay.#reason ??= error ? 'client-reset' : 'done'
      // The client can't take more: what the backend still sends has nowhere to go.
      if (relay.#backend && !relay.#backendClosed) {
        if (error || !relay.#clientEnded) {
          // A destroyed socket reports nothing more (its close included).
          relay.#backend.destroy()
          relay.#backendClosed = true
        } else relay.#endBackend()
      }
      relay.#maybeDone()
    }
  }

  /** The backend's events, as {@link Relay.#ClientSide} is the client's. */
  static readonly #BackendSide = class BackendSide implements SocketEvents {
    readonly borrowsChunks = true

    constructor(readonly relay: Relay) {}

    data(chunk: Uint8Array): void {
      const relay = this.relay
      relay.#counted('out', chunk.byteLength)
      const client = relay.#client
      if (client && !relay.#clientClosed && !client.write(chunk)) relay.#backend?.pause()
    }

    drain(): void {
      this.relay.#client?.resume()
    }

    end(): void {
      this.relay.#endClient()
      this.relay.#maybeDone()
    }

    close(error?: unknown): void {
      const relay = this.relay
      relay.#backendClosed = true
      relay.#reason ??= error ? 'backend-reset' : 'done'
      const client = relay.#client
      if (client && !relay.#clientClosed) {
        // A backend that reset: the client learns at once. One that closed: it gets what was
        // sent, then a FIN (end), and its own close follows.
        if (error) {
          // A destroyed socket reports nothing more (its close included).
          client.destroy()
          relay.#clientClosed = true
        } else relay.#endClient()
      }
      relay.#maybeDone()
    }
  }

  readonly #options: RelayOptions
  readonly #timers: RelayTimers | undefined
  #client: Socket | undefined
  #backend: Socket | undefined
  /** Client bytes that came before the backend was there (made for the first). */
  #early: Uint8Array[] | undefined
  #clientEnded = false
  /** The client was paused for its early bytes. */
  #clientPaused = false
  #clientClosed = false
  #backendClosed = false
  /** A FIN was sent to the client: `end()` once (a second one may cost the runtime an error). */
  #clientFinSent = false
  /** A FIN was sent to the backend. */
  #backendFinSent = false
  #reason: CloseReason | undefined
  #bytesIn = 0
  #bytesOut = 0
  #lastActivity = 0
  #idleDeadline: Deadline | undefined
  #reported = false

  constructor(options: RelayOptions) {
    this.#options = options
    this.#timers = options.timers
  }

  /** Bytes from the client so far. */
  get bytesIn(): number {
    return this.#bytesIn
  }

  /** Bytes relayed so far, and the reason once there is one. */
  get stats(): RelayStats {
    return { bytesIn: this.#bytesIn, bytesOut: this.#bytesOut, reason: this.#reason ?? 'done' }
  }

  /**
   * Take the client connection; returns its events. Its first bytes before the backend is there
   * stop its reading until then.
   */
  attachClient(client: Socket): SocketEvents {
    this.#client = client
    this.#touch()
    return this.clientEvents
  }

  /** The client's events (what a listener's accept returns). */
  readonly clientEvents: SocketEvents = new Relay.#ClientSide(this)

  /**
   * The backend's events (what the connect call is given). Its chunks go to the client's `write`
   * or nowhere, so they are only borrowed.
   */
  readonly backendEvents: SocketEvents = new Relay.#BackendSide(this)

  /** Take the backend connection: the early client bytes go first, then both sides flow. */
  attachBackend(backend: Socket): void {
    if (this.#clientClosed) {
      backend.destroy()
      this.#backendClosed = true
      this.#maybeDone()
      return
    }
    this.#backend = backend
    let flowing = true
    const early = this.#early
    if (early !== undefined) {
      this.#early = undefined
      for (const chunk of early) flowing = backend.write(chunk)
    }
    if (this.#clientEnded) this.#endBackend()
    // Paused by early bytes: it reads on, unless they filled the backend (its drain resumes it).
    if (flowing && this.#clientPaused) this.#client?.resume()
    this.#touch()
  }

  /** No backend could be reached: the client is closed. */
  fail(): void {
    this.#reason ??= 'connect-failed'
    this.#backendClosed = true
    this.#client?.destroy()
    this.#clientClosed = true
    this.#maybeDone()
  }

  /** Close both sides now (shutdown after the drain timeout). */
  close(reason: CloseReason): void {
    this.#reason ??= reason
    this.#client?.destroy()
    this.#backend?.destroy()
    this.#clientClosed = true
    this.#backendClosed = true
    this.#maybeDone()
  }

  /** Bytes relayed one way: counted, told, and the idle deadline moves. */
  #counted(direction: 'in' | 'out', bytes: number): void {
    if (direction === 'in') this.#bytesIn += bytes
    else this.#bytesOut += bytes
    this.#options.onBytes?.(direction, bytes)
    this.#touch()
  }

  /** Send the client a FIN, once. */
  #endClient(): void {
    if (this.#clientFinSent || !this.#client) return
    this.#clientFinSent = true
    this.#client.end()
  }

  /** Send the backend a FIN, once. */
  #endBackend(): void {
    if (this.#backendFinSent || !this.#backend) return
    this.#backendFinSent = true
    this.#backend.end()
  }

  /** Activity: the idle deadline moves. The deadline is set again only when it comes early. */
  #touch(): void {
    this.#lastActivity = this.#now()
    if (this.#idleDeadline === undefined) this.#arm(this.#options.idleTimeout)
  }

  #now(): number {
    // Read once per socket event where the caller marks one (src/clock.ts).
    return this.#timers ? this.#timers.now() : wallClock()
  }

  /**
   * The idle deadline, `ms` from now. A whole idle timeout is a shared deadline; the rest of one
   * (a connection still active when its deadline came) is due at no shared duration, so it takes
   * a runtime timer of its own: once per idle period of a long-lived connection.
   */
  #arm(ms: number): void {
    const timers = this.#timers
    if (timers) {
      const handle = timers.setTimeout(this.#idleDeadlineCame, ms)
      this.#idleDeadline = { cancel: () => timers.clearTimeout(handle) }
    } else if (ms === this.#options.idleTimeout) {
      this.#idleDeadline = deadlineAfter(ms, this.#idleDeadlineCame)
    } else {
      const handle = setTimeout(this.#idleDeadlineCame, ms)
      this.#idleDeadline = { cancel: () => clearTimeout(handle) }
    }
  }

  readonly #idleDeadlineCame = (): void => {
    this.#idleDeadline = undefined
    if (this.#reported) return
    const idle = this.#now() - this.#lastActivity
    if (idle >= this.#options.idleTimeout) this.close('idle-timeout')
    else this.#arm(this.#options.idleTimeout - idle)
  }

  #maybeDone(): void {
    if (this.#reported) return
    if (!this.#clientClosed || !this.#backendClosed) return
    this.#reported = true
    this.#idleDeadline?.cancel()
    this.#idleDeadline = undefined
    this.#options.onEnd(this.stats)
  }
}
