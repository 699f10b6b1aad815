/**
 * An upstream response body without Web streams: the engine's HTTP/1.1 client (client.ts)
 * pushes chunks in, and the server side reads them out through a reader shaped like a
 * `ReadableStreamDefaultReader` (a runtime's HTTP/2 server writes it as it writes any stream).
 * Backpressure reaches the upstream socket through the client's pause and resume.
 *
 * {@link watchUpstreamBody} is the `RuntimeDeps.watchBody` of the runtimes that use it: a body that
 * has already arrived whole (a small response, the common case) is handed to the server as one
 * buffer, so that the head and the body leave in one write.
 *
 * The engine's response writer skips Web streams altogether: {@link rawBodyOf} gives back the
 * {@link UpstreamBody} (or the whole buffer) under the `Response` that `toClientResponse` built
 * around a watched body.
 */
import { UpstreamTimeoutError } from '../errors.ts'
import { concatAll } from './bytes.ts'
import { watchBody, type BodyEnd, type WatchBodyOptions } from '../stream.ts'

/** Bytes queued before the client is asked to pause the upstream socket. */
const HIGH_WATER = 64 * 1024

type Result = ReadableStreamReadResult<Uint8Array>

/** What feeds an {@link UpstreamBody}: the upstream exchange, told what the reads ask of it. */
export interface UpstreamBodySource {
  /** Restart reading the upstream connection, after `push` returned false. */
  resume(): void
  /** End the upstream exchange: the body was cancelled or timed out before its end. */
  abort(reason: unknown): void
}

/**
 * The body of one upstream response, fed by the engine's client and read once: through {@link getReader}, as a whole with {@link take}, or
 * async-iterated.
 */
export class UpstreamBody {
  #chunks: Uint8Array[] = []
  #queued = 0
  #ended = false
  #error: unknown
  #cancelled = false
  #pending: { resolve: (r: Result) => void; reject: (e: unknown) => void } | undefined
  #closed: { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } | undefined
  #locked = false
  #paused = false
  #source: UpstreamBodySource
  #watcher: Watcher | undefined

  /** @param source the exchange that feeds the body (an object: no closures per response) */
  constructor(source: UpstreamBodySource)
  /**
   * @param resume restarts reading the upstream connection, after `push` returned false
   * @param abort ends the upstream exchange: the body was cancelled or timed out before its end
   */
  constructor(resume: () => void, abort: (reason: unknown) => void)
  constructor(source: UpstreamBodySource | (() => void), abort?: (reason: unknown) => void) {
    this.#source = typeof source === 'function' ? { resume: source, abort: abort! } : source
  }

  // ---- the producer side (the upstream client) ----

  /** A chunk arrived; false asks the client to pause the upstream socket. */
  push(chunk: Uint8Array): boolean {
    if (this.#cancelled) return true
    this.#watcher?.active()
    const pending = this.#pending
    if (pending) {
      this.#pending = undefined
      this.#count(chunk)
      pending.resolve({ done: false, value: chunk })
      return true
    }
    // A first chunk takes an array of its own size: `push` would reserve room for sixteen.
    if (this.#chunks.length === 0) this.#chunks = [chunk]
    else this.#chunks.push(chunk)
    this.#queued += chunk.byteLength
    if (this.#queued < HIGH_WATER) return true
    this.#paused = true
    return false
  }

  /** The body ended. */
  end(): void {
    this.#ended = true
    if (this.#pending && this.#chunks.length === 0) this.#finishRead()
  }

  /** The body failed. */
  fail(error: unknown): void {
    if (this.#ended || this.#cancelled || this.#error !== undefined) return
    this.#error = error ?? new Error('Upstream body failed')
    this.#chunks = []
    const pending = this.#pending
    this.#pending = undefined
    this.#watcher?.finish('error')
    pending?.reject(this.#error)
    this.#closed?.reject(this.#error)
  }

  /** Whether every byte has arrived, and nothing has been read yet. */
  get whole(): boolean {
    return this.#ended && this.#error === undefined && !this.#locked && !this.#cancelled
  }

  /**
   * Take the whole body as one buffer (see {@link whole}). A watched body reports its end here,
   * as a read to the end would.
   */
  take(): Uint8Array {
    const chunks = this.#chunks
    const bytes = this.#queued
    this.#chunks = []
    this.#queued = 0
    this.#locked = true
    if (this.#watcher) {
      this.#watcher.bytes += bytes
      this.#watcher.finish('end')
    }
    return chunks.length === 1 ? chunks[0]! : concatAll(chunks, bytes)
  }

  /** The bytes queued and not yet read. */
  get queued(): number {
    return this.#queued
  }

  /** Watch the reads: bytes, the end, and an idle deadline (see `watchBody`). */
  watch(onDone: (bytes: number, end: BodyEnd) => void, idleTimeout: number | undefined): this {
    this.#watcher = new Watcher(onDone, idleTimeout, (error) => {
      this.#watcher!.finish('timeout')
      this.#source.abort(error)
      this.fail(error)
    })
    return this
  }

  // ---- the ReadableStream-shaped consumer side ----

  /** Whether a reader has been taken, or the body taken whole. */
  get locked(): boolean {
    return this.#locked
  }

  /** The one reader, shaped like a `ReadableStreamDefaultReader`. @throws {TypeError} if locked */
  getReader(): {
    read(): Promise<Result>
    cancel(reason?: unknown): Promise<void>
    releaseLock(): void
    readonly closed: Promise<void>
  } {
    if (this.#locked) throw new TypeError('ReadableStream is locked')
    this.#locked = true
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const body = this
    return {
      read: () => body.#read(),
      cancel: (reason) => body.cancel(reason),
      releaseLock: () => {},
      get closed() {
        return body.#closedPromise()
      },
    }
  }

  /** Drop the body: before its end, the upstream exchange is aborted with `reason`. */
  cancel(reason?: unknown): Promise<void> {
    if (this.#cancelled) return Promise.resolve()
    const complete = this.#ended && this.#chunks.length === 0
    this.#cancelled = true
    this.#chunks = []
    this.#queued = 0
    if (!complete && this.#error === undefined) {
      this.#source.abort(reason ?? new Error('Cancelled'))
      this.#watcher?.finish('cancel')
    } else this.#watcher?.finish(this.#error === undefined ? 'end' : 'error')
    const pending = this.#pending
    this.#pending = undefined
    pending?.resolve({ done: true, value: undefined })
    this.#closed?.resolve()
    return Promise.resolve()
  }

  /** Read the chunks in order; leaving early cancels the body. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const reader = this.getReader()
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        yield value
      }
    } finally {
      if (!this.#ended || this.#chunks.length > 0) await this.cancel()
    }
  }

  #read(): Promise<Result> {
    if (this.#error !== undefined) return Promise.reject(this.#error)
    if (this.#cancelled) return Promise.resolve({ done: true, value: undefined })
    const chunk = this.#chunks.shift()
    if (chunk) {
      this.#queued -= chunk.byteLength
      this.#count(chunk)
      if (this.#paused && this.#queued < HIGH_WATER) {
        this.#paused = false
        this.#source.resume()
      }
      return Promise.resolve({ done: false, value: chunk })
    }
    if (this.#ended) {
      this.#watcher?.finish('end')
      this.#closed?.resolve()
      this.#cancelled = true
      return Promise.resolve({ done: true, value: undefined })
    }
    if (this.#paused) {
      this.#paused = false
      this.#source.resume()
    }
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject }
    })
  }

  #finishRead(): void {
    const pending = this.#pending!
    this.#pending = undefined
    this.#watcher?.finish('end')
    this.#cancelled = true
    this.#closed?.resolve()
    pending.resolve({ done: true, value: undefined })
  }

  #count(chunk: Uint8Array): void {
    if (this.#watcher) this.#watcher.bytes += chunk.byteLength
  }

  #closedPromise(): Promise<void> {
    if (!this.#closed) {
      let resolve!: () => void
      let reject!: (e: unknown) => void
      const promise = new Promise<void>((res, rej) => {
        resolve = res
        reject = rej
      })
      this.#closed = { promise, resolve, reject }
      if (this.#error !== undefined) reject(this.#error)
      else if (this.#cancelled) resolve()
    }
    return this.#closed.promise
  }
}

/** Counts bytes, runs `onDone` once, and fails the body when it idles too long. */
class Watcher {
  bytes = 0
  #done = false
  #timer: ReturnType<typeof setTimeout> | undefined
  #idleTimeout = 0
  #onIdle: () => void

  constructor(
    readonly onDone: (bytes: number, end: BodyEnd) => void,
    idleTimeout: number | undefined,
    onIdle: (error: UpstreamTimeoutError) => void,
  ) {
    this.#onIdle = () => onIdle(new UpstreamTimeoutError(`No body data within ${idleTimeout} ms`))
    if (idleTimeout !== undefined && idleTimeout > 0) {
      this.#idleTimeout = idleTimeout
      this.#timer = setTimeout(this.#onIdle, idleTimeout)
    }
  }

  /** Data flowed: the idle deadline starts again. */
  active(): void {
    if (this.#timer === undefined) return
    // Node and Bun timers restart in place; Deno's are numbers.
    if (typeof this.#timer === 'object') this.#timer.refresh()
    else {
      clearTimeout(this.#timer)
      this.#timer = setTimeout(this.#onIdle, this.#idleTimeout)
    }
  }

  finish(end: BodyEnd): void {
    if (this.#done) return
    this.#done = true
    clearTimeout(this.#timer)
    this.onDone(this.bytes, end)
  }
}

/** A `RuntimeDeps.watchBody`. */
export type WatchUpstreamBody = (
  body: ReadableStream<Uint8Array>,
  onDone: (bytes: number, end: BodyEnd) => void,
  options?: WatchBodyOptions,
) => ReadableStream<Uint8Array> | Uint8Array

/**
 * A `RuntimeDeps.watchBody` for the runtimes whose clients answer with an {@link UpstreamBody}:
 * watched in place, and handed over as one buffer when it has already arrived whole; still
 * arriving, it goes as `still` makes it, registered (see {@link registerRawBody}) so that the
 * engine can read the body itself. Any other body goes through the Web-stream watcher.
 *
 * @param still what a body still arriving is handed over as. It must not read the body before
 * it is asked to (lazily), so that the engine can still take the body's reader.
 */
export function upstreamBodyWatcher(
  still: (body: UpstreamBody) => ReadableStream<Uint8Array>,
): WatchUpstreamBody {
  return (body, onDone, options = {}) => {
    if (!(body instanceof UpstreamBody)) return watchBody(body, onDone, options)
    const upstream = body as UpstreamBody
    const whole = takeWhole(upstream, onDone)
    if (whole) return whole
    const handed = still(upstream.watch(onDone, options.idleTimeout))
    registerRawBody(handed, upstream)
    return handed
  }
}

/** Node's: a body still arriving goes as it is (@hono/node-server reads any reader). */
export const watchUpstreamBody: WatchUpstreamBody = upstreamBodyWatcher((body) => body as never)

/**
 * Bun's and Deno's: a body still arriving goes as a Web stream, which their servers take. The
 * stream takes the body's reader at its first read only: until then {@link rawBodyOf} can hand
 * the body to the engine instead.
 */
export const watchUpstreamBodyAsStream: WatchUpstreamBody = upstreamBodyWatcher((body) => {
  let reader: ReturnType<UpstreamBody['getReader']> | undefined
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= body.getReader()
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel: (reason) => (reader ? reader.cancel(reason) : body.cancel(reason)),
    },
    { highWaterMark: 0 },
  )
})

/** What a watcher handed over → the raw body under it. Weak: the entries go with the objects. */
const rawBodies = new WeakMap<object, UpstreamBody | Uint8Array>()

/**
 * Record that `handed` (what a `watchBody` returned, a stream or the body itself) is the watched
 * `raw` body, for {@link adoptRawBody} and {@link rawBodyOf}. The watchers of this module do it
 * themselves; another watcher that hands over an {@link UpstreamBody} in a wrapper calls it.
 */
export function registerRawBody(handed: object, raw: UpstreamBody | Uint8Array): void {
  rawBodies.set(handed, raw)
}

/**
 * Carry the raw body of a watched body over to the `Response` built around it
 * (`toClientResponse` in forward.ts): `watched` is what the watcher returned, a whole buffer or a
 * registered value (see {@link registerRawBody}); anything else records nothing.
 */
export function adoptRawBody(response: Response, watched: unknown): void {
  const raw =
    watched instanceof Uint8Array
      ? watched
      : typeof watched === 'object' && watched !== null
        ? rawBodies.get(watched)
        : undefined
  if (raw === undefined) return
  // A bare response carries it itself (no weak map entry per request).
  if (RAW in response) (response as unknown as Bare)[RAW] = raw
  else rawBodies.set(response, raw)
}

/**
 * The raw body under a response that `toClientResponse` built around a watched upstream body,
 * for the engine's response writer to send without Web streams: the whole body as one buffer
 * (already reported to the watcher: write it, and that is all), or the {@link UpstreamBody},
 * still watched. `undefined` for any other response, and for one whose body has been read
 * already (its reader taken): then `response.body` is the one to send.
 *
 * Contract for the caller, when this returns something:
 * - never touch `response.body` (it is a wrapper around the same bytes, or a copy of them);
 * - an `UpstreamBody` is consumed once, in one of two ways: `take()` when `whole` is true (the
 *   watcher hears its end), or `getReader()` then `read()` until `done`, and `cancel(reason)`
 *   if the client goes away first. A read that rejects means the body failed: the client's
 *   response must not end as if complete (RFC 9112 §8). Reads report the bytes, the end and
 *   the idle deadline to the watcher, and give backpressure to the upstream connection.
 *
 * @example
 * ```ts
 * const raw = rawBodyOf(response)
 * if (raw instanceof Uint8Array) socket.write(raw)
 * else if (raw?.whole) socket.write(raw.take())
 * else if (raw) {
 *   const reader = raw.getReader()
 *   for (let read = await reader.read(); !read.done; read = await reader.read()) {
 *     if (!socket.write(read.value)) await drained()
 *   }
 * } else {
 *   // response.body, as for any other response
 * }
 * ```
 */
export function rawBodyOf(response: Response): UpstreamBody | Uint8Array | undefined {
  const raw = RAW in response ? (response as unknown as Bare)[RAW] : rawBodies.get(response)
  if (raw instanceof UpstreamBody && raw.locked) return undefined
  return raw
}

/** The body as one buffer when it has already arrived whole, with `onDone` reported. */
function takeWhole(
  body: UpstreamBody,
  onDone: (bytes: number, end: BodyEnd) => void,
): Uint8Array | undefined {
  if (!body.whole) return undefined
  const bytes = body.queued
  const buffer = body.take()
  onDone(bytes, 'end')
  return buffer
}

/**
 * What the upstream clients resolve to: the parts of a `Response` the balancer and the health
 * probes read, with an {@link UpstreamBody} as the body (cast to `Response` at the boundary).
 */
export class UpstreamResponse {
  readonly redirected = false
  readonly type = 'basic'
  readonly url = ''
  constructor(
    readonly status: number,
    readonly statusText: string,
    readonly headers: Headers,
    readonly body: UpstreamBody | null,
  ) {}

  /** Whether the status is 2xx. */
  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }

  /** Whether the body's reader has been taken. */
  get bodyUsed(): boolean {
    return this.body?.locked ?? false
  }

  /** The whole body. */
  async arrayBuffer(): Promise<ArrayBuffer> {
    if (!this.body) return new ArrayBuffer(0)
    const chunks: Uint8Array[] = []
    let length = 0
    for await (const chunk of this.body) {
      chunks.push(chunk)
      length += chunk.byteLength
    }
    // A new array of its own: its buffer is exactly the body.
    return concatAll(chunks, length).buffer as ArrayBuffer
  }

  /** The body decoded as UTF-8. */
  async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer())
  }
}

/** What {@link bareResponse} holds: a response's status line and fields. */
export interface BareInit {
  status: number
  statusText: string
  headers: Headers
}

/**
 * A response for fulcrum's own HTTP/1.1 server alone, with no `Response` built around it: the
 * status, the fields as they are (no copy), and no `body` (null). The body, if any, is the raw
 * one adopted for it ({@link adoptRawBody}), which the engine's writer takes through
 * {@link rawBodyOf}. A `Response` costs a copy of the fields and a Web stream per request; a
 * load balancer answers with upstream responses almost always. Hono passes it through as it is.
 */
export function bareResponse(init: BareInit): Response {
  const { status, statusText, headers } = init
  const bare: Bare = { status, statusText, headers, body: null, [RAW]: undefined }
  return bare as unknown as Response
}

/** Where a bare response keeps its raw body (see {@link adoptRawBody}). */
const RAW = Symbol('raw body')

/** What {@link bareResponse} makes. */
interface Bare extends BareInit {
  body: null
  [RAW]: UpstreamBody | Uint8Array | undefined
}
