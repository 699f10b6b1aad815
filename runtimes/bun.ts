/**
 * fulcrum on Bun: `bun run runtimes/bun.ts [options]`.
 * Serves with `Bun.serve` (TLS built in) and forwards with fulcrum's HTTP/1.1 client on
 * `Bun.connect` sockets.
 */
import type { Server, Socket, WebSocketHandler } from 'bun'
import process from 'node:process'
import type { Config } from '../src/config.ts'
import type { UpstreamFetch } from '../src/types.ts'
import { isWebSocketUpgrade } from '../src/edge/websocket.ts'
import { bunTls } from './shared/bun-tls.ts'
import { bridge, connectBackend, type Bridge, type WebSocketOpener } from './shared/ws-bridge.ts'
import type { TlsMaterial } from './shared/certs.ts'
import { createH1Fetch } from '../src/http1/client.ts'
import type { Socket as EngineSocket, SocketEvents } from '../src/http1/socket.ts'
import { createNodeHttpFetch } from './shared/node-http-fetch.ts'
import { closeConnection, startFulcrum, type RuntimeAdapter } from './shared/start.ts'
import { watchUpstreamBodyAsStream } from '../src/http1/body.ts'

/**
 * Upstream requests go through fulcrum's HTTP/1.1 client on `Bun.connect` sockets: Bun's fetch
 * is not transparent (it adds `User-Agent: Bun/…` and an any-type `Accept` to a request that
 * lacks them, oven-sh/bun#17012, and turns a leading `//` in the path into `/`), and its
 * `node:http` client is half as fast. `https:` backends take `node:http`, which sends exactly
 * what it is given.
 */
function createBunFetch(config: Config): UpstreamFetch {
  const connectTimeout = config.timeouts.connect
  return createH1Fetch({
    connect: connectBun,
    connectTimeout,
    fallback: createNodeHttpFetch({ connectTimeout }),
  })
}

/** A `Bun.connect` socket on the engine's socket contract (src/http1/socket.ts). */
async function connectBun(
  hostname: string,
  port: number,
  events: SocketEvents,
): Promise<EngineSocket> {
  // Bun writes what the kernel takes at once and leaves the rest to the caller: queued here
  // until `drain`.
  const queued: Uint8Array[] = []
  /** Destroyed here, or its close reported: nothing more is reported. */
  let gone = false
  /** `end()` was asked for while bytes were queued: the FIN follows them. */
  let ending = false
  const flush = (socket: Socket): boolean => {
    while (queued.length > 0) {
      const bytes = queued[0]!
      const written = socket.write(bytes)
      if (written < 0) return false
      if (written < bytes.byteLength) {
        queued[0] = bytes.subarray(written)
        return false
      }
      queued.shift()
    }
    return true
  }
  const closed = (error?: unknown) => {
    if (gone) return
    gone = true
    events.close(error)
  }
  const socket = await Bun.connect({
    hostname,
    port,
    socket: {
      data: (_socket, chunk) => {
        if (!gone) events.data(chunk)
      },
      drain: (socket) => {
        if (!flush(socket) || gone) return
        if (ending) socket.end()
        else events.drain()
      },
      end: () => {
        if (!gone) events.end()
      },
      close: (_socket, error) => closed(error),
      error: (_socket, error) => closed(error),
    },
  })
  return {
    write(bytes) {
      if (gone || ending) return true
      if (queued.length === 0) {
        const written = socket.write(bytes)
        if (written === bytes.byteLength) return true
        queued.push(written > 0 ? bytes.subarray(written) : bytes)
      } else queued.push(bytes)
      return false
    },
    end: () => {
      if (gone || ending) return
      ending = true
      if (queued.length === 0) socket.end()
    },
    destroy: () => {
      if (gone) return
      gone = true
      queued.length = 0
      socket.end()
    },
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    remoteAddress: hostname,
    remotePort: port,
    encrypted: false,
  }
}

/**
 * Peer addresses by request: the edge and the proxy both ask, and `server.requestIP()` builds a
 * new object each time.
 */
const peers = new WeakMap<Request, string>()

const bun: RuntimeAdapter = {
  name: 'bun',
  createFetch: createBunFetch,
  watchBody: watchUpstreamBodyAsStream,
  workerArgs: () => ['run', process.argv[1]!],
  clientAddress: (request, env) => {
    let address = peers.get(request)
    if (address === undefined) {
      address = (env as Server<unknown>).requestIP(request)?.address
      if (address !== undefined) peers.set(request, address)
    }
    return address
  },
  serve: async ({ handler, host, port, tls, config, websocket }) => {
    // New certificates take a new listener on the same port (SO_REUSEPORT), and the old one
    // drains: Bun's server.reload() does not take TLS options.
    const listen = (material: TlsMaterial | undefined, at: number) =>
      Bun.serve({
        hostname: host,
        port: at,
        fetch: (request, server) =>
          websocket && isWebSocketUpgrade(request)
            ? upgrade(request, server, websocket, config.timeouts.connect)
            : answerClose(request, handler(request, server)),
        websocket: webSocketHandlers,
        idleTimeout: Math.min(255, Math.ceil(config.timeouts.clientKeepAlive / 1000)),
        // Bun answers 413 itself beyond 128 MiB by default; fulcrum's limit must come first.
        maxRequestBodySize:
          config.limits.maxBodySize > 0
            ? config.limits.maxBodySize + 1_048_576
            : Number.MAX_SAFE_INTEGER,
        ...(material ? { tls: bunTls(material), reusePort: true } : {}),
        // --workers: every worker binds the port; the kernel spreads the connections.
        ...(config.workers > 1 ? { reusePort: true } : {}),
      })
    let current = listen(tls, port)
    const actualPort = current.port ?? port
    const draining = new Set<Promise<void>>()
    return {
      port: actualPort,
      setTls: tls
        ? async (material) => {
            const previous = current
            current = listen(material, actualPort)
            const done = previous.stop()
            draining.add(done)
            void done.finally(() => draining.delete(done))
          }
        : undefined,
      close: async () => {
        await Promise.all([current.stop(), ...draining])
      },
    }
  },
}

/** One bridged WebSocket, as `ServerWebSocket.data`. */
interface Bridged {
  relay: Bridge
}

const options = (connectTimeout: number) => ({ connectTimeout, clientCodes: 'any' }) as const

/**
 * A WebSocket handshake: the backend first (so that its subprotocol goes into the 101), then
 * Bun's server WebSocket, bridged to it. Bun's `upgrade()` answers the handshake itself.
 */
async function upgrade(
  request: Request,
  server: Server<Bridged>,
  open: WebSocketOpener,
  connectTimeout: number,
): Promise<Response | undefined> {
  const route = await open(request, server)
  if (route instanceof Response) return route
  let backend: WebSocket
  try {
    backend = await connectBackend(route, options(connectTimeout))
  } catch {
    route.end('connect')
    return Response.json({ error: 'Upstream failed', requestId: route.requestId }, { status: 502 })
  }
  const headers: Record<string, string> = {}
  if (backend.protocol) headers['sec-websocket-protocol'] = backend.protocol
  if (route.setCookie) headers['set-cookie'] = route.setCookie
  const relay = bridge(route, backend, options(connectTimeout))
  if (server.upgrade(request, { data: { relay }, headers })) return undefined
  relay.clientClosed(1001, 'Upgrade failed')
  return Response.json({ error: 'Upgrade failed', requestId: route.requestId }, { status: 400 })
}

const webSocketHandlers: WebSocketHandler<Bridged> = {
  open: (ws) => ws.data.relay.clientOpened(ws),
  message: (ws, message) => ws.data.relay.fromClient(message as string | Uint8Array),
  close: (ws, code, reason) => ws.data.relay.clientClosed(code, reason),
  // The bridge relays whole messages: no per-message limit beyond Bun's own (16 MiB).
  perMessageDeflate: false,
}

await startFulcrum(bun, process.argv.slice(2))

/**
 * RFC 9112 §9.6: a server that closes after a request's `close` option SHOULD say so in its
 * response. Bun.serve closes without saying so, and clients such as wrk then count a read error.
 */
async function answerClose(
  request: Request,
  response: Response | Promise<Response>,
): Promise<Response> {
  const answer = await response
  return request.headers.get('connection')?.toLowerCase().includes('close')
    ? closeConnection(answer)
    : answer
}
