/**
 * fulcrum's HTTP/1.1 server: takes connections from a runtime's listener (through the socket
 * contract of socket.ts) and serves each with a {@link ServerConnection}. It owns what spans
 * connections: the connection cap, the deadlines (one sweep instead of a timer per request), and
 * the graceful drain.
 */
import { LinkedSet } from '../linked-set.ts'
import { wallClock } from '../clock.ts'
import { ServerConnection } from './connection.ts'
import type {
  Http1Handler,
  Http1Limits,
  ServerState,
  Tunnel,
  UpgradeHandler,
} from './server-state.ts'
import type { Accept } from '../socket.ts'

export type { Http1Handler, Http1Limits, UpgradeHandler } from './server-state.ts'

/** Options for {@link createHttp1Server}. */
export interface Http1ServerOptions {
  handler: Http1Handler
  /** Upgrade requests (WebSocket): without it, they are ordinary requests. */
  upgrade?: UpgradeHandler
  /** `https` on a TLS listener: the scheme of the URLs the app sees. */
  scheme: 'http' | 'https'
  limits: Http1Limits
  /** Told about a handler that threw (the client gets 500). */
  onError?: (error: unknown) => void
  /** The clock. @default wallClock (Date.now, read once per socket event: ../clock.ts) */
  now?: () => number
}

/** A running HTTP/1.1 server. */
export interface Http1Server {
  /** Give this to the runtime's listener. */
  readonly accept: Accept
  /** Open client connections (tunnels included). */
  readonly connections: number
  /** New limits, for the connections to come (a reload). */
  configure(limits: Http1Limits): void
  /**
   * Drain: every response from now on says `Connection: close` (RFC 9112 §9.6), idle
   * connections close at once, busy ones after their response. Resolves when all are gone, or
   * after `timeout` ms (then the rest are cut off).
   */
  drain(timeout: number): Promise<void>
}

/** How often deadlines are checked, at most (a quarter of the shortest, at least every 250 ms). */
function sweepInterval(limits: Http1Limits): number {
  return Math.max(50, Math.min(250, Math.floor(Math.min(limits.headerTimeout, 1000) / 4)))
}

/**
 * Build the server.
 *
 * @example
 * ```ts
 * const server = createHttp1Server({ handler: app.fetch, scheme: 'http', limits })
 * await listen({ host: '0.0.0.0', port: 8080 }, server.accept) // the runtime's listener
 * ```
 */
export function createHttp1Server(options: Http1ServerOptions): Http1Server {
  const open = new LinkedSet<ServerConnection>()
  const tunnels = new Set<Tunnel>()
  const now = options.now ?? wallClock
  let limits = options.limits
  let draining = false
  let drained: (() => void) | undefined
  let timer: ReturnType<typeof setInterval> | undefined

  const settleDrain = () => {
    if (draining && open.size === 0 && tunnels.size === 0) drained?.()
  }

  const state: ServerState = {
    handler: options.handler,
    upgrade: options.upgrade,
    scheme: options.scheme,
    get limits() {
      return limits
    },
    get draining() {
      return draining
    },
    now,
    onError: options.onError ?? (() => {}),
    forget(connection) {
      open.delete(connection as ServerConnection)
      if (open.size === 0 && timer !== undefined) {
        clearInterval(timer)
        timer = undefined
      }
      settleDrain()
    },
    adopt(tunnel) {
      tunnels.add(tunnel)
      void tunnel.closed.then(() => {
        tunnels.delete(tunnel)
        settleDrain()
      })
    },
  }

  const sweep = () => {
    const at = now()
    for (let connection = open.first; connection;) {
      // Expiring closes the connection, which leaves the set: its neighbour is taken first.
      const next = connection.nextLinked
      if (connection.deadline !== 0 && connection.deadline <= at) connection.expire()
      connection = next
    }
  }

  const server: Http1Server = {
    get connections() {
      return open.size + tunnels.size
    },
    configure(next) {
      limits = next
    },
    accept(socket) {
      const connection = new ServerConnection(state, socket)
      if (draining) {
        connection.refuse(503, 'retry-after: 1\r\n')
        return connection
      }
      if (open.size + tunnels.size >= limits.maxConnections) {
        // Make room by closing the oldest idle keep-alive connection (the set is oldest first),
        // as nginx reuses idle connections when `worker_connections` run out.
        let freed = false
        for (let other = open.first; other; other = other.nextLinked) {
          if (other.idle) {
            other.drainNow()
            freed = true
            break
          }
        }
        if (!freed) {
          connection.refuse(503, 'retry-after: 1\r\n')
          return connection
        }
      }
      open.add(connection)
      if (timer === undefined) {
        timer = setInterval(sweep, sweepInterval(limits))
        ;(timer as { unref?: () => void }).unref?.()
      }
      return connection
    },
    drain(timeout) {
      draining = true
      const done = new Promise<void>((resolve) => {
        drained = resolve
      })
      for (const connection of open.toArray()) connection.drainNow()
      settleDrain()
      let cut: ReturnType<typeof setTimeout> | undefined
      const deadline = new Promise<void>((resolve) => {
        cut = setTimeout(() => {
          for (const tunnel of tunnels) tunnel.destroy()
          for (const connection of open.toArray()) connection.expire()
          resolve()
        }, timeout)
      })
      return Promise.race([done, deadline]).finally(() => clearTimeout(cut))
    },
  }
  return server
}
