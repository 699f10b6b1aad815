/**
 * The Node upstream client: undici's `Agent` (a keep-alive pool per origin) driven through
 * `dispatch`, which neither decompresses nor follows redirects, answered with a fetch-shaped
 * response whose body is a {@link UpstreamBody}: no Web streams and no Node `Readable` on the way.
 */
import { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'
import type { UpstreamFetch } from '../../src/types.ts'
import { UpstreamBody, UpstreamResponse } from '../../src/http1/body.ts'
import { classifyUpstreamError } from './upstream-errors.ts'

/** Options for {@link createNodeFetch}. */
export interface NodeFetchOptions {
  /** Upstream connect timeout, ms. */
  connectTimeout: number
}

/** Build the fetch-shaped upstream client for Node. */
export function createNodeFetch(options: NodeFetchOptions): UpstreamFetch {
  const agent = new Agent({
    connect: { timeout: options.connectTimeout },
    // fulcrum applies its own response-header deadline; body streams may idle for long.
    headersTimeout: 0,
    bodyTimeout: 0,
    keepAliveTimeout: 4_000,
  })
  return (url, init) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined
      if (signal?.aborted) return reject(signal.reason)
      const pathAt = url.indexOf('/', url.indexOf('//') + 2)
      const headers: string[] = []
      for (const [name, value] of init.headers as Headers) headers.push(name, value)
      const body = init.body as ReadableStream<Uint8Array> | null | undefined
      const method = init.method
      let abort: ((reason: unknown) => void) | undefined
      let aborted: unknown
      let responseBody: UpstreamBody | null = null
      let answered = false
      const onAbort = () => {
        aborted = signal!.reason
        abort?.(aborted)
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      const handler: Dispatcher.DispatchHandlers = {
        onConnect(abortRequest) {
          abort = abortRequest as (reason: unknown) => void
          if (aborted !== undefined) abortRequest(aborted as Error)
        },
        onHeaders(status, raw, resume, statusText) {
          // Interim answers (RFC 9110 §15.2) are not passed on.
          if (status < 200) return true
          const responseHeaders = new Headers()
          for (let i = 0; i + 1 < raw.length; i += 2) {
            responseHeaders.append(raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1'))
          }
          // RFC 9110 §6.4.1: no content for HEAD, 204 and 304.
          const nullBody = status === 204 || status === 304 || method === 'HEAD'
          if (!nullBody) responseBody = new UpstreamBody(resume, (reason) => abort?.(reason))
          answered = true
          resolve(
            new UpstreamResponse(
              status,
              statusText,
              responseHeaders,
              responseBody,
            ) as unknown as Response,
          )
          return true
        },
        onData(chunk) {
          return responseBody ? responseBody.push(chunk) : true
        },
        onComplete() {
          signal?.removeEventListener('abort', onAbort)
          responseBody?.end()
        },
        onError(error) {
          signal?.removeEventListener('abort', onAbort)
          if (!answered) reject(classifyUpstreamError(error))
          else responseBody?.fail(error)
        },
      }
      try {
        agent.dispatch(
          {
            origin: pathAt === -1 ? url : url.slice(0, pathAt),
            path: pathAt === -1 ? '/' : url.slice(pathAt),
            method: method as Dispatcher.HttpMethod,
            headers,
            body: body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : null,
          },
          handler,
        )
      } catch (error) {
        signal?.removeEventListener('abort', onAbort)
        reject(classifyUpstreamError(error))
      }
    })
}
