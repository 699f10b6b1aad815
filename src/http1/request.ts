/**
 * The fetch-shaped side of a parsed request: the `Request` the Hono app sees, and the `env` the
 * engine passes with it (the connection's peer, the raw head for the edge's strict checks, and a
 * signal for a client that goes away).
 */
import { getPath } from 'hono/utils/url'
import { LightSignal } from '../abort.ts'
import { FieldList } from './fields.ts'
import type { RawRequestHead } from '../types.ts'
import type { RequestHead } from './parser.ts'

/**
 * Set on the raw heads the engine's strict parser framed (see {@link Http1Env.rawHead}): their
 * method and field names are tokens, their field values hold no control but HTAB, and their
 * target is visible ASCII, so the edge need not check those again.
 */
export const PARSER_FRAMED = Symbol('parser framed')

/**
 * What the engine passes as the `env` of each request it hands to the app. It is its own raw
 * head too ({@link rawHead}): one object a request, not two.
 */
export class Http1Env implements RawRequestHead {
  /** Aborts when the client goes away before the response has been written. */
  readonly signal = new LightSignal()
  /** Set: the engine's strict parser framed this head (see {@link PARSER_FRAMED}). */
  readonly [PARSER_FRAMED] = true

  constructor(
    readonly head: RequestHead,
    /** The connection's peer address. */
    readonly remoteAddress: string | undefined,
  ) {}

  /** The head as received, for the edge's strict input checks (`RuntimeDeps.rawHead`). */
  get rawHead(): RawRequestHead {
    return this
  }

  /** The raw head's HTTP version. */
  get version(): string {
    return this.head.minor === 1 ? '1.1' : '1.0'
  }

  /** The raw head's target, exactly as sent. */
  get target(): string {
    return this.head.target
  }

  /** The raw head's field lines, names as sent. */
  get headers(): readonly string[] {
    return this.head.fields
  }
}

/** The engine's `env`, when `env` is one. */
export function http1Env(env: unknown): Http1Env | undefined {
  return env instanceof Http1Env ? env : undefined
}

/** Bytes a request body may queue before the socket stops reading. */
const BODY_HIGH_WATER = 64 * 1024

/** A request body fed by the connection, with backpressure on the socket. */
export interface BodySource {
  readonly stream: ReadableStream<Uint8Array>
  /** Body bytes arrived; false when the reader is behind and the socket should pause. */
  push(chunk: Uint8Array): boolean
  /** The body ended. */
  end(): void
  /** The connection broke off in the middle of the body. */
  fail(error: unknown): void
  /** Whether the app cancelled it (it will not read any more). */
  readonly cancelled: boolean
}

/**
 * A request body as a byte stream. `onPull` runs when the reader wants more (resume the socket,
 * and send `100 Continue` the first time, RFC 9110 §10.1.1). A `lazy` one reads nothing ahead.
 */
export function bodySource(onPull: () => void, lazy = false): BodySource {
  let controller!: ReadableStreamDefaultController<Uint8Array>
  let done = false
  let cancelled = false
  const stream = new ReadableStream<Uint8Array>(
    {
      start: (c) => {
        controller = c
      },
      pull: () => onPull(),
      cancel: () => {
        cancelled = true
        done = true
      },
    },
    // Lazy: no read ahead, so that the first pull is the app's first read.
    { highWaterMark: lazy ? 0 : BODY_HIGH_WATER, size: (chunk) => chunk?.byteLength ?? 0 },
  )
  return {
    stream,
    get cancelled() {
      return cancelled
    },
    push(chunk) {
      if (done) return true
      controller.enqueue(chunk)
      return (controller.desiredSize ?? 0) > 0
    },
    end() {
      if (done) return
      done = true
      controller.close()
    },
    fail(error) {
      if (done) return
      done = true
      controller.error(error)
    },
  }
}

/**
 * The URL of a request: an origin-form target under the Host (RFC 9112 §3.3), an absolute-form
 * target as it is, and the root of the Host for the asterisk and authority forms.
 */
export function requestUrl(head: RequestHead, scheme: string): string {
  const target = head.target
  // An HTTP/1.0 request may come without a Host (RFC 9112 §3.2): the edge decides on it.
  if (target.charCodeAt(0) === 47 /* / */) return originOf(scheme, head.host) + target
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(target)) return target
  // Asterisk-form (OPTIONS *) and authority-form (CONNECT): no path to route by.
  return originOf(scheme, head.host) + '/'
}

/** The last origin {@link originOf} made, and what it was made of: a Host seldom changes. */
let lastScheme = ''
let lastHost: string | undefined = ''
let lastOrigin = ''

/** `scheme://host`, `localhost` standing in for a missing Host. */
function originOf(scheme: string, host: string | undefined): string {
  if (host !== lastHost || scheme !== lastScheme) {
    lastScheme = scheme
    lastHost = host
    lastOrigin = `${scheme}://${host || 'localhost'}`
  }
  return lastOrigin
}

/**
 * The `Request` the app sees, built from the parsed head without a `Request` or a `Headers`
 * object (each costs microseconds on the hot path, and the app reads a handful of fields): the
 * method and target as sent, the fields as a {@link FieldList}, the body stream. It is a
 * `Request` to `instanceof`; reading the body (`text()`, `json()`, …) works as on one, and
 * `signal` is made on first use, aborting when the client goes away. Like @hono/node-server's
 * request, with the head parsed by fulcrum's own parser.
 */
export class EngineRequest {
  readonly method: string
  readonly headers: FieldList
  readonly body: ReadableStream<Uint8Array> | null
  readonly #head: RequestHead
  readonly #scheme: string
  #url: string | undefined
  readonly #gone: LightSignal
  #signal: AbortSignal | undefined

  constructor(
    head: RequestHead,
    scheme: string,
    body: ReadableStream<Uint8Array> | null,
    gone: LightSignal,
  ) {
    this.method = head.method
    this.#head = head
    this.#scheme = scheme
    this.headers = FieldList.ofFields(head.fields)
    this.body = body
    this.#gone = gone
  }

  /**
   * The URL ({@link requestUrl}), made on first use: the app's path and target come from the
   * target itself ({@link requestPath}, {@link originTarget}), so most requests never need it.
   */
  get url(): string {
    return (this.#url ??= requestUrl(this.#head, this.#scheme))
  }

  /** The target as sent, when it is in origin-form (`/path?query`, RFC 9112 §3.2.1). */
  get originTarget(): string | undefined {
    const target = this.#head.target
    return target.charCodeAt(0) === 47 /* / */ ? target : undefined
  }

  /** Aborts when the client goes away before its answer is written. */
  get signal(): AbortSignal {
    if (this.#signal) return this.#signal
    const controller = new AbortController()
    const gone = this.#gone
    if (gone.aborted) controller.abort(gone.reason)
    else gone.addEventListener('abort', () => controller.abort(gone.reason))
    return (this.#signal = controller.signal)
  }

  get bodyUsed(): boolean {
    return this.body?.locked ?? false
  }

  get redirect(): RequestRedirect {
    return 'follow'
  }

  #read(): Response {
    return new Response(this.body)
  }

  text(): Promise<string> {
    return this.#read().text()
  }

  json(): Promise<unknown> {
    return this.#read().json()
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#read().arrayBuffer()
  }

  blob(): Promise<Blob> {
    return this.#read().blob()
  }

  formData(): Promise<FormData> {
    return new Response(this.body, {
      headers: { 'content-type': this.headers.get('content-type') ?? '' },
    }).formData()
  }
}
Object.setPrototypeOf(EngineRequest.prototype, Request.prototype)

/** Build the request the app sees. */
export function toRequest(
  head: RequestHead,
  scheme: string,
  body: ReadableStream<Uint8Array> | null,
  gone: LightSignal,
): Request {
  return new EngineRequest(head, scheme, body, gone) as unknown as Request
}

/**
 * The raw path and query of a request the engine made, when its target is in origin-form (the
 * URL's path and query, as sent); `undefined` for any other request.
 */
export function originTarget(request: Request): string | undefined {
  return request instanceof EngineRequest ? request.originTarget : undefined
}

/**
 * The request's path as Hono's `getPath` gives it (Hono's `getPath` option): for a request the
 * engine made with an origin-form target and no `%` in its path, the target up to its query,
 * without the URL built and scanned for it; otherwise Hono's own, which decodes `%` escapes.
 */
export function requestPath(request: Request): string {
  const target = originTarget(request)
  if (target === undefined) return getPath(request)
  for (let i = 0; i < target.length; i++) {
    const code = target.charCodeAt(i)
    if (code === 0x25 /* % */) return getPath(request)
    if (code === 0x3f /* ? */ || code === 0x23 /* # */) return target.slice(0, i)
  }
  return target
}
