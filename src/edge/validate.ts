/**
 * Strict input: the semantic checks on a request that fulcrum's HTTP/1.1 parser
 * (src/http1/parser.ts) has framed, or that a runtime's HTTP/2 server has decoded: limits, Host,
 * the target's form, methods, expectations. HTTP/1.1 heads are checked raw (duplicates and the
 * target as sent); HTTP/2 requests on the `Request` the runtime built, where duplicates arrive
 * merged into one comma-separated value and fail the same checks.
 */
import { PARSER_FRAMED } from '../http1/request.ts'
import type { RawRequestHead } from '../types.ts'

/** The limits {@link validateRequest} enforces. */
export interface HeadLimits {
  /** Request line plus field lines, in bytes. */
  readonly maxHeaderBytes: number
  readonly maxHeaderCount: number
  readonly maxUriLength: number
  /** 0 for none. */
  readonly maxBodySize: number
}

/** Why a request is refused at the edge. */
export interface Rejection {
  readonly status: number
  readonly error: string
  /**
   * Close the connection after the answer: the message framing can't be trusted (RFC 9112 §6.3)
   * or its body will not be read.
   */
  readonly close: boolean
  readonly headers?: Readonly<Record<string, string>>
}

/** `token` (RFC 9110 §5.6.2): field names and methods. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/**
 * What a field value must not hold (RFC 9110 §5.5): NUL, CR, LF, the other controls except HTAB,
 * and DEL. obs-text (0x80–0xFF) stays allowed.
 */
// eslint-disable-next-line no-control-regex -- the controls are what it looks for
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/
/**
 * `Host = uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): an IP literal in brackets or a
 * reg-name. Percent-encoding and the comma (two merged Host fields) are refused.
 */
const HOST = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9._~!$&'()*+;=-]{1,253})(?::\d{0,5})?$/
/** A raw request target may hold only visible ASCII (RFC 9112 §3.2, RFC 3986 §2). */
const TARGET_CHARS = /^[\x21-\x7e]+$/
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//
const DECIMAL = /^\d+$/

/** The last Host that {@link HOST} accepted: a client's requests repeat it, and need no test. */
let lastValidHost: string | undefined

/**
 * Methods a load balancer must not relay. TRACE echoes the request, cookies and credentials
 * included (cross-site tracing); TRACK is IIS's TRACE. 405 needs an `Allow` list (RFC 9110
 * §15.5.6).
 */
const isNotAllowed = (method: string): boolean => method === 'TRACE' || method === 'TRACK'
const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS'

/** The request's target: the raw one where known, else the path and query of its URL. */
export function requestTarget(request: Request, head: RawRequestHead | undefined): string {
  if (head) return head.target
  const url = request.url
  const at = url.indexOf('//')
  if (at === -1) return url
  const pathAt = url.indexOf('/', at + 2)
  return pathAt === -1 ? '/' : url.slice(pathAt)
}

const reject = (
  status: number,
  error: string,
  close = false,
  headers?: Record<string, string>,
): Rejection => ({ status, error, close, headers })

/**
 * Check one request. Returns why it is refused, or `undefined` when it may pass.
 *
 * @example
 * ```ts
 * const rejection = validateRequest(request, deps.rawHead?.(request, env), config.limits)
 * if (rejection) return errorResponse(rejection.status, rejection.error, id)
 * ```
 */
export function validateRequest(
  request: Request,
  head: RawRequestHead | undefined,
  limits: HeadLimits,
): Rejection | undefined {
  const method = request.method
  const target = requestTarget(request, head)
  // RFC 9112 §3: a server answers a too-long request-target with 414.
  if (target.length > limits.maxUriLength) return reject(414, 'URI too long', true)
  if (method === 'CONNECT') return reject(501, 'CONNECT is not supported')
  if (isNotAllowed(method)) return reject(405, `${method} is not allowed`, false, { allow: ALLOW })
  // A head the engine's parser framed has token names and methods, field values without
  // controls and a visible-ASCII target already: only the counts and the semantics remain.
  const framed = head !== undefined && PARSER_FRAMED in head
  if (!framed && !TOKEN.test(method)) return reject(400, 'Invalid method', true)

  const h2 = head?.version === '2.0'
  let count = 0
  // The request line, then each field line with its ": " and CRLF.
  let bytes = method.length + target.length + 12
  let hosts = 0
  let lengths = 0
  let codings = 0
  // The values of the four fields read below, joined as `Headers.get` joins them: taken in this
  // loop from an engine head (its request's fields are these very lines), else read afterwards.
  let host: string | null = null
  let length: string | null = null
  let coding: string | null = null
  let expect: string | null = null
  // Field lines as `[name, value, …]`: the raw head's, or those of the `Request` (HTTP/2).
  const raw = head ? head.headers : fieldLines(request.headers)
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!
    const value = raw[i + 1]!
    // HTTP/2 pseudo-header fields were checked by the runtime's HTTP/2 layer.
    if (h2 && name.startsWith(':')) continue
    count++
    bytes += name.length + value.length + 4
    if (!framed) {
      if (!TOKEN.test(name)) return reject(400, 'Invalid header name', true)
      if (BAD_VALUE.test(value)) return reject(400, `Invalid character in ${name}`, true)
    }
    // Only these four names matter here (4, 14, 17 and 6 characters).
    const size = name.length
    if (size !== 4 && size !== 14 && size !== 17 && size !== 6) continue
    const lower = name.toLowerCase()
    if (lower === 'host') {
      hosts++
      host = joined(host, value)
    } else if (lower === 'content-length') {
      lengths++
      length = joined(length, value)
    } else if (lower === 'transfer-encoding') {
      codings++
      coding = joined(coding, value)
    } else if (lower === 'expect') expect = joined(expect, value)
  }
  // RFC 6585 §5: 431 for header fields that are too large, singly or together.
  if (count > limits.maxHeaderCount) return reject(431, 'Too many header fields', true)
  if (bytes + 2 > limits.maxHeaderBytes) return reject(431, 'Header fields too large', true)

  if (!framed) {
    const headers = request.headers
    host = headers.get('host')
    length = headers.get('content-length')
    coding = headers.get('transfer-encoding')
    expect = headers.get('expect')
  }
  // RFC 9112 §3.2: exactly one Host field in HTTP/1.1; HTTP/2 carries :authority instead.
  if (hosts > 1) return reject(400, 'Duplicate Host header', true)
  if (host === null) {
    // Without the raw head (Deno), HTTP/2 can't be told from HTTP/1.1: an HTTP/2 request carries
    // :authority, never Host. Over TLS, where Deno offers h2, the URL's authority stands in.
    const maybeH2 = h2 || (!head && request.url.startsWith('https:'))
    if (!maybeH2) return reject(400, 'Missing Host header', true)
  } else if (host !== lastValidHost) {
    if (!HOST.test(host)) return reject(400, 'Invalid Host header', true)
    lastValidHost = host
  }
  const targetProblem = checkTarget(request, head, target, host)
  if (targetProblem) return targetProblem

  // Framing (RFC 9112 §6.1, §6.3). Each of these closes: the body's end can't be trusted.
  if (lengths > 1) return reject(400, 'Duplicate Content-Length', true)
  if (codings > 1) return reject(400, 'Duplicate Transfer-Encoding', true)
  if (coding !== null) {
    if (length !== null) return reject(400, 'Both Content-Length and Transfer-Encoding', true)
    if (head?.version === '1.0') return reject(400, 'Transfer-Encoding in HTTP/1.0', true)
    const list = coding
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter(Boolean)
    if (list.at(-1) !== 'chunked') return reject(400, 'Transfer-Encoding must end in chunked', true)
    if (list.indexOf('chunked') !== list.length - 1) {
      return reject(400, 'Transfer-Encoding repeats chunked', true)
    }
    // RFC 9112 §6.1: a transfer coding the server does not understand is 501.
    if (list.length > 1) return reject(501, 'Unsupported transfer coding', true)
  } else if (length !== null) {
    if (!DECIMAL.test(length)) return reject(400, 'Invalid Content-Length', true)
    if (limits.maxBodySize > 0 && (length.length > 15 || Number(length) > limits.maxBodySize)) {
      return reject(413, 'Request body too large', true)
    }
  }

  // RFC 9110 §10.1.1: the only expectation is 100-continue; any other is 417.
  if (expect !== null && expect.trim().toLowerCase() !== '100-continue') {
    return reject(417, 'Unsupported expectation')
  }
  return undefined
}

/** `value` after `prior`, as `Headers.get` joins the values of one name (RFC 9110 §5.3). */
function joined(prior: string | null, value: string): string {
  return prior === null ? value : `${prior}, ${value}`
}

/** The fields of `headers` as `[name, value, …]`, in the order they iterate. */
function fieldLines(headers: Headers): string[] {
  const lines: string[] = []
  for (const [name, value] of headers) lines.push(name, value)
  return lines
}

/**
 * The target's own checks: no fragment (it never leaves the client, RFC 9110 §7.1), nothing but
 * visible ASCII, and an absolute-form target must name the request's own host (RFC 9112 §3.2.2:
 * its authority overrides Host, so a mismatch would route by one name and serve another).
 */
function checkTarget(
  request: Request,
  head: RawRequestHead | undefined,
  target: string,
  host: string | null,
): Rejection | undefined {
  if (target.includes('#')) return reject(400, 'Fragment in request target', true)
  if (head) {
    if (!(PARSER_FRAMED in head) && !TARGET_CHARS.test(target)) {
      return reject(400, 'Invalid request target', true)
    }
    // Origin-form as received needs nothing more; asterisk-form only with OPTIONS (§3.2.4).
    if (target[0] === '/') return undefined
    if (!ABSOLUTE_FORM.test(target)) {
      return target === '*' && request.method === 'OPTIONS'
        ? undefined
        : reject(400, 'Invalid request target', true)
    }
  } else if (host !== null && authorityOf(request.url) === host) {
    // The runtime built the URL from this very Host: nothing to compare.
    return undefined
  }
  let url: URL
  try {
    url = new URL(head ? target : request.url)
  } catch {
    return reject(400, 'Invalid request target', true)
  }
  if (host === null) return undefined
  let own: string
  try {
    own = new URL(`${url.protocol}//${host}`).host
  } catch {
    return reject(400, 'Invalid Host header', true)
  }
  return url.host === own ? undefined : reject(400, 'Request target names another host', true)
}

/** The authority of an absolute URL as written (`host[:port]`), without parsing it. */
function authorityOf(url: string): string {
  const start = url.indexOf('//') + 2
  const end = url.indexOf('/', start)
  return end === -1 ? url.slice(start) : url.slice(start, end)
}
