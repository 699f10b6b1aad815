/**
 * A byte-transparent HTTP/1.1 upstream client over a runtime's raw TCP sockets (Bun.connect,
 * Deno.connect), with a keep-alive pool per origin. Bun's and Deno's fetch cannot be told to
 * leave a request alone (Bun adds User-Agent and Accept, oven-sh/bun#17012; Deno adds
 * Accept-Encoding and Accept-Language and decodes bodies, denoland/deno#12291), and their
 * `node:http` clients are slow; this one sends the method, target and fields exactly as given
 * and hands the response body over as it arrives, or whole when it arrived in one read.
 *
 * Requests are framed per RFC 9112 §6 (Content-Length as given, otherwise chunked), responses
 * are parsed by h1-parser.ts. A connection goes back to the pool only once both messages have
 * ended cleanly; one idle for longer than `keepAliveTimeout` is not reused, so that a request is
 * seldom sent on a connection the backend is closing.
 */
import { Buffer } from 'node:buffer'
import type { AbortSignalLike } from '../../src/abort.ts'
import { UpstreamConnectError } from '../../src/errors.ts'
import type { UpstreamFetch } from '../../src/types.ts'
import { ResponseParser, type ResponseHead } from './h1-parser.ts'
import { UpstreamBody, UpstreamResponse } from './upstream-body.ts'
import { classifyUpstreamError } from './upstream-errors.ts'

/** A connected socket, as the client drives it. */
export interface H1Transport {
  /** Send bytes; false when they were queued, and more should wait for `drain`. */
  write(bytes: Uint8Array): boolean
  /** Stop and restart reading (backpressure from a slow client). */
  pause(): void
  resume(): void
  /** Close the connection; nothing more is reported after this. */
  close(): void
}

/** What a transport reports to the client. */
export interface H1TransportEvents {
  data(chunk: Uint8Array): void
  drain(): void
  /** The connection ended: closed by the peer, or failed with `error`. */
  closed(error?: unknown): void
}

/** Open a TCP connection to host:port; rejects when the connect fails. */
export type H1Connect = (
  host: string,
  port: number,
  events: H1TransportEvents,
) => Promise<H1Transport>

/** Options for {@link createH1Fetch}. */
export interface H1FetchOptions {
  /** Opens connections. */
  connect: H1Connect
  /** Upstream connect timeout, ms. */
  connectTimeout: number
  /**
   * A connection idle for longer is not reused, ms: below the 5 s keep-alive timeout of most
   * backends (Node's default). @default 4000
   */
  keepAliveTimeout?: number
  /** Serves what this client does not: `https:` origins. */
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

/** Build the client. */
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
    const now = Date.now()
    for (let conn = origin.idle.pop(); conn; conn = origin.idle.pop()) {
      if (!conn.ended && now - conn.idleSince < keepAliveTimeout) return conn
      conn.close()
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
        (error) => exchange.fail(classifyUpstreamError(error)),
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

/**
 * The request head, fields in the order given, Host first (RFC 9112 §3.2). A body without a
 * Content-Length goes chunked (RFC 9112 §7.1). Field values are byte strings: latin1.
 */
function requestHead(
  method: string,
  path: string,
  headers: Headers,
  authority: string,
  hasBody: boolean,
): RequestHead {
  let fields = ''
  let host: string | undefined
  let length = false
  for (const [name, value] of headers) {
    if (name === 'host') {
      host = value
      continue
    }
    if (name === 'content-length') length = true
    fields += `${name}: ${value}\r\n`
  }
  const chunked = hasBody && !length
  if (chunked) fields += 'transfer-encoding: chunked\r\n'
  const head = `${method} ${path} HTTP/1.1\r\nhost: ${host ?? authority}\r\n${fields}\r\n`
  // TextEncoder is native on every runtime (Deno's latin1 Buffer is JS); a head of ASCII only
  // (the common case) is the same in UTF-8.
  let bytes: Uint8Array = ENCODER.encode(head)
  if (bytes.byteLength !== head.length) bytes = Buffer.from(head, 'latin1')
  return { bytes, chunked }
}

/** One pooled connection. */
class Connection implements H1TransportEvents {
  transport: H1Transport | undefined
  exchange: Exchange | undefined
  idleSince = 0
  /** The connection has closed, or is closing. */
  ended = false

  constructor(readonly origin: Origin) {}

  /** Connect, within `timeout` ms. */
  static open(origin: Origin, connect: H1Connect, timeout: number): Promise<Connection> {
    const conn = new Connection(origin)
    return new Promise((resolve, reject) => {
      let timedOut = false
      const timer = setTimeout(() => {
        timedOut = true
        reject(new UpstreamConnectError(`Connect timed out after ${timeout} ms`))
      }, timeout)
      connect(origin.host, origin.port, conn).then(
        (transport) => {
          clearTimeout(timer)
          conn.transport = transport
          if (timedOut || conn.ended) {
            conn.ended = true
            transport.close()
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
    if (this.exchange) this.exchange.data(chunk)
    // Bytes on an idle connection answer nothing: the connection is not to be trusted.
    else this.close()
  }

  drain(): void {
    this.exchange?.drain()
  }

  closed(error?: unknown): void {
    const exchange = this.exchange
    this.ended = true // the transport is closed already
    this.close()
    exchange?.closed(error)
  }

  /** Back to the pool, or closed when it cannot be reused. */
  release(reusable: boolean): void {
    this.exchange = undefined
    if (!reusable || this.ended) return this.close()
    this.idleSince = Date.now()
    this.origin.idle.push(this)
  }

  close(): void {
    this.exchange = undefined
    if (!this.ended) {
      this.ended = true
      this.transport?.close()
    }
    const at = this.origin.idle.lastIndexOf(this)
    if (at !== -1) this.origin.idle.splice(at, 1)
  }
}

/** One request and its response on one connection. */
class Exchange {
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
  #onAbort = () => this.fail(this.#signal!.reason)

  constructor(method: string, signal: AbortSignalLike | undefined) {
    this.response = new Promise((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    this.#signal = signal
    signal?.addEventListener('abort', this.#onAbort, { once: true })
    this.#parser = new ResponseParser(method, {
      head: (head) => this.#head(head),
      data: (chunk) => {
        if (this.#body && !this.#body.push(chunk)) {
          this.#paused = true
          this.#conn?.transport!.pause()
        }
      },
      end: () => {
        // Bytes after the end in the same read: known by now (ResponseParser.feed), and the
        // connection is settled right here, so this is the last moment to refuse its reuse.
        if (this.#parser.extra) this.#keepAlive = false
        this.#responseEnded = true
        this.#body?.end()
        this.#settle()
      },
    })
  }

  /** Send the request on `conn`. */
  start(conn: Connection, request: RequestHead, body: ReadableStream<Uint8Array> | null): void {
    if (this.#finished) return conn.release(true)
    const transport = conn.transport!
    this.#conn = conn
    conn.exchange = this
    if (body === null) {
      transport.write(request.bytes)
      this.#requestSent = true
    } else void this.#sendBody(request, body, transport)
  }

  data(chunk: Uint8Array): void {
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

  closed(error?: unknown): void {
    if (this.#finished) return
    try {
      this.#parser.close()
      this.#keepAlive = false
    } catch (incomplete) {
      this.fail(error ?? incomplete)
    }
  }

  /** End the exchange with an error: before the response it rejects, after it the body fails. */
  fail(error: unknown): void {
    if (!this.#finish()) return
    this.#conn?.close()
    if (!this.#answered) this.#reject(error)
    else this.#body?.fail(error)
    this.#dropRequestBody(error)
    this.drain()
  }

  /** Mark the exchange finished, once; false when it already was. */
  #finish(): boolean {
    if (this.#finished) return false
    this.#finished = true
    this.#signal?.removeEventListener('abort', this.#onAbort)
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

  #head(head: ResponseHead): void {
    this.#answered = true
    this.#keepAlive = head.keepAlive
    if (head.hasBody) {
      this.#body = new UpstreamBody(
        () => {
          if (this.#finished || !this.#paused) return
          this.#paused = false
          this.#conn?.transport!.resume()
        },
        (reason) => this.fail(reason),
      )
    }
    this.#resolve(
      new UpstreamResponse(
        head.status,
        head.statusText,
        head.headers,
        this.#body,
      ) as unknown as Response,
    )
  }

  /** Both messages have ended: the connection goes back to the pool, or closes. */
  #settle(): void {
    if (!this.#responseEnded || !this.#finish()) return
    if (!this.#requestSent) {
      // The backend answered before taking the whole request (an early 413, say): the rest is not
      // sent, and the connection is not reused.
      this.#conn?.close()
      this.#dropRequestBody()
      this.drain()
      return
    }
    // The last bytes may have paused the connection: an idle one must hear the backend close it.
    if (this.#paused) this.#conn?.transport!.resume()
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
    transport: H1Transport,
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
        const parts = chunked
          ? [Buffer.from(`${value.byteLength.toString(16)}\r\n`), value, CRLF]
          : [value]
        if (head) parts.unshift(head)
        head = undefined
        const bytes = parts.length === 1 ? value : Buffer.concat(parts)
        if (!transport.write(bytes)) await new Promise<void>((resolve) => (this.#drained = resolve))
      }
      this.#reader = undefined
      if (this.#finished) return
      if (head || chunked) {
        transport.write(head && chunked ? Buffer.concat([head, LAST_CHUNK]) : (head ?? LAST_CHUNK))
      }
      this.#requestSent = true
      this.#settle()
    } catch (error) {
      // The client's body broke off (it went away, or a limit cut it): the request is abandoned.
      this.fail(error)
    }
  }
}

const CRLF = Buffer.from('\r\n')
const ENCODER = new TextEncoder()
/** RFC 9112 §7.1: the last chunk, and no trailers. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n')
