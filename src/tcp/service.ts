/**
 * One TCP listener's service: for each accepted connection, pick a backend of the pool with its
 * strategy (the client's address is the only key), connect (a failure is retried on the next
 * candidate: nothing was sent yet), send the PROXY header when asked, and relay bytes both ways
 * until either side is done. Open connections count as the backend's load, so least-connections
 * counts connections and least-time learns connect times, as HAProxy's `mode tcp` does.
 */
import ipaddr from 'ipaddr.js'
import type { AccessLog } from '../access-log.ts'
import { enterEvent, leaveEvent, monotonicClock, wallClock } from '../clock.ts'
import type { TcpListenerConfig } from '../config.ts'
import { deadlineAfter, type Deadline } from '../deadlines.ts'
import type { Connect, Socket, SocketEvents } from '../socket.ts'
import { backendKey, type Metrics, type TcpCounters } from '../metrics.ts'
import type { BackendPool } from '../pool.ts'
import type { PickInput, Selector } from '../strategies/strategy.ts'
import { LinkedSet, type Linked } from '../linked-set.ts'
import type { Backend, Logger } from '../types.ts'
import { encodeProxyV1, encodeProxyV2, type ProxyEndpoint } from './proxy-protocol.ts'
import {
  Relay,
  type CloseReason,
  type RelayOptions,
  type RelayStats,
  type RelayTimers,
} from './relay.ts'

/** What the service needs of the pool behind it; read per connection (a reload may replace it). */
export interface TcpPool {
  readonly name: string
  readonly pool: BackendPool
  readonly selector: Selector
  /** Upstream connect timeout, in ms. */
  readonly connectTimeout: number
}

/** Options for {@link TcpService}. */
export interface TcpServiceOptions {
  config: TcpListenerConfig
  /** The pool in force, or `undefined` when it left the config. */
  pool: () => TcpPool | undefined
  connect: Connect
  logger: Logger
  metrics?: Metrics
  accessLog?: AccessLog
  timers?: RelayTimers
}

/** The host and port of a `tcp://host:port` backend (IPv6 without brackets). */
export function addressOf(backend: Backend): { host: string; port: number } {
  const rest = backend.url.slice(backend.url.indexOf('//') + 2)
  const colon = rest.lastIndexOf(':')
  const host = rest.slice(0, colon)
  return {
    host: host.startsWith('[') ? host.slice(1, -1) : host,
    port: Number(rest.slice(colon + 1)),
  }
}

/**
 * The PROXY header's destination: where the client reached fulcrum, as HAProxy sends it (the
 * accepted socket's own address, so the interface's under a listener on `0.0.0.0` or `::`; the
 * destination of the header fulcrum accepted, behind another balancer). When the runtime does not
 * tell it: the listener's address, or, on a host name (`localhost`), which the encoders cannot
 * take, the unspecified address of the client's family.
 */
function destinationOf(
  client: Socket,
  listen: { host: string; port: number },
  source: string,
): ProxyEndpoint {
  const { localAddress, localPort } = client
  if (localAddress && localPort !== undefined) return { address: localAddress, port: localPort }
  const { host, port } = listen
  if (ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host)) {
    return { address: host, port }
  }
  const ipv6 = source.includes(':') && !source.startsWith('::ffff:')
  return { address: ipv6 ? '::' : '0.0.0.0', port }
}

/**
 * What an attempt needs of a backend, worked out once per backend and pool (not per connection):
 * where it listens, and its counters.
 */
interface Target {
  readonly backend: Backend
  /** The pool's name it was worked out for (a reload may move a backend to another pool). */
  readonly pool: string
  readonly host: string
  readonly port: number
  /** The backend's counters. */
  readonly counters: TcpCounters | undefined
}

/** What a listener's connections share: its options, its config in force, the open ones. */
interface Listener {
  readonly options: TcpServiceOptions
  config: TcpListenerConfig
  readonly open: LinkedSet<Connection>
  /** By backend: see {@link Target}. */
  readonly targets: WeakMap<Backend, Target>
}

/** The target of `backend` in `pool`, from the listener's cache. */
function targetOf(listener: Listener, pool: TcpPool, backend: Backend): Target {
  const known = listener.targets.get(backend)
  if (known !== undefined && known.pool === pool.name) return known
  const { host, port } = addressOf(backend)
  const counters = listener.options.metrics?.tcp.backend(backendKey(pool.name, backend.id))
  const target: Target = { backend, pool: pool.name, host, port, counters }
  listener.targets.set(backend, target)
  return target
}

/**
 * A TCP listener's connections.
 *
 * @example
 * ```ts
 * const service = new TcpService({ config, pool: () => tcpPool, connect, logger })
 * await adapter.listen({ host, port }, service.accept)
 * ```
 */
export class TcpService {
  readonly #listener: Listener

  constructor(options: TcpServiceOptions) {
    this.#listener = {
      options,
      config: options.config,
      open: new LinkedSet(),
      targets: new WeakMap(),
    }
  }

  /** The listener's config in force. */
  get config(): TcpListenerConfig {
    return this.#listener.config
  }

  /** Connections open now. */
  get size(): number {
    return this.#listener.open.size
  }

  /** Take a new config for this listener (a reload): new connections follow it. */
  configure(config: TcpListenerConfig): void {
    this.#listener.config = config
  }

  /**
   * Accept one connection (what the runtime's listener calls). The clocks are read once for all
   * of it (src/clock.ts): the start, the idle and connect deadlines, the attempt's start.
   */
  readonly accept = (client: Socket): SocketEvents => {
    enterEvent()
    try {
      const listener = this.#listener
      const connection = new Connection(listener, client)
      const events = connection.relay.attachClient(client)
      if (listener.open.size >= connection.maxConnections) {
        if (connection.counters) connection.counters.refused++
        connection.relay.close('refused')
        return events
      }
      listener.open.add(connection)
      connection.connect()
      return events
    } finally {
      leaveEvent()
    }
  }

  /** Close every open connection (shutdown, once the grace period is over). */
  closeAll(reason: CloseReason = 'shutdown'): number {
    const open = this.#listener.open.toArray()
    for (const connection of open) connection.relay.close(reason)
    return open.length
  }

  /** Close the connections relayed to one backend (it was removed). */
  closeBackend(id: string): void {
    for (const connection of this.#listener.open.toArray()) {
      if (connection.backend?.id === id) connection.relay.close('shutdown')
    }
  }
}

/**
 * One accepted connection: its relay (whose options it is: no closures per connection), the
 * strategy's input (the client's address only), the backend it got, and its access-log line at
 * the end.
 */
class Connection implements RelayOptions, PickInput, Linked<Connection> {
  readonly #listener: Listener
  readonly #client: Socket
  readonly relay: Relay
  readonly idleTimeout: number
  readonly timers: RelayTimers | undefined
  readonly maxConnections: number
  /** The listener's counters. */
  readonly counters: TcpCounters | undefined
  readonly #now: () => number
  /** Wall-clock time of the accept, for the access log. */
  readonly #startedAt = wallClock()
  readonly #started: number
  /**
   * {@link PickInput.clientIp}, and the access log's client: asked of the socket at the accept,
   * while it is open (Bun's socket forgets its peer once closed).
   */
  readonly clientIp: string | undefined
  /** {@link PickInput}: a TCP connection has no path, query, headers or cookies. */
  readonly path = ''
  readonly query = ''
  /** The backend relayed to, once connected. */
  backend: Backend | undefined
  /** In the listener's open connections ({@link LinkedSet}), and its neighbours there. */
  linked = false
  prevLinked: Connection | undefined = undefined
  nextLinked: Connection | undefined = undefined
  #pool: TcpPool | undefined
  #connectMs: number | undefined
  /** The chosen backend's counters, once there is one. */
  #target: TcpCounters | undefined
  /** The backends to try in order, and the next one's index. */
  #order: Backend[] = []
  #next = 0

  constructor(listener: Listener, client: Socket) {
    const { options, config } = listener
    this.#listener = listener
    this.#client = client
    this.clientIp = client.remoteAddress
    this.idleTimeout = config.idleTimeout
    this.timers = options.timers
    this.maxConnections = config.maxConnections
    this.counters = options.metrics?.tcp.listener(config.name)
    this.#now = options.timers?.now ?? monotonicClock
    this.#started = this.#now()
    if (this.counters) {
      this.counters.total++
      this.counters.open++
    }
    this.relay = new Relay(this)
  }

  header(): null {
    return null
  }

  cookie(): undefined {
    return undefined
  }

  /** {@link RelayOptions.onBytes}: the listener's and the backend's byte counts. */
  onBytes(direction: 'in' | 'out', bytes: number): void {
    const counters = this.counters
    if (!counters) return
    const target = this.#target
    if (direction === 'in') {
      counters.bytesIn += bytes
      if (target) target.bytesIn += bytes
    } else {
      counters.bytesOut += bytes
      if (target) target.bytesOut += bytes
    }
  }

  /** {@link RelayOptions.onEnd}: the backend's slot back, the access-log line. */
  onEnd(stats: RelayStats): void {
    this.#listener.open.delete(this)
    if (this.counters) this.counters.open--
    const { backend } = this
    const pool = this.#pool
    if (backend && pool) {
      pool.pool.release(backend)
      if (this.#target) this.#target.open--
      if (stats.reason === 'backend-reset') pool.pool.recordOutcome(backend, 'reset')
    }
    const config = this.#listener.config
    this.#listener.options.accessLog?.logConnection({
      time: this.#startedAt,
      listener: config.name,
      client: this.clientIp,
      pool: pool?.name ?? config.pool,
      backend: backend?.id,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      connectMs: this.#connectMs,
      durationMs: this.#now() - this.#started,
      reason: stats.reason,
    })
  }

  /** Try the candidates in order; the first that connects takes the connection. */
  connect(): void {
    const pool = this.#listener.options.pool()
    if (!pool) return this.#refuse()
    const order = [...pool.selector.candidates(this, pool.pool)]
    // The backups after them, each backend once.
    for (const backend of pool.pool.standby()) {
      if (!order.some((candidate) => candidate.id === backend.id)) order.push(backend)
    }
    this.#order = order
    this.#tryNext(pool)
  }

  /** Connect to the next candidate that has a slot; no more candidates refuse the client. */
  #tryNext(pool: TcpPool): void {
    while (this.#next < this.#order.length) {
      const backend = this.#order[this.#next++]!
      if (pool.pool.tryAcquire(backend) !== 'ok') continue
      new Attempt(this, pool, targetOf(this.#listener, pool, backend)).start(
        this.#listener.options.connect,
      )
      return
    }
    this.#refuse()
  }

  #refuse(): void {
    if (this.counters) this.counters.refused++
    this.relay.fail()
  }

  /** An attempt failed (refused, reset, timed out): the next candidate is tried. */
  failed(attempt: Attempt): void {
    const { pool } = attempt
    const { backend, counters } = attempt.target
    pool.pool.release(backend)
    pool.pool.recordOutcome(backend, 'connect')
    if (counters) counters.connectFailures++
    if (this.counters) this.counters.connectFailures++
    const { options, config } = this.#listener
    options.logger.warn('tcp connect failed', { listener: config.name, backend: backend.id })
    this.#tryNext(pool)
  }

  /** An attempt connected: the backend takes the connection, unless it ended meanwhile. */
  connected(attempt: Attempt, socket: Socket): void {
    const { pool } = attempt
    const { backend, counters } = attempt.target
    const now = pool.pool.now()
    const connectMs = now - attempt.startedAt
    pool.pool.observeLatency(backend, connectMs, now)
    pool.pool.recordOutcome(backend, 'success', now)
    // Ended while connecting (closeAll, the idle timeout): nobody takes the backend, and its
    // slot goes back here. Chosen before attached: a client gone meanwhile ends the relay at
    // once, and that end gives the slot back.
    if (!this.linked) {
      socket.destroy()
      pool.pool.release(backend)
      return
    }
    this.backend = backend
    this.#pool = pool
    this.#connectMs = connectMs
    this.#target = counters
    // The client's bytes so far (sent before the connect) go to this backend first.
    if (counters) {
      counters.bytesIn += this.relay.bytesIn
      counters.total++
      counters.open++
    }
    const { sendProxy, listen } = this.#listener.config
    if (sendProxy) {
      const client = this.#client
      const source = { address: client.remoteAddress ?? '0.0.0.0', port: client.remotePort ?? 0 }
      const info = { source, destination: destinationOf(client, listen, source.address) }
      socket.write(sendProxy === 'v2' ? encodeProxyV2(info) : encodeProxyV1(info))
    }
    this.relay.attachBackend(socket)
  }
}

/**
 * One connection attempt to a backend, bounded by the pool's connect timeout (a shared deadline
 * of src/deadlines.ts: no runtime timer per attempt): settled by the first of the connect, its
 * failure and the deadline. It is the socket's events, handed on to
 * the relay unless the attempt was given up on (timed out): those must not reach it.
 */
class Attempt implements SocketEvents {
  readonly borrowsChunks = true
  /** The pool's monotonic time at the start, for the connect time. */
  readonly startedAt: number
  #settled = false
  #abandoned = false
  #deadline: Deadline | undefined

  constructor(
    readonly connection: Connection,
    readonly pool: TcpPool,
    readonly target: Target,
  ) {
    this.startedAt = pool.pool.now()
  }

  start(connect: Connect): void {
    this.#deadline = deadlineAfter(this.pool.connectTimeout, this)
    connect(this.target.host, this.target.port, this).then(this.#opened, this.#refused)
  }

  /** The connect deadline passed first: the next candidate is tried. */
  expired(): void {
    if (this.#settled) return
    this.#settled = true
    this.#abandoned = true
    this.connection.failed(this)
  }

  /** The connect failed first: as {@link expired}, its deadline forgotten. */
  readonly #refused = (): void => {
    this.#deadline?.cancel()
    this.expired()
  }

  /** Connected: the relay takes the socket, its clocks read once (src/clock.ts). */
  readonly #opened = (socket: Socket): void => {
    // Too late: the attempt was given up on.
    if (this.#settled) return socket.destroy()
    this.#settled = true
    this.#deadline?.cancel()
    enterEvent()
    try {
      this.connection.connected(this, socket)
    } finally {
      leaveEvent()
    }
  }

  data(chunk: Uint8Array): void {
    if (!this.#abandoned) this.connection.relay.backendEvents.data(chunk)
  }

  drain(): void {
    if (!this.#abandoned) this.connection.relay.backendEvents.drain()
  }

  end(): void {
    if (!this.#abandoned) this.connection.relay.backendEvents.end()
  }

  close(error?: unknown): void {
    if (!this.#abandoned) this.connection.relay.backendEvents.close(error)
  }
}
