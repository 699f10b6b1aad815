/**
 * Fetch-based forwarding: one attempt to one backend, and the response handed back to the client.
 * Byte-transparent: the method, raw path and query, end-to-end headers and bodies pass unchanged;
 * bodies stream in both directions and are never decoded.
 */
import { UpstreamTimeoutError } from './errors.ts'
import { appendVia, stripHopByHop } from './headers.ts'
import { watchBody, type BodyEnd } from './stream.ts'
import type { Backend, UpstreamFetch } from './types.ts'

/** One upstream attempt. */
export interface UpstreamAttempt {
  backend: Backend
  method: string
  /** The raw path and query, exactly as the client sent them. */
  target: string
  /** Request headers, already cleaned and with the forwarding headers added. */
  headers: Headers
  body: ReadableStream<Uint8Array> | null
  /** Aborts when the client goes away. */
  clientSignal: AbortSignal | undefined
  /** Deadline for the response headers, in ms. */
  responseHeadersTimeout: number
}

/**
 * Send one attempt upstream and wait for its response headers.
 *
 * @throws {UpstreamTimeoutError} when the headers did not arrive in time
 * @throws the upstream fetch's error otherwise (an `UpstreamConnectError` when nothing was sent)
 */
export async function sendUpstream(
  fetch: UpstreamFetch,
  attempt: UpstreamAttempt,
): Promise<Response> {
  const deadline = new AbortController()
  const timer = setTimeout(
    () =>
      deadline.abort(
        new UpstreamTimeoutError(`No response headers within ${attempt.responseHeadersTimeout} ms`),
      ),
    attempt.responseHeadersTimeout,
  )
  const signal = attempt.clientSignal
    ? AbortSignal.any([attempt.clientSignal, deadline.signal])
    : deadline.signal
  try {
    const response = fetch(attempt.backend.url + attempt.target, {
      method: attempt.method,
      headers: attempt.headers,
      body: attempt.body,
      signal,
      redirect: 'manual',
      ...(attempt.body ? { duplex: 'half' } : {}),
    })
    // The deadline holds even when an upstream client ignores its signal: a late answer is
    // thrown away.
    return await Promise.race([response, aborted(signal, response)])
  } catch (error) {
    if (deadline.signal.aborted) throw deadline.signal.reason
    throw error
  } finally {
    clearTimeout(timer)
  }
}

/** Rejects with the signal's reason when it aborts; a response that comes later is cancelled. */
function aborted(signal: AbortSignal, late: Promise<Response>): Promise<never> {
  return new Promise((_, reject) => {
    const onAbort = () => {
      reject(signal.reason)
      late.then((response) => response.body?.cancel().catch(() => {})).catch(() => {})
    }
    if (signal.aborted) onAbort()
    else {
      signal.addEventListener('abort', onAbort, { once: true })
      late.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {})
    }
  })
}

/** Statuses whose responses never have a body (RFC 9110 §6.4.1). */
function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
}

/**
 * Turn the upstream response into the client's: hop-by-hop fields stripped (RFC 9110 §7.6.1),
 * `Via` appended, the body streamed through unchanged. `onDone` runs once the body is finished,
 * with the bytes sent and how the body ended. A body idle for longer than `idleTimeout` ms is
 * aborted, never ended as if it were complete.
 */
export function toClientResponse(
  upstream: Response,
  method: string,
  via: string,
  onDone: (bytes: number, end: BodyEnd) => void,
  idleTimeout?: number,
): Response {
  const headers = new Headers(upstream.headers)
  stripHopByHop(headers)
  appendVia(headers, via)
  const init = { status: upstream.status, statusText: upstream.statusText, headers }
  if (upstream.body === null || hasNoBody(method, upstream.status)) {
    upstream.body?.cancel().catch(() => {})
    onDone(0, 'end')
    return new Response(null, init)
  }
  return new Response(watchBody(upstream.body, onDone, { idleTimeout }), init)
}
