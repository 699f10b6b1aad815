/**
 * The Node upstream client: undici's `Agent` (a keep-alive pool per origin) through
 * `dispatcher.request`, which neither decompresses nor follows redirects, wrapped to look like
 * fetch.
 */
import { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'
import type { UpstreamFetch } from '../../src/types.ts'
import { classifyUpstreamError } from './upstream-errors.ts'
import { toWebStream } from './web-stream.ts'

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
  return async (url, init) => {
    const pathAt = url.indexOf('/', url.indexOf('//') + 2)
    const headers: string[] = []
    for (const [name, value] of init.headers as Headers) headers.push(name, value)
    const body = init.body as ReadableStream<Uint8Array> | null | undefined
    let response: Dispatcher.ResponseData
    try {
      response = await agent.request({
        origin: pathAt === -1 ? url : url.slice(0, pathAt),
        path: pathAt === -1 ? '/' : url.slice(pathAt),
        method: init.method as Dispatcher.HttpMethod,
        headers,
        body: body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : null,
        signal: init.signal ?? undefined,
      })
    } catch (error) {
      throw classifyUpstreamError(error)
    }
    const responseHeaders = new Headers()
    for (const [name, value] of Object.entries(response.headers)) {
      if (Array.isArray(value)) for (const item of value) responseHeaders.append(name, item)
      else if (value !== undefined) responseHeaders.append(name, value)
    }
    const status = response.statusCode
    const nullBody = status === 204 || status === 304 || init.method === 'HEAD'
    if (nullBody) response.body.resume()
    return new Response(nullBody ? null : toWebStream(response.body), {
      status,
      headers: responseHeaders,
    })
  }
}
