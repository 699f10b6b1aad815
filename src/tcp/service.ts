/**
 * One TCP listener's service: for each accepted connection, pick a backend of the pool with its
 * strategy (the client's address is the only key), connect (a failure is retried on the next
 * candidate: nothing was sent yet), send the PROXY header when asked, and relay bytes both ways
 * until either side is done. Open connections count as the backend's load, so least-connections
 * counts connections and least-time learns connect times, as HAProxy's `mode tcp` does.
 */
import ipaddr from 'ipaddr.js'
import type { AccessLog } from '../access-log.ts'
import type { TcpListenerConfig } from '../config.ts'
import type { Connect, Socket, SocketEvents } from '../http1/socket.ts'
import { backendKey, type Metrics, type TcpCounters } from '../metrics.ts'
import type { BackendPool } from '../pool.ts'
import type { PickInput, Selector } from '../strategies/strategy.ts'
import type { Backend, Logger } from '../types.ts'
import { encodeProxyV1, encodeProxyV2, type ProxyEndpoint } from './proxy-protocol.ts'
import { Relay, type CloseReason, type RelayStats, type RelayTimers } from './relay.ts'

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

const NO_FIELDS = { header: () => null, cookie: () => undefined, path: '', query: '' }

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
 * The PROXY header's destination: the listener's address and port. A listener on a host name
 * (`localhost`) has no address to tell, and the encoders take IP addresses only: the unspecified
 * address of the client's family stands in for it.
 */
function destinationOf(listen: { host: string; port: number }, source: string): ProxyEndpoint {
  const { host, port } = listen
  if (ipaddr.IPv4.isValidFourPartDecimal(host) || ipaddr.IPv6.isValid(host)) {
    return { address: host, port }
  }
  const ipv6 = source.includes(':') && !source.startsWith('::ffff:')
  return { address: ipv6 ? '::' : '0.0.0.0', port }
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
  readonly #options: TcpServiceOptions
  readonly #open = new Map<Relay, string | undefined>()
  #config: TcpListenerConfig

  constructor(options: TcpServiceOptions) {
    this.#options = options
    this.#config = options.config
  }

  /** The listener's config in force. */
  get config(): TcpListenerConfig {
    return this.#config
  }

  /** Connections open now. */
  get size(): number {
    return this.#open.size
  }

  /** Take a new config for this listener (a reload): new connections follow it. */
  configure(config: TcpListenerConfig): void {
    this.#config = config
  }

  /** Accept one connection (what the runtime's listener calls). */
  readonly accept = (client: Socket): SocketEvents => {
    const config = this.#config
    const counters = this.#options.metrics?.tcp.listener(config.name)
    const startedAt = Date.now()
    const now = this.#options.timers?.now ?? (() => performance.now())
    const started = now()
    let backend: Backend | undefined
    let connectMs: number | undefined
    let pool: TcpPool | undefined
    /** The chosen backend's counters, once there is one. */
    let target: TcpCounters | undefined
    const relay: Relay = new Relay({
      idleTimeout: config.idleTimeout,
      timers: this.#options.timers,
      onBytes: counters
        ? (direction, bytes) => {
            if (direction === 'in') {
              counters.bytesIn += bytes
              if (target) target.bytesIn += bytes
            } else {
              counters.bytesOut += bytes
              if (target) target.bytesOut += bytes
            }
          }
        : undefined,
      onEnd: (stats) => {
        this.#open.delete(relay)
        if (counters) counters.open--
        if (backend && pool) {
          pool.pool.release(backend)
          if (target) target.open--
          if (stats.reason === 'backend-reset') pool.pool.recordOutcome(backend, 'reset')
        }
        this.#record(client, pool?.name, backend, stats, startedAt, connectMs, now() - started)
      },
    })
    if (counters) {
      counters.total++
      counters.open++
    }
    const events = relay.attachClient(client)
    if (this.#open.size >= config.maxConnections) {
      if (counters) counters.refused++
      relay.close('refused')
      return events
    }
    this.#open.set(relay, undefined)
    const chosen = (picked: Backend, from: TcpPool, ms: number): boolean => {
      // Ended while connecting (closeAll, the idle timeout): nobody takes the backend.
      if (!this.#open.has(relay)) return false
      backend = picked
      pool = from
      connectMs = ms
      this.#open.set(relay, picked.id)
      // The client's bytes so far (sent before the connect) go to this backend first.
      target = this.#options.metrics?.tcp.backend(backendKey(from.name, picked.id))
      if (target) target.bytesIn += relay.stats.bytesIn
      return true
    }
    void this.#connect(client, relay, chosen).then((connected) => {
      if (connected) return
      if (counters) counters.refused++
      relay.fail()
    })
    return events
  }

  /** Close every open connection (shutdown, once the grace period is over). */
  closeAll(reason: CloseReason = 'shutdown'): number {
    const open = [...this.#open.keys()]
    for (const relay of open) relay.close(reason)
    return open.length
  }

  /** Close the connections relayed to one backend (it was removed). */
  closeBackend(id: string): void {
    for (const [relay, backendId] of [...this.#open]) if (backendId === id) relay.close('shutdown')
  }

  /** Try the candidates in order; the first that connects takes the connection. */
  async #connect(
    client: Socket,
    relay: Relay,
    chosen: (backend: Backend, pool: TcpPool, connectMs: number) => boolean,
  ): Promise<boolean> {
    const pool = this.#options.pool()
    if (!pool) return false
    const input: PickInput = { clientIp: client.remoteAddress, ...NO_FIELDS }
    const tried = new Set<string>()
    const candidates = [...pool.selector.candidates(input, pool.pool)]
    for (const backend of [...candidates, ...pool.pool.standby()]) {
      if (tried.has(backend.id)) continue
      tried.add(backend.id)
      if (pool.pool.tryAcquire(backend) !== 'ok') continue
      const target = this.#options.metrics?.tcp.backend(backendKey(pool.name, backend.id))
      const startedAt = pool.pool.now()
      const socket = await this.#open1(backend, relay, pool.connectTimeout)
      if (!socket) {
        pool.pool.release(backend)
        pool.pool.recordOutcome(backend, 'connect')
        if (target) target.connectFailures++
        const listener = this.#options.metrics?.tcp.listener(this.#config.name)
        if (listener) listener.connectFailures++
        this.#options.logger.warn('tcp connect failed', {
          listener: this.#config.name,
          backend: backend.id,
        })
        continue
      }
      const connectMs = pool.pool.now() - startedAt
      pool.pool.observeLatency(backend, connectMs)
      pool.pool.recordOutcome(backend, 'success')
      // Chosen before attached: a client gone meanwhile ends the relay at once, and the end
      // must give the backend's slot back. A relay that ended already gives it back here.
      if (!chosen(backend, pool, connectMs)) {
        socket.destroy()
        pool.pool.release(backend)
        return true
      }
      if (target) {
        target.total++
        target.open++
      }
      const proxy = this.#config.sendProxy
      if (proxy) {
        const source = { address: client.remoteAddress ?? '0.0.0.0', port: client.remotePort ?? 0 }
        const info = { source, destination: destinationOf(this.#config.listen, source.address) }
        socket.write(proxy === 'v2' ? encodeProxyV2(info) : encodeProxyV1(info))
      }
      relay.attachBackend(socket)
      return true
    }
    return false
  }

  /** One connection attempt, bounded by the connect timeout; `undefined` when it fails. */
  #open1(backend: Backend, relay: Relay, timeout: number): Promise<Socket | undefined> {
    const { host, port } = addressOf(backend)
    return new Promise((resolve) => {
      // Settled by the first of the connect, its failure and the timeout. Events of an attempt
      // given up on (timed out) must not reach the relay.
      let abandoned = false
      let settled = false
      const forward = relay.backendEvents
      const gated: SocketEvents = {
        borrowsChunks: forward.borrowsChunks,
        data: (chunk) => abandoned || forward.data(chunk),
        drain: () => abandoned || forward.drain(),
        end: () => abandoned || forward.end(),
        close: (error) => abandoned || forward.close(error),
      }
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        abandoned = true
        resolve(undefined)
      }, timeout)
      this.#options.connect(host, port, gated).then(
        (socket) => {
          // Too late: the attempt was given up on.
          if (settled) return socket.destroy()
          settled = true
          clearTimeout(timer)
          resolve(socket)
        },
        () => {
          if (settled) return
          settled = true
          abandoned = true
          clearTimeout(timer)
          resolve(undefined)
        },
      )
    })
  }

  #record(
    client: Socket,
    pool: string | undefined,
    backend: Backend | undefined,
    stats: RelayStats,
    time: number,
    connectMs: number | undefined,
    durationMs: number,
  ): void {
    this.#options.accessLog?.logConnection({
      time,
      listener: this.#config.name,
      client: client.remoteAddress,
      pool: pool ?? this.#config.pool,
      backend: backend?.id,
      bytesIn: stats.bytesIn,
      bytesOut: stats.bytesOut,
      connectMs,
      durationMs,
      reason: stats.reason,
    })
  }
}
