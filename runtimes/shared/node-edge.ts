/**
 * Node's side of the edge: the raw request head for strict input checks, and the limits Node's
 * own HTTP server enforces (connections, CONNECT).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import type { Duplex } from 'node:stream'
import type { Config } from '../../src/config.ts'
import { LightSignal, type AbortSignalLike } from '../../src/abort.ts'
import type { RawRequestHead } from '../../src/types.ts'

/** The head as llhttp (or the HTTP/2 layer) received it: duplicates and the raw target kept. */
export function nodeRawHead(_request: Request, env: unknown): RawRequestHead | undefined {
  const incoming = (env as { incoming?: IncomingMessage | Http2ServerRequest } | undefined)
    ?.incoming
  if (!incoming) return undefined
  return { version: incoming.httpVersion, target: incoming.url ?? '', headers: incoming.rawHeaders }
}

/**
 * Node's `RuntimeDeps.clientSignal`: aborts when the response's connection closes before the
 * response has been written, as @hono/node-server decides for `request.signal`, but with one
 * `close` listener instead of an `AbortController` per request.
 */
export function nodeClientSignal(request: Request, env: unknown): AbortSignalLike {
  const { incoming, outgoing } = (env ?? {}) as {
    incoming?: IncomingMessage | Http2ServerRequest
    outgoing?: ServerResponse | Http2ServerResponse
  }
  if (!incoming || !outgoing) return request.signal
  const signal = new LightSignal()
  outgoing.once('close', () => {
    if (incoming.errored) signal.abort(incoming.errored)
    else if (
      !outgoing.writableFinished ||
      (incoming instanceof Http2ServerRequest && incoming.aborted)
    ) {
      signal.abort(new Error('Client connection prematurely closed'))
    }
  })
  return signal
}

/** A complete HTTP/1.1 answer written straight to a socket, which is then closed. */
export function rawAnswer(status: number, reason: string, error: string): string {
  const body = JSON.stringify({ error, requestId: crypto.randomUUID() })
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\n` +
    `cache-control: no-store\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`
  )
}

/**
 * Apply the connection limit (Node refuses connections beyond `maxConnections`), and answer
 * CONNECT with 501 rather than dropping the socket (Node's default without a `connect` listener).
 */
export function hardenNodeServer(server: Server, config: Config): void {
  server.maxConnections = config.limits.maxConnections
  // How often the header and request deadlines are checked (Node's default is 30 s, and the
  // HTTP/2 server's HTTP/1.1 fallback ignores the option): a quarter of the header deadline.
  ;(server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    30_000,
    Math.max(100, Math.floor(config.timeouts.clientHeaders / 4)),
  )
  // The whole request (head and body) within the header deadline plus the body deadline; the
  // edge answers a slow body with 408 first, Node's own check is the backstop.
  const { bodyTimeout } = config.limits
  server.requestTimeout = bodyTimeout > 0 ? config.timeouts.clientHeaders + bodyTimeout + 1000 : 0
  server.on('connect', (_request: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {})
    socket.end(rawAnswer(501, 'Not Implemented', 'CONNECT is not supported'))
  })
}
