/**
 * fulcrum on Deno: `deno task start [options]` (explicit permissions, never -A).
 * Serves with `Deno.serve` (TLS built in) and forwards with fulcrum's HTTP/1.1 client on
 * `Deno.connect` sockets.
 */
import process from 'node:process'
import { isWebSocketUpgrade } from '../src/edge/websocket.ts'
import { createH1Fetch } from '../src/http1/client.ts'
import type { Socket, SocketEvents } from '../src/http1/socket.ts'
import { createNodeHttpFetch } from './shared/node-http-fetch.ts'
import { watchUpstreamBodyAsStream } from '../src/http1/body.ts'
import { DENO_SNI, denoServe } from './shared/deno-serve.ts'
import { bridge, connectBackend, type WebSocketOpener } from './shared/ws-bridge.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const deno: RuntimeAdapter = {
  name: 'deno',
  // Deno's fetch is not byte-transparent (see src/http1/client.ts); its node:http client is slow:
  // fulcrum's HTTP/1.1 client on Deno.connect; node:http for https: backends.
  createFetch: (config) =>
    createH1Fetch({
      connect: connectDeno,
      connectTimeout: config.timeouts.connect,
      fallback: createNodeHttpFetch({ connectTimeout: config.timeouts.connect }),
    }),
  watchBody: watchUpstreamBodyAsStream,
  clientAddress: (_request, env) => {
    const addr = (env as Deno.ServeHandlerInfo<Deno.NetAddr>).remoteAddr
    return addr?.hostname
  },
  serve: async ({ handler, host, port, tls, config, websocket }) => {
    // Deno.serve, or with several certificates the same server on a listener that picks one by
    // SNI (see deno-serve.ts). h2 by ALPN either way. Deno has no header deadline
    // (denoland/deno#3515): timeouts.clientHeaders is not enforced.
    const server = denoServe({
      hostname: host,
      port,
      tls,
      handler: (request, info) =>
        websocket && isWebSocketUpgrade(request)
          ? upgrade(request, info, websocket, config.timeouts.connect)
          : handler(request, info),
    })
    return {
      port: server.port,
      setTls: tls ? async (material) => server.setTls(material) : undefined,
      close: async () => {
        // Deno's shutdown closes upgraded WebSockets at once (1001): let them have the grace
        // period first (fulcrum closes them itself a second before it ends).
        await bridges.idle()
        await server.shutdown()
      },
    }
  },
  sni: DENO_SNI,
}

/** Bytes read from an upstream connection at a time. */
const READ_SIZE = 64 * 1024
/** Bytes queued for an upstream connection before the writer is asked to wait for `drain`. */
const WRITE_HIGH_WATER = 64 * 1024

/**
 * A `Deno.connect` connection on the engine's socket contract (src/http1/socket.ts): a read loop
 * and a write queue.
 */
async function connectDeno(hostname: string, port: number, events: SocketEvents): Promise<Socket> {
  const conn = await Deno.connect({ hostname, port })
  conn.setNoDelay(true)
  /** Closed here or gone: nothing more is reported. */
  let closed = false
  /** The peer's FIN arrived. */
  let readEnded = false
  /** `end()` was asked for: the FIN follows what is queued. */
  let ending = false
  let writeEnded = false
  let paused: PromiseWithResolvers<void> | undefined
  const close = (): boolean => {
    if (closed) return false
    closed = true
    paused?.resolve()
    try {
      conn.close()
    } catch {
      // Already closed by the peer.
    }
    return true
  }
  /** The connection is gone: an error, or both sides ended (not reported when closed here). */
  const ended = (error?: unknown) => {
    if (close()) events.close(error)
  }
  void (async () => {
    const buffer = new Uint8Array(READ_SIZE)
    try {
      for (;;) {
        if (paused) await paused.promise
        if (closed) return
        const read = await conn.read(buffer)
        if (read === null) break
        // A copy: the buffer is read into again while the bytes may still be queued.
        events.data(buffer.slice(0, read))
      }
      if (closed) return
      readEnded = true
      events.end()
      if (writeEnded) ended()
    } catch (error) {
      ended(error)
    }
  })()
  const queue: Uint8Array[] = []
  let queuedBytes = 0
  let waiting = false
  const writeAll = async () => {
    try {
      while (queue.length > 0 && !closed) {
        const bytes = queue[0]!
        const written = await conn.write(bytes)
        if (written < bytes.byteLength) queue[0] = bytes.subarray(written)
        else queue.shift()
        queuedBytes -= written
      }
      if (closed) return
      if (ending && !writeEnded) {
        writeEnded = true
        await conn.closeWrite()
        if (readEnded) ended()
        return
      }
    } catch (error) {
      return ended(error)
    }
    if (waiting) {
      waiting = false
      events.drain()
    }
  }
  return {
    write(bytes) {
      if (closed || ending) return true
      queue.push(bytes)
      queuedBytes += bytes.byteLength
      if (queue.length === 1) void writeAll()
      if (queuedBytes < WRITE_HIGH_WATER) return true
      waiting = true
      return false
    },
    end: () => {
      if (closed || ending) return
      ending = true
      if (queue.length === 0) void writeAll()
    },
    destroy: () => void close(),
    pause: () => {
      paused ??= Promise.withResolvers()
    },
    resume: () => {
      const wake = paused
      paused = undefined
      wake?.resolve()
    },
    remoteAddress: hostname,
    remotePort: port,
    encrypted: false,
  }
}

/** The bridged WebSockets open in this process. */
const bridges = (() => {
  let open = 0
  const waiters: (() => void)[] = []
  return {
    add(): () => void {
      open++
      let counted = true
      return () => {
        if (!counted) return
        counted = false
        if (--open === 0) for (const wake of waiters.splice(0)) wake()
      }
    },
    idle: (): Promise<void> =>
      open === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve)),
  }
})()

/**
 * A WebSocket handshake: the backend first (so that its subprotocol goes into the 101), then
 * Deno's server WebSocket, bridged to it.
 */
async function upgrade(
  request: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  open: WebSocketOpener,
  connectTimeout: number,
): Promise<Response> {
  const route = await open(request, info)
  if (route instanceof Response) return route
  const options = { connectTimeout, clientCodes: 'api' } as const
  let backend: WebSocket
  try {
    backend = await connectBackend(route, options)
  } catch {
    route.end('connect')
    return Response.json({ error: 'Upstream failed', requestId: route.requestId }, { status: 502 })
  }
  let upgraded: Deno.WebSocketUpgrade
  try {
    upgraded = Deno.upgradeWebSocket(request)
  } catch (error) {
    backend.close()
    route.end('success')
    return Response.json(
      {
        error: `Invalid WebSocket handshake: ${(error as Error).message}`,
        requestId: route.requestId,
      },
      { status: 400 },
    )
  }
  const { socket, response } = upgraded
  // Set here rather than through `protocol`: Deno matches that against the offer split on ", "
  // only, and refuses `a,b`.
  if (backend.protocol) response.headers.set('sec-websocket-protocol', backend.protocol)
  socket.binaryType = 'arraybuffer'
  const relay = bridge(route, backend, options)
  const done = bridges.add()
  socket.onopen = () => relay.clientOpened(socket)
  socket.onmessage = (event) => relay.fromClient(event.data)
  socket.onclose = (event) => {
    done()
    relay.clientClosed(event.code, event.reason)
  }
  socket.onerror = () => {}
  if (route.setCookie) response.headers.append('set-cookie', route.setCookie)
  return response
}

await startFulcrum(deno, process.argv.slice(2))
