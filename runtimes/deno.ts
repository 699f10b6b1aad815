/**
 * fulcrum on Deno: `deno task start [options]` (explicit permissions, never -A).
 * Serves with `Deno.serve` (TLS built in) and forwards with Deno's `node:http` client.
 */
import process from 'node:process'
import { isWebSocketUpgrade } from '../src/edge/websocket.ts'
import { createNodeHttpFetch } from './shared/node-http-fetch.ts'
import { DENO_SNI, denoServe } from './shared/deno-serve.ts'
import { bridge, connectBackend, type WebSocketOpener } from './shared/ws-bridge.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const deno: RuntimeAdapter = {
  name: 'deno',
  // Deno's fetch is not byte-transparent (see node-http-fetch.ts): use Deno's node:http.
  createFetch: (config) => createNodeHttpFetch({ connectTimeout: config.timeouts.connect }),
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
