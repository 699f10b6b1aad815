/**
 * Fetch-based forwarding: one attempt to one backend, and the response handed back to the client.
 * Byte-transparent: the method, raw path and query, end-to-end headers and bodies pass unchanged;
 * bodies stream in both directions and are never decoded.
 */
import { LightSignal, type AbortSignalLike } from './abort.ts'
import { deadlineAfter, type Deadline } from './deadlines.ts'
import { UpstreamTimeoutError } from './errors.ts'
import { appendVia, stripHopByHop } from './headers.ts'
import { adoptRawBody, bareResponse } from './http1/body.ts'
import { watchBody, type BodyEnd } from './stream.ts'
import type { Backend, RuntimeDeps, UpstreamFetch, UpstreamInit } from './types.ts'

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
  clientSignal: AbortSignalLike | undefined
  /** Deadline for the response headers, in ms. */
  responseHeadersTimeout: number
}

/** Told how one attempt ended (see {@link attemptUpstream}). */
export interface AttemptListener {
  /** The response headers arrived in time. */
  answered(upstream: Response): void
  /**
   * The attempt failed: an `UpstreamTimeoutError` when the headers did not arrive in time, the
   * client signal's reason when the client went away, else the upstream fetch's error (an
   * `UpstreamConnectError` when nothing was sent).
   */
  failed(error: unknown): void
}

/**
 * Send one attempt upstream and wait for its response headers; `listener` is told how it went,
 * never before this returns. A listener rather than a Promise: the caller that follows the
 * attempt needs no Promise between the upstream client's and its own.
 */
export function attemptUpstream(
  fetch: UpstreamFetch,
  attempt: UpstreamAttempt,
  listener: AttemptListener,
): void {
  const { clientSignal, body } = attempt
  if (clientSignal?.aborted) {
    const reason = clientSignal.reason
    queueMicrotask(() => listener.failed(reason))
    return
  }
  const wait = new HeadersWait(attempt, listener)
  const init: UpstreamInit = {
    method: attempt.method,
    headers: attempt.headers,
    body,
    signal: wait.signal,
    redirect: 'manual',
  }
  if (body) init.duplex = 'half'
  let response: Promise<Response>
  try {
    response = fetch(attempt.backend.url + attempt.target, init)
  } catch (error) {
    response = Promise.reject(error)
  }
  response.then(
    (upstream) => wait.answered(upstream),
    (error) => wait.failed(error),
  )
}

/** Options for the client's abort listener: one object for every attempt. */
const ONCE = { once: true }

/**
 * One attempt waiting for its response headers: one signal and one deadline per attempt (on a
 * timer shared by the attempts: deadlines.ts), and the client's signal forwarded by this object
 * as its listener (cheaper than `AbortSignal.any`, and no closure).
 */
class HeadersWait {
  /** Aborts the upstream fetch: the client went away, or the deadline passed. */
  readonly signal = new LightSignal()
  #settled = false
  /** The response-headers timeout, ms. */
  #timeout: number
  #deadline: Deadline
  #clientSignal: AbortSignalLike | undefined
  #listener: AttemptListener

  constructor(attempt: UpstreamAttempt, listener: AttemptListener) {
    this.#listener = listener
    this.#timeout = attempt.responseHeadersTimeout
    this.#deadline = deadlineAfter(this.#timeout, this)
    this.#clientSignal = attempt.clientSignal
    this.#clientSignal?.addEventListener('abort', this, ONCE)
  }

  /** The deadline passed (a deadline listener's method). */
  expired(): void {
    this.#fail(new UpstreamTimeoutError(`No response headers within ${this.#timeout} ms`))
  }

  /** The client went away (an `EventListener` object's method). */
  handleEvent(): void {
    this.#fail(this.#clientSignal!.reason)
  }

  /** The upstream answered; an answer after the attempt failed is thrown away. */
  answered(upstream: Response): void {
    if (this.#settled) return void upstream.body?.cancel().catch(() => {})
    this.#settle()
    this.#listener.answered(upstream)
  }

  /** The upstream fetch failed. */
  failed(error: unknown): void {
    if (this.#settled) return
    this.#settle()
    this.#listener.failed(error)
  }

  /**
   * The deadline holds even when an upstream client ignores its signal: the attempt fails at
   * once, and a late answer is thrown away.
   */
  #fail(reason: unknown): void {
    if (this.#settled) return
    this.#settle()
    this.signal.abort(reason)
    this.#listener.failed(reason)
  }

  #settle(): void {
    this.#settled = true
    this.#deadline.cancel()
    this.#clientSignal?.removeEventListener('abort', this)
  }
}

/** The last options {@link watchOptions} gave: a route's idle timeout seldom changes. */
let lastWatchOptions: Readonly<{ idleTimeout: number | undefined }> = { idleTimeout: undefined }

/** The watcher's options for `idleTimeout`, one object while it stays the same. */
function watchOptions(
  idleTimeout: number | undefined,
): Readonly<{ idleTimeout: number | undefined }> {
  if (lastWatchOptions.idleTimeout !== idleTimeout) lastWatchOptions = { idleTimeout }
  return lastWatchOptions
}

/** Statuses whose responses never have a body (RFC 9110 §6.4.1). */
function hasNoBody(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
}

/**
 * Turn the upstream response into the client's: hop-by-hop fields stripped (RFC 9110 §7.6.1),
 * `Via` appended, the body streamed through unchanged. `onDone` runs once the body is finished,
 * with the bytes sent and how the body ended. A body idle for longer than `idleTimeout` ms is
 * aborted, never ended as if it were complete. With `bare`, for fulcrum's own HTTP/1.1 server
 * only, a runtime client's response is answered without a `Response` around it.
 */
export function toClientResponse(
  upstream: Response,
  method: string,
  via: string,
  onDone: (bytes: number, end: BodyEnd) => void,
  idleTimeout?: number,
  watch: NonNullable<RuntimeDeps['watchBody']> = watchBody,
  bare = false,
): Response {
  // A fetched Response's headers are immutable: copied. A runtime client's own response object
  // (not a Response) hands over headers that nothing else holds: changed in place.
  const headers =
    upstream instanceof Response
      ? new Headers(upstream.headers)
      : (upstream as { headers: Headers }).headers
  stripHopByHop(headers)
  appendVia(headers, via)
  const init = { status: upstream.status, statusText: upstream.statusText, headers }
  // For fulcrum's own server, a runtime client's response goes out as it is (see bareResponse).
  const plain = bare && !(upstream instanceof Response)
  if (upstream.body === null || hasNoBody(method, upstream.status)) {
    upstream.body?.cancel().catch(() => {})
    onDone(0, 'end')
    return plain ? bareResponse(init) : new Response(null, init)
  }
  const watched = watch(upstream.body, onDone, watchOptions(idleTimeout))
  const response = plain ? bareResponse(init) : new Response(watched as BodyInit, init)
  // The engine writes the raw upstream body under this response, not its Web stream (rawBodyOf).
  adoptRawBody(response, watched)
  return response
}
