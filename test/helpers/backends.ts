/**
 * Real HTTP backends on loopback (port 0) that record what reaches them, for end-to-end tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What a backend saw of one request. */
export interface RecordedRequest {
  method: string
  /** The raw request target, exactly as received. */
  url: string
  /** Raw header pairs, in order: [name, value, name, value, …] */
  rawHeaders: string[]
  headers: IncomingMessage['headers']
}

/** A handler; the default answers `name` with 200. */
export type BackendHandler = (req: IncomingMessage, res: ServerResponse, name: string) => void

/** A running test backend. */
export interface TestBackend {
  readonly name: string
  readonly port: number
  readonly url: string
  readonly server: Server
  /** Every request received, in order. */
  readonly requests: RecordedRequest[]
  /** Close the listener and every open connection (as a crash would). */
  kill(): Promise<void>
  /** Listen again on the same port after {@link kill}. */
  revive(): Promise<void>
  close(): Promise<void>
}

const defaultHandler: BackendHandler = (req, res, name) => {
  if (req.url === '/health') {
    res.end('ok')
    return
  }
  req.resume()
  req.on('end', () => {
    res.setHeader('content-type', 'text/plain')
    res.setHeader('x-backend', name)
    res.end(name)
  })
}

/** Start a backend on 127.0.0.1 with a free port. */
export async function startBackend(
  name: string,
  handler: BackendHandler = defaultHandler,
): Promise<TestBackend> {
  const requests: RecordedRequest[] = []
  const sockets = new Set<Socket>()
  const make = () => {
    const server = createServer((req, res) => {
      requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
      })
      handler(req, res, name)
    })
    server.on('connection', (socket) => {
      sockets.add(socket)
      socket.once('close', () => sockets.delete(socket))
    })
    return server
  }
  let server = make()
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port))
    })
  const port = await listen(0)
  const shut = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy()
      if (!server.listening) return resolve()
      server.close(() => resolve())
    })
  return {
    name,
    port,
    url: `http://127.0.0.1:${port}`,
    get server() {
      return server
    },
    requests,
    kill: shut,
    async revive() {
      server = make()
      await listen(port)
    },
    close: shut,
  }
}
