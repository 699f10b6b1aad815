/**
 * The engine's byte-transparent HTTP/1.1 upstream client, on the runtime's sockets through the
 * socket contract (socket.ts), with a keep-alive pool per origin. Bun's and Deno's fetch cannot
 * be told to leave a request alone (Bun adds User-Agent and Accept, oven-sh/bun#17012; Deno adds
 * Accept-Encoding and Accept-Language and decodes bodies, denoland/deno#12291), and their
 * `node:http` clients are slow; this one sends the method, target and fields exactly as given
 * and hands the response body over as it arrives, or whole when it arrived in one read.
 *
 * Requests are framed per RFC 9112 §6 (Content-Length as given, otherwise chunked), responses
 * are parsed by the engine's strict response parser. A connection goes back to the pool only once
 * both messages have ended cleanly; one idle for longer than `keepAliveTimeout` is not reused, so
 * that a request is seldom sent on a connection the backend is closing. The backend's FIN ends a
 * body delimited by the close (RFC 9112 §6.3 rule 8); otherwise the connection is not reused.
 */
import type { AbortSignalLike } from '../abort.ts'
import { enterEvent, leaveEvent, wallClock } from '../clock.ts'
import { UpstreamConnectError } from '../errors.ts'
import type { UpstreamFetch } from '../types.ts'
import { UpstreamBody, UpstreamResponse } from './body.ts'
import { allocate, concatBytes, CR, encodeOwn, frameChunk, LAST_CHUNK, LF, SP } from './bytes.ts'
import { FieldLines, RepeatedLine, writeText } from './field-lines.ts'
import { collectFields } from './fields.ts'
import { HeadMemo } from './head-memo.ts'
import { ResponseParser, type ResponseEvents, type ResponseHead } from './parser.ts'
import type { Connect, Socket, SocketEvents } from '../socket.ts'

/** Options for {@link createH1Fetch}. */
export interface H1FetchOptions {
  /** Opens connections, on the runtime's sockets. */
  connect: Connect
  /** Upstream connect timeout, ms: then the fetch rejects with `UpstreamConnectError`. */
  connectTimeout: number
  /**
   * A connection idle for longer is not reused, ms: below the 5 s keep-alive timeout of most
   * backends (Node's default). @default 4000
   */
  keepAliveTimeout?: number
  /** Serves what this client does not: `https:` origins (the runtime's own TLS client). */
  fallback: UpstreamFetch
}

interface Origin {
  host: string
  port: number
  /** `host[:port]` for requests that carry no Host field (the health probes). */
  authority: string
  /** Idle connections, the most recently used last. */
  idle: Connection[]
}

/**
 * Build the client: a fetch-shaped function whose responses are {@link UpstreamResponse}s with an
 * {@link UpstreamBody} (cast to `Response`). Plain `http:` URLs only; the rest go to `fallback`.
 *
 * @example
 * ```ts
 * const fetch = createH1Fetch({ connect, connectTimeout: 5000, fallback })
 * const init = { method: 'GET', headers, redirect: 'manual' } as const
 * const response = await fetch('http://10.0.0.2:8080/a?b', init)
 * ```
 */
export function createH1Fetch(options: H1FetchOptions): UpstreamFetch {
  const { connect, connectTimeout, fallback } = options
  const keepAliveTimeout = options.keepAliveTimeout ?? 4000
  const origins = new Map<string, Origin>()

  const originOf = (key: string): Origin => {
    let origin = origins.get(key)
    if (!origin) {
      const { hostname, port, host } = new URL(key)
      origin = {
        host: hostname.replace(/^\[|\]$/g, ''),
        port: Number(port || 80),
        authority: host,
        idle: [],
      }
      origins.set(key, origin)
    }
    return origin
  }

  const acquire = (origin: Origin): Connection | Promise<Connection> => {
    const now = wallClock()
    for (let conn = origin.idle.pop(); conn; conn = origin.idle.pop()) {
      if (!conn.ended && now - conn.idleSince < keepAliveTimeout) return conn
      conn.destroy()
    }
    return Connection.open(origin, connect, connectTimeout)
  }

  return (url, init) => {
    if (!url.startsWith('http:')) return fallback(url, init)
    const pathAt = url.indexOf('/', 7)
    const origin = originOf(pathAt === -1 ? url : url.slice(0, pathAt))
    const path = pathAt === -1 ? '/' : url.slice(pathAt)
    const signal = init.signal ?? undefined
    if (signal?.aborted) return Promise.reject(signal.reason)
    const method = init.method ?? 'GET'
    const body = (init.body as ReadableStream<Uint8Array> | null | undefined) ?? null
    const head = requestHead(method, path, init.headers as Headers, origin.authority, body !== null)
    const conn = acquire(origin)
    const exchange = new Exchange(method, signal)
    if (conn instanceof Connection) exchange.start(conn, head, body)
    else {
      conn.then(
        (opened) => exchange.start(opened, head, body),
        (error) => exchange.fail(connectError(error)),
      )
    }
    return exchange.response
  }
}

/** A serialised request head. */
interface RequestHead {
  bytes: Uint8Array
  /** The body goes chunked: the request has one and no Content-Length. */
  chunked: boolean
}

/** The head's fields while {@link requestHead} writes them (it runs to its end at once). */
const headNames: string[] = []
const headValues: string[] = []

const CHUNKED_FIELD = encodeOwn('transfer-encoding: chunked\r\n')

/** The lines of the request heads, kept from one head to the next (see FieldLines). */
const requestLines = new FieldLines()

/** The end of the request line and the Host line (RFC 9112 §3, §3.2): a backend's Host repeats. */
const versionAndHost = new RepeatedLine(' HTTP/1.1\r\nhost: ', '\r\n')

/**
 * The request head, fields in the order given, Host first (RFC 9112 §3.2). A body without a
 * Content-Length goes chunked (RFC 9112 §7.1). Field values are byte strings, written as latin1:
 * the head is put together as bytes, from pieces kept encoded while they repeat (the Host line,
 * the lines a client's requests share), and the rest written a byte a code unit (FieldLines).
 */
function requestHead(
  method: string,
  path: string,
  headers: Headers,
  authority: string,
  hasBody: boolean,
): RequestHead {
  const count = collectFields(headers, headNames, headValues)
  let host: string | undefined
  let length = false
  // The fields but Host, which goes first, moved up in place.
  let kept = 0
  for (let i = 0; i < count; i++) {
    const name = headNames[i]!
    if (name === 'host') {
      host = headValues[i]
      continue
    }
    if (name === 'content-length') length = true
    headNames[kept] = name
    headValues[kept++] = headValues[i]!
  }
  const linesSize = requestLines.measure(headNames, headValues, kept)
  const chunked = hasBody && !length
  // Nothing of this request is kept here once its head is written (but in requestLines).
  headNames.fill('', 0, count)
  headValues.fill('', 0, count)
  const hostLine = versionAndHost.bytesOf(host ?? authority)
  const size =
    method.length +
    1 +
    path.length +
    hostLine.length +
    linesSize +
    (chunked ? CHUNKED_FIELD.length : 0) +
    2
  const bytes = allocate(size)
  let at = writeText(bytes, 0, method)
  bytes[at++] = SP
  at = writeText(bytes, at, path)
  bytes.set(hostLine, at)
  at = requestLines.write(bytes, at + hostLine.length)
  if (chunked) {
    bytes.set(CHUNKED_FIELD, at)
    at += CHUNKED_FIELD.length
  }
  bytes[at++] = CR
  bytes[at] = LF
  return { bytes, chunked }
}

/**
 * A failed connect as `UpstreamConnectError`: the contract's `Connect` rejects only when the
 * connection cannot be made, so nothing of the request was sent.
 */
function connectError(error: unknown): unknown {
  if (error instanceof UpstreamConnectError) return error
  const code = (error as { code?: unknown } | undefined)?.code
  const message = typeof code === 'string' ? code : String((error as Error)?.message ?? error)
  return new UpstreamConnectError(message, { cause: error })
}

/** One pooled connection: the socket's events go to its exchange, if any. */
class Connection implements SocketEvents {
  socket: Socket | undefined
  exchange: Exchange | undefined
  idleSince = 0
  /** The connection carries no more requests: it is closing, or closed. */
  ended = false
  /** The strings of the last response head, for the next one to reuse (see HeadMemo). */
  readonly heads = new HeadMemo()
  /** The socket is destroyed, or reported its close: nothing more is asked of it. */
  #gone = false

  constructor(readonly origin: Origin) {}

  /** Connect, within `timeout` ms. */
  static open(origin: Origin, connect: Connect, timeout: number): Promise<Connection> {
    const conn = new Connection(origin)
    return new Promise((resolve, reject) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        reject(new UpstreamConnectError(`Connect timed out after ${timeout} ms`))
      }, timeout)
      connect(origin.host, origin.port, conn).then(
        (socket) => {
          clearTimeout(timer)
          conn.socket = socket
          if (timedOut || conn.ended) {
            conn.destroy()
            if (!timedOut) reject(new UpstreamConnectError('Connection closed while connecting'))
          } else resolve(conn)
        },
        (error) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  data(chunk: Uint8Array): void {
    // One reading of the clocks for everything this response's bytes set off (../clock.ts).
    enterEvent()
    try {
      if (this.exchange) this.exchange.received(chunk)
      // Bytes on an idle connection answer nothing: the connection is not to be trusted.
      else this.destroy()
    } finally {
      leaveEvent()
    }
  }

  drain(): void {
    this.exchange?.drain()
  }

  end(): void {
    // The backend sent its FIN: it ends a body delimited by the close, fails any other response
    // in progress, and an idle connection is dropped. Either way it is not reused.
    this.ended = true
    this.#unpool()
    if (this.exchange) this.exchange.peerEnded()
    else this.destroy()
  }

  close(error?: unknown): void {
    const exchange = this.exchange
    this.#gone = true
    this.ended = true
    this.exchange = undefined
    this.#unpool()
    exchange?.closed(error)
  }

  /** Back to the pool, or closed when it cannot be reused. */
  release(reusable: boolean): void {
    this.exchange = undefined
    if (!reusable || this.ended) return this.shut()
    this.idleSince = wallClock()
    this.origin.idle.push(this)
  }

  /**
   * Close after a clean exchange: what is queued goes, then the FIN (RFC 9112 §9.6). The events
   * that follow find no exchange, and the socket is destroyed on the first of them.
   */
  shut(): void {
    this.exchange = undefined
    this.#unpool()
    if (this.ended) {
      // The backend has sent its FIN too: nothing more to wait for.
      if (!this.#gone) this.destroy()
      return
    }
    this.ended = true
    this.socket?.end()
  }

  /** Close now, dropping anything queued. */
  destroy(): void {
    this.exchange = undefined
    this.ended = true
    this.#unpool()
    if (this.#gone) return
    this.#gone = true
    this.socket?.destroy()
  }

  #unpool(): void {
    const at = this.origin.idle.lastIndexOf(this)
    if (at !== -1) this.origin.idle.splice(at, 1)
  }
}

/** Options for the abort listener: one object for every exchange. */
const ONCE = { once: true }

/**
 * One request and its response on one connection. It receives its parser's events itself
 * ({@link head}, {@link data}, {@link end}) and hears its signal's abort as a listener object
 * ({@link handleEvent}): no closures per request.
 */
class Exchange implements ResponseEvents {
  readonly response: Promise<Response>
  #resolve!: (response: Response) => void
  #reject!: (error: unknown) => void
  #conn: Connection | undefined
  #parser: ResponseParser
  #body: UpstreamBody | null = null
  #answered = false
  #requestSent = false
  #responseEnded = false
  #keepAlive = false
  #finished = false
  /** Reading is paused because the response body is backed up. */
  #paused = false
  #drained: (() => void) | undefined
  /** The request body's reader while it is being sent. */
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  #signal: AbortSignalLike | undefined

  constructor(method: string, signal: AbortSignalLike | undefined) {
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#signal = signal
    signal?.addEventListener('abort', this, ONCE)
    this.#parser = new ResponseParser(method, this)
  }

  /** The signal aborted (an `EventListener` object's method). */
  handleEvent(): void {
    this.fail(this.#signal!.reason)
  }

  /** The response head arrived (a parser event). */
  head(head: ResponseHead): void {
    this.#answered = true
    this.#keepAlive = head.keepAlive
    if (head.hasBody) this.#body = new UpstreamBody(this)
    this.#resolve(
      new UpstreamResponse(
        head.status,
        head.statusText,
        head.headers,
        this.#body,
      ) as unknown as Response,
    )
  }

  /** Bytes of the response body (a parser event): the connection pauses when they back up. */
  data(chunk: Uint8Array): void {
    if (this.#body && !this.#body.push(chunk)) {
      this.#paused = true
      this.#conn?.socket!.pause()
    }
  }

  /** The response ended (a parser event). */
  end(): void {
    // Bytes after the end in the same read: known by now (ResponseParser.feed), and the
    // connection is settled right here, so this is the last moment to refuse its reuse.
    if (this.#parser.extra) this.#keepAlive = false
    this.#responseEnded = true
    this.#body?.end()
    this.#settle()
  }

  /** The response body was read down: reading the connection starts again (UpstreamBody's source). */
  resume(): void {
    if (this.#finished || !this.#paused) return
    this.#paused = false
    this.#conn?.socket!.resume()
  }

  /** The response body was dropped before its end (UpstreamBody's source). */
  abort(reason: unknown): void {
    this.fail(reason)
  }

  /** Send the request on `conn`. */
  start(conn: Connection, request: RequestHead, body: ReadableStream<Uint8Array> | null): void {
    if (this.#finished) return conn.release(true)
    if (conn.ended) {
      // Closed between the connect and now: nothing was sent.
      conn.destroy()
      return this.fail(new UpstreamConnectError('Connection closed before the request was sent'))
    }
    const socket = conn.socket!
    this.#conn = conn
    conn.exchange = this
    this.#parser.memo = conn.heads
    if (body === null) {
      socket.write(request.bytes)
      this.#requestSent = true
    } else void this.#sendBody(request, body, socket)
  }

  /** Bytes from the connection. */
  received(chunk: Uint8Array): void {
    try {
      this.#parser.feed(chunk)
    } catch (error) {
      this.fail(error)
    }
  }

  drain(): void {
    const drained = this.#drained
    this.#drained = undefined
    drained?.()
  }

  /**
   * The backend sent its FIN: no more bytes will come. A body delimited by the close ends here
   * (RFC 9112 §6.3 rule 8); any other response in progress is incomplete (RFC 9112 §8).
   */
  peerEnded(): void {
    if (this.#finished) return
    this.#keepAlive = false
    try {
      this.#parser.close()
    } catch (incomplete) {
      this.fail(incomplete)
    }
  }

  /**
   * The connection is gone. After an error (a reset) the response is incomplete whatever its
   * framing; a close without one is taken as the FIN it implies.
   */
  closed(error?: unknown): void {
    if (this.#finished) return
    if (error !== undefined) this.fail(error)
    else this.peerEnded()
  }

  /** End the exchange with an error: before the response it rejects, after it the body fails. */
  fail(error: unknown): void {
    if (!this.#finish()) return
    this.#conn?.destroy()
    if (!this.#answered) this.#reject(error)
    else this.#body?.fail(error)
    this.#dropRequestBody(error)
    this.drain()
  }

  /** Mark the exchange finished, once; false when it already was. */
  #finish(): boolean {
    if (this.#finished) return false
    this.#finished = true
    this.#signal?.removeEventListener('abort', this)
    return true
  }

  /**
   * The rest of the request body will not be sent: cancel its reader, which may be waiting on a
   * read that never comes (a client that stalls after an early answer). The core hands each
   * attempt its own stream, so this does not cancel the client's body under a retry.
   */
  #dropRequestBody(reason?: unknown): void {
    const reader = this.#reader
    this.#reader = undefined
    reader?.cancel(reason).catch(() => {})
  }

  /** Both messages have ended: the connection goes back to the pool, or closes. */
  #settle(): void {
    if (!this.#responseEnded || !this.#finish()) return
    if (!this.#requestSent) {
      // The backend answered before taking the whole request (an early 413, say): the rest is not
      // sent, and the connection is not reused.
      this.#conn?.destroy()
      this.#dropRequestBody()
      this.drain()
      return
    }
    // The last bytes may have paused the connection: an idle one must hear the backend close it.
    if (this.#paused) this.#conn?.socket!.resume()
    this.#conn?.release(this.#keepAlive)
  }

  /**
   * The head leaves with the body's first chunk, as `node:http` sends it: a request whose body
   * turns out malformed before its first byte (the client's parser refuses it) never reaches the
   * backend at all, and a small request takes one write.
   */
  async #sendBody(
    request: RequestHead,
    body: ReadableStream<Uint8Array>,
    socket: Socket,
  ): Promise<void> {
    const { chunked } = request
    let head: Uint8Array | undefined = request.bytes
    const reader = body.getReader()
    this.#reader = reader
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (this.#finished) return void reader.cancel().catch(() => {})
        if (done) break
        if (value.byteLength === 0) continue
        let bytes = chunked ? frameChunk(value) : value
        if (head) bytes = concatBytes(head, bytes)
        head = undefined
        if (!socket.write(bytes)) await new Promise<void>((resolve) => (this.#drained = resolve))
      }
      this.#reader = undefined
      if (this.#finished) return
      if (head || chunked) {
        socket.write(head && chunked ? concatBytes(head, LAST_CHUNK) : (head ?? LAST_CHUNK))
      }
      this.#requestSent = true
      this.#settle()
    } catch (error) {
      // The client's body broke off (it went away, or a limit cut it): the request is abandoned.
      this.fail(error)
    }
  }
}
