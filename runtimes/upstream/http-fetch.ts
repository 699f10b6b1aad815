/**
 * A fetch-shaped upstream client over `node:http`/`node:https` with keep-alive agents. Deno uses
 * it because Deno's own fetch adds `Accept-Encoding` and `Accept-Language` and may decompress
 * (denoland/deno#12291), which would break byte-transparent forwarding.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { pipeline, Readable } from 'node:stream'
import type { ReadableStream as NodeReadableStream } from 'node:stream/web'
import { UpstreamConnectError } from '../../src/errors.ts'
import type { UpstreamFetch } from '../../src/types.ts'
import { classifyUpstreamError } from './errors.ts'
import { toWebStream } from './web-stream.ts'

/** Options for {@link createNodeHttpFetch}. */
export interface NodeHttpFetchOptions {
  /** Upstream connect timeout, ms. */
  connectTimeout: number
}

/** Build the upstream client. */
export function createNodeHttpFetch(options: NodeHttpFetchOptions): UpstreamFetch {
  // Idle sockets are closed after 4 s, before the 5 s keep-alive timeout of most backends (Node's
  // default), so that a request is seldom sent on a connection the backend is closing.
  const agentOptions = { keepAlive: true, scheduling: 'lifo' as const, timeout: 4000 }
  const httpAgent = new HttpAgent(agentOptions)
  const httpsAgent = new HttpsAgent(agentOptions)
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const secure = url.startsWith('https:')
      const hostAt = url.indexOf('//') + 2
      const pathAt = url.indexOf('/', hostAt)
      const { hostname, port } = new URL(pathAt === -1 ? url : url.slice(0, pathAt))
      const headers: Record<string, string> = {}
      for (const [name, value] of init.headers as Headers) headers[name] = value
      const request = (secure ? httpsRequest : httpRequest)({
        hostname: hostname.replace(/^\[|\]$/g, ''),
        port: port || (secure ? 443 : 80),
        path: pathAt === -1 ? '/' : url.slice(pathAt),
        method: init.method,
        headers,
        agent: secure ? httpsAgent : httpAgent,
      })
      // Deno's node:http re-sends a request whose reused keep-alive socket fails, even one that
      // was destroyed on purpose (a deadline, a client that left) or that the backend may have
      // processed (denoland/deno#36786): a POST could reach a backend twice. fulcrum decides
      // retries itself (DESIGN: retries), so that transparent retry is turned off. Node has none.
      ;(request as { _retrying?: boolean })._retrying = true
      // The abort is applied by hand rather than through `signal`: Deno's node:http does not
      // always act on it, and the request must end (and its socket close) at once.
      const signal = init.signal
      const onAbort = () => request.destroy(signal!.reason as Error)
      if (signal?.aborted) onAbort()
      else signal?.addEventListener('abort', onAbort, { once: true })
      request.once('close', () => signal?.removeEventListener('abort', onAbort))
      let connected = false
      let answered = false
      const connectTimer = setTimeout(() => {
        if (!connected)
          request.destroy(
            new UpstreamConnectError(`Connect timed out after ${options.connectTimeout} ms`),
          )
      }, options.connectTimeout)
      request.once('socket', (socket) => {
        if (!socket.connecting) connected = true
        else socket.once('connect', () => (connected = true))
        // A backend that closes the connection without answering must fail the request at once;
        // Deno's node:http may otherwise wait for an answer that never comes.
        const onClose = () => {
          if (!answered) request.destroy(new Error('Upstream closed the connection'))
        }
        socket.once('close', onClose)
        request.once('close', () => socket.off('close', onClose))
      })
      request.once('response', (response: IncomingMessage) => {
        answered = true
        clearTimeout(connectTimer)
        resolve(toResponse(response, init.method ?? 'GET'))
      })
      request.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(connectTimer)
        // Deno's node:net may report a socket as not `connecting` before its connect fails, so
        // a failed `connect` syscall counts as connect-phase whatever the flag says.
        const connectPhase = !connected || error.syscall === 'connect'
        reject(connectPhase ? classifyUpstreamError(error) : error)
      })
      const body = init.body as ReadableStream<Uint8Array> | null | undefined
      // `unknown` first: under Bun's types the web and node:stream/web streams don't overlap.
      // pipeline, not pipe: a body that breaks off (the client went away, a limit cut it) must
      // abort the upstream request rather than leave it waiting for the rest.
      if (body) pipeline(Readable.fromWeb(body as unknown as NodeReadableStream), request, () => {})
      else request.end()
    })
}

function toResponse(response: IncomingMessage, method: string): Response {
  const headers = new Headers()
  const raw = response.rawHeaders
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!)
  const status = response.statusCode ?? 502
  const nullBody = status === 204 || status === 304 || method === 'HEAD'
  if (nullBody) response.resume()
  return new Response(nullBody ? null : toWebStream(response), { status, headers })
}
