/**
 * Node's HTTP/2 server (`node:http2` through @hono/node-server, for the connections that chose h2
 * by ALPN): what it tells about a request ({@link nodeHttp2}: client address, raw head, client
 * signal), and its connections tracked so that they close gracefully.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2'
import type { Server } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { LightSignal, type AbortSignalLike } from '../../src/abort.ts'
import type { RawRequestHead } from '../../src/types.ts'
import type { Http2Env } from '../adapter.ts'

/** The request as @hono/node-server's env carries it. */
type NodeEnv =
  | {
      incoming?: IncomingMessage | Http2ServerRequest
      outgoing?: ServerResponse | Http2ServerResponse
    }
  | undefined

/** The head as llhttp (or the HTTP/2 layer) received it: duplicates and the raw target kept. */
function nodeRawHead(_request: Request, env: unknown): RawRequestHead | undefined {
  const incoming = (env as NodeEnv)?.incoming
  if (!incoming) return undefined
  return { version: incoming.httpVersion, target: incoming.url ?? '', headers: incoming.rawHeaders }
}

/**
 * Node's `RuntimeDeps.clientSignal`: aborts when the response's connection closes before the
 * response has been written, as @hono/node-server decides for `request.signal`, but with one
 * `close` listener instead of an `AbortController` per request.
 */
function nodeClientSignal(request: Request, env: unknown): AbortSignalLike {
  const { incoming, outgoing } = (env ?? {}) as NonNullable<NodeEnv>
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

/** Node's `RuntimeAdapter.http2`. */
export const nodeHttp2: Http2Env = {
  clientAddress: (_request, env) => (env as NodeEnv)?.incoming?.socket.remoteAddress,
  rawHead: nodeRawHead,
  clientSignal: nodeClientSignal,
}

/** An HTTP/2 server's connections, so that they can be closed gracefully. */
export interface Http2Connections {
  /**
   * Close them as `server.close()` can't: each HTTP/2 session gets GOAWAY and ends once its
   * streams are done; each HTTP/1.1 connection closes as soon as no response is in progress.
   */
  closeGracefully(): void
}

/** Track the sessions and HTTP/1.1 connections of an HTTP/2 server with `allowHTTP1`. */
export function trackHttp2Connections(server: Server): Http2Connections {
  const sessions = new Set<Http2Session>()
  const http1 = new Set<TLSSocket>()
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return
    http1.add(socket)
    socket.once('close', () => http1.delete(socket))
  })
  return {
    closeGracefully() {
      for (const session of sessions) session.close()
      const sweep = () => {
        for (const socket of http1) {
          // `_httpMessage` is the response in progress on an HTTP/1.1 connection.
          if (!(socket as { _httpMessage?: unknown })._httpMessage) socket.destroy()
        }
        if (http1.size === 0) clearInterval(timer)
      }
      const timer = setInterval(sweep, 50)
      sweep()
    },
  }
}
