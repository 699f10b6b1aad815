/**
 * Serve a handler on a runtime's listener through fulcrum's HTTP/1.1 engine (src/http1), the one
 * HTTP/1.1 path on every runtime; connections that chose h2 by ALPN go to the runtime's own
 * HTTP/2 server where it has one.
 */
import type { Config } from '../../src/config.ts'
import type { WebSocketRoute } from '../../src/websocket.ts'
import { createHttp1Server, type Http1Limits } from '../../src/http1/server.ts'
import { createUpgradeHandler } from '../../src/http1/upgrade.ts'
import { acceptProxy } from '../../src/tcp/proxy-accept.ts'
import type { RuntimeAdapter } from '../adapter.ts'
import type { TlsMaterial } from '../tls/certs.ts'

/** A request handler, as the engine (and the runtime's HTTP/2 server) calls it. */
export type Handler = (request: Request, env: unknown) => Response | Promise<Response>

/** A listening server. */
export interface RunningServer {
  readonly port: number
  /**
   * Stop accepting, tell keep-alive clients to go (`Connection: close`), let in-flight requests
   * finish within `grace` ms, then close what is left.
   */
  close(grace?: number): Promise<void>
  /** Open client connections. */
  connections(): number
  /** Serve new certificates from the next handshake on (TLS listeners). */
  setTls?(material: TlsMaterial): Promise<void>
  /** New limits from a reloaded config, for the connections to come. */
  configure(config: Config): void
}

/** What {@link serveHttp} serves. */
export interface ServeOptions {
  handler: Handler
  host: string
  port: number
  tls?: TlsMaterial
  config: Config
  /** WebSocket handshakes on this listener: the route to tunnel to, or the answer. */
  websocket?: (request: Request, env: unknown) => Promise<WebSocketRoute | Response>
  /** Offer h2 by ALPN on a TLS listener (where the runtime has an HTTP/2 server). */
  http2?: boolean
  /**
   * Read a PROXY protocol header (v1 or v2) at the start of each connection, from these trusted
   * addresses only; any other peer is closed unread (src/tcp/proxy-accept.ts). Plain listeners
   * only: the header comes before a TLS handshake, which the runtime's TLS server does first.
   * @default `config.listen.acceptProxy` on the public listener (the one with `websocket`), else
   *   none
   */
  acceptProxy?: { trusted: readonly string[] } | false
}

/** The engine's limits from a config. */
export function http1Limits(config: Config): Http1Limits {
  return {
    // The edge counts the head against maxHeaderBytes exactly (431); the parser's bound is a
    // backstop just above it, so that the edge's answer is the one a client sees.
    maxHeadBytes: config.limits.maxHeaderBytes + 1024,
    headerTimeout: config.timeouts.clientHeaders,
    keepAliveTimeout: config.timeouts.clientKeepAlive,
    maxConnections: config.limits.maxConnections,
  }
}

/** Serve `options.handler` on the runtime's sockets through the engine. */
export async function serveHttp(
  runtime: RuntimeAdapter,
  options: ServeOptions,
): Promise<RunningServer> {
  const { config, tls, websocket } = options
  const engine = createHttp1Server({
    handler: options.handler,
    scheme: tls ? 'https' : 'http',
    limits: http1Limits(config),
    upgrade: websocket
      ? createUpgradeHandler({
          route: websocket,
          connect: runtime.connect,
          connectTimeout: config.timeouts.connect,
        })
      : undefined,
  })
  const proxy = options.acceptProxy ?? (websocket ? config.listen.acceptProxy : undefined)
  if (proxy && tls) {
    throw new Error(
      'listen.acceptProxy: not supported on a TLS listener ' +
        '(the PROXY header comes before the TLS handshake)',
    )
  }
  const accept = proxy ? acceptProxy(engine.accept, { trusted: proxy.trusted }) : undefined
  const listener = await runtime.listen(
    {
      host: options.host,
      port: options.port,
      tls,
      http2: tls && options.http2 ? { handler: options.handler } : undefined,
      reusePort: config.workers > 1,
    },
    accept ?? engine.accept,
  )
  return {
    port: listener.port,
    connections: () => engine.connections,
    setTls: tls && listener.setTls ? (material) => listener.setTls!(material) : undefined,
    configure: (next) => engine.configure(http1Limits(next)),
    close: async (grace = config.shutdownGrace) => {
      accept?.close()
      await Promise.all([listener.close(), engine.drain(grace), listener.closeHttp2?.()])
    },
  }
}
