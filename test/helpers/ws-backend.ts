/**
 * A WebSocket backend on loopback for end-to-end tests (the `ws` package on a node:http server):
 * it echoes messages prefixed with its name, obeys a few commands, and records handshakes,
 * pings and closes. Plain HTTP requests get its name, so health probes pass.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { WebSocketServer, type WebSocket } from 'ws'

/** What the backend saw of one WebSocket. */
export interface SeenSocket {
  /** The handshake's fields. */
  headers: IncomingMessage['headers']
  url: string
  protocol: string
  /** The extensions it agreed to. */
  extensions: string
  /** Ping payloads received. */
  pings: string[]
  /** How the client closed, when it did. */
  closed?: { code: number; reason: string }
}

/** A running WebSocket backend. */
export interface WsBackend {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly sockets: SeenSocket[]
  /** Sockets open right now. */
  open(): number
  close(): Promise<void>
}

/**
 * Start it. Commands (text messages): `close:CODE:REASON` closes with that code, `die` drops the
 * TCP connection without a Close frame, `ping` sends a ping; anything else is echoed as
 * `NAME:message` (binary messages come back as they are). Subprotocols: the last one offered
 * is chosen, so a proxy that passes only the first is caught.
 */
export async function startWsBackend(name: string): Promise<WsBackend> {
  const sockets: SeenSocket[] = []
  const live = new Set<WebSocket>()
  const tcp = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'text/plain')
    res.end(name)
  })
  server.on('connection', (socket) => {
    tcp.add(socket)
    socket.once('close', () => tcp.delete(socket))
  })
  const wss = new WebSocketServer({
    server,
    perMessageDeflate: { threshold: 0 },
    handleProtocols: (protocols) => [...protocols].at(-1) ?? false,
  })
  wss.on('connection', (ws, req) => {
    const seen: SeenSocket = {
      headers: req.headers,
      url: req.url ?? '',
      protocol: ws.protocol,
      extensions: ws.extensions,
      pings: [],
    }
    sockets.push(seen)
    live.add(ws)
    ws.on('ping', (data) => seen.pings.push(data.toString()))
    ws.on('close', (code, reason) => {
      live.delete(ws)
      seen.closed = { code, reason: reason.toString() }
    })
    ws.on('error', () => {})
    ws.on('message', (data, binary) => {
      if (binary) return ws.send(data, { binary: true })
      const text = data.toString()
      const close = /^close:(\d+):(.*)$/.exec(text)
      if (close) return ws.close(Number(close[1]), close[2])
      if (text === 'die') return (ws as unknown as { _socket: Socket })._socket.destroy()
      if (text === 'ping') return ws.ping('from-backend')
      ws.send(`${name}:${text}`)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    sockets,
    open: () => live.size,
    close: () =>
      new Promise<void>((resolve) => {
        for (const ws of live) ws.terminate()
        for (const socket of tcp) socket.destroy()
        wss.close()
        server.close(() => resolve())
      }),
  }
}
