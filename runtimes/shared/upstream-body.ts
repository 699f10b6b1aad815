/**
 * An upstream response body without Web streams: the upstream client (undici's `dispatch` on
 * Node, the HTTP/1.1 client of h1-client.ts on Bun and Deno) pushes chunks in, and the server
 * side reads them out through a reader shaped like a `ReadableStreamDefaultReader`, which
 * @hono/node-server writes to the socket as it writes any stream. Backpressure reaches the
 * upstream socket through the client's pause and resume.
 *
 * {@link watchUpstreamBody} is the `RuntimeDeps.watchBody` of the runtimes that use it: a body that
 * has already arrived whole (a small response, the common case) is handed to the server as one
 * buffer, so that the head and the body leave in one write.
 */
import { Buffer } from 'node:buffer'
import { UpstreamTimeoutError } from '../../src/errors.ts'
import { watchBody, type BodyEnd, type WatchBodyOptions } from '../../src/stream.ts'

/** Bytes queued before undici is asked to pause the upstream socket. */
const HIGH_WATER = 64 * 1024

type Result = ReadableStreamReadResult<Uint8Array>

/** The body of one upstream response, fed by undici's dispatch handler. */
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
  #resume: () => void
  #abort: (reason: unknown) => void
  #watcher: Watcher | undefined

  constructor(resume: () => void, abort: (reason: unknown) => void) {
    this.#resume = resume
    this.#abort = abort
  }

  // ---- the producer side (undici's handler) ----

  /** A chunk arrived; false asks undici to pause the socket. */
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
    this.#chunks.push(chunk)
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

  /** Take the whole body as one buffer (see {@link whole}). */
  take(): Uint8Array {
    const chunks = this.#chunks
    this.#chunks = []
    this.#locked = true
    if (chunks.length === 1) return chunks[0]!
    return Buffer.concat(chunks, this.#queued)
  }

  /** The bytes queued and not yet read. */
  get queued(): number {
    return this.#queued
  }

  /** Watch the reads: bytes, the end, and an idle deadline (see `watchBody`). */
  watch(onDone: (bytes: number, end: BodyEnd) => void, idleTimeout: number | undefined): this {
    this.#watcher = new Watcher(onDone, idleTimeout, (error) => {
      this.#watcher!.finish('timeout')
      this.#abort(error)
      this.fail(error)
    })
    return this
  }

  // ---- the ReadableStream-shaped consumer side ----

  get locked(): boolean {
    return this.#locked
  }

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

  cancel(reason?: unknown): Promise<void> {
    if (this.#cancelled) return Promise.resolve()
    const complete = this.#ended && this.#chunks.length === 0
    this.#cancelled = true
    this.#chunks = []
    this.#queued = 0
    if (!complete && this.#error === undefined) {
      this.#abort(reason ?? new Error('Cancelled'))
      this.#watcher?.finish('cancel')
    } else this.#watcher?.finish(this.#error === undefined ? 'end' : 'error')
    const pending = this.#pending
    this.#pending = undefined
    pending?.resolve({ done: true, value: undefined })
    this.#closed?.resolve()
    return Promise.resolve()
  }

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
        this.#resume()
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
      this.#resume()
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
type WatchUpstreamBody = (
  body: ReadableStream<Uint8Array>,
  onDone: (bytes: number, end: BodyEnd) => void,
  options?: WatchBodyOptions,
) => ReadableStream<Uint8Array> | Uint8Array

/**
 * A `RuntimeDeps.watchBody` for the runtimes whose clients answer with an {@link UpstreamBody}:
 * watched in place, and handed over as one buffer when it has already arrived whole; still
 * arriving, it goes as `still` makes it. Any other body goes through the Web-stream watcher.
 */
function upstreamBodyWatcher(
  still: (body: UpstreamBody) => ReadableStream<Uint8Array>,
): WatchUpstreamBody {
  return (body, onDone, options = {}) => {
    if (!(body instanceof UpstreamBody)) return watchBody(body, onDone, options)
    const upstream = body as UpstreamBody
    return takeWhole(upstream, onDone) ?? still(upstream.watch(onDone, options.idleTimeout))
  }
}

/** Node's: a body still arriving goes as it is (@hono/node-server reads any reader). */
export const watchUpstreamBody = upstreamBodyWatcher((body) => body as never)

/** Bun's and Deno's: a body still arriving goes as a Web stream, which their servers take. */
export const watchUpstreamBodyAsStream = upstreamBodyWatcher((body) => {
  const reader = body.getReader()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read()
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
})

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

  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }

  get bodyUsed(): boolean {
    return this.body?.locked ?? false
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    if (!this.body) return new ArrayBuffer(0)
    const chunks: Uint8Array[] = []
    for await (const chunk of this.body) chunks.push(chunk)
    const buffer = Buffer.concat(chunks)
    return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength)
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.arrayBuffer())
  }
}
