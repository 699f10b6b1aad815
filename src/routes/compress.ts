/**
 * Per-route gzip response compression (`"compress": true` on a route), like nginx `gzip on` with
 * `gzip_vary on` or Traefik's compress middleware. Web APIs only (`CompressionStream`, `Headers`,
 * `Response`), so it runs unchanged on every runtime. The body is streamed through the
 * compressor, never buffered.
 */

/** Options for {@link compressResponse}. */
export interface CompressOptions {
  /**
   * Bodies whose `Content-Length` is below this many bytes are sent as they are: gzip's 18-byte
   * frame and the CPU cost outweigh the gain (Traefik's `minResponseBodyBytes`). A body without
   * `Content-Length` (streamed, chunked) is always compressed.
   *
   * @default 1024
   */
  minLength?: number
}

/** What {@link compressResponse} reads from the request. */
export interface CompressRequest {
  method: string
  headers: Headers
}

const DEFAULT_MIN_LENGTH = 1024

/**
 * Media types that are not compressed. They are already compressed, so gzip only costs CPU
 * (nginx's `gzip_types` and Cloudflare's lists leave them out), or compressing them breaks them:
 *
 * - `text/event-stream`: `CompressionStream` has no flush, so events would sit in the
 *   compressor's window instead of reaching the client (Traefik excludes it too).
 * - `application/grpc`: gRPC has its own per-message compression and framing (Traefik excludes
 *   it by default).
 * - `application/octet-stream`: arbitrary bytes, in practice mostly downloads of archives and
 *   media; nginx does not compress it by default either.
 */
const INCOMPRESSIBLE_TYPES = new Set([
  'application/gzip',
  'application/x-gzip',
  'application/zip',
  'application/x-zip-compressed',
  'application/zstd',
  'application/x-bzip2',
  'application/x-xz',
  'application/x-7z-compressed',
  'application/vnd.rar',
  'application/x-rar-compressed',
  'application/java-archive',
  'application/pdf',
  'application/octet-stream',
  'application/grpc',
  'application/font-woff',
  'font/woff',
  'font/woff2',
  'text/event-stream',
])

/** Whole top-level types whose common formats are compressed (JPEG, PNG, WebP, MP4, MP3 …). */
const INCOMPRESSIBLE_TOP_LEVEL = ['image/', 'video/', 'audio/']

/** Exceptions to {@link INCOMPRESSIBLE_TOP_LEVEL}: text (SVG) and raw bitmaps (BMP, ICO). */
const COMPRESSIBLE_IMAGES = new Set([
  'image/svg+xml',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
])

/**
 * Zip containers (OOXML, OpenDocument), the structured-syntax suffixes `+zip` (RFC 6839 §3.6, for
 * example EPUB) and `+gzip` (RFC 8460 §6.4), and the gRPC subtypes (`application/grpc+proto`).
 */
const INCOMPRESSIBLE_PREFIXES = [
  'application/vnd.openxmlformats-officedocument.',
  'application/vnd.oasis.opendocument.',
  'application/grpc+',
]
const INCOMPRESSIBLE_SUFFIXES = ['+zip', '+gzip']

/**
 * Response fields that carry a digest of the bytes on the wire, which gzip would change: RFC 9530
 * `Content-Digest` and `Repr-Digest` (both cover the content coding), RFC 3230 `Digest` and RFC
 * 1864 `Content-MD5`. A backend that sends one wants its bytes checked, so they are left alone.
 */
const DIGEST_FIELDS = ['content-digest', 'repr-digest', 'digest', 'content-md5']

/** qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ) (RFC 9110 §12.4.2). */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/
/** token (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** entity-tag = [ weak ] opaque-tag (RFC 9110 §8.8.3); `W/` is case-sensitive. */
const ENTITY_TAG = /^(W\/)?"[\x21\x23-\x7e\x80-\xff]*"$/

/**
 * Compress a response with gzip when the route asks for it and the exchange allows it.
 *
 * It returns `response` itself, untouched, when the response is not a candidate: a `HEAD`
 * request, no body (1xx, 204, 205, 304), `Cache-Control: no-transform` on either side, a
 * `Content-Encoding` other than `identity`, a `Content-Range` or 206, a digest field, a
 * `Content-Length` below `minLength` or malformed, no `Content-Type` (its bytes can't be judged
 * without sniffing, which would mean buffering) or an already compressed type.
 *
 * A candidate whose client does not accept gzip is returned with `Vary: Accept-Encoding` added
 * and nothing else changed, since the choice of representation depended on that field
 * (RFC 9110 §12.5.5; nginx's `gzip_vary` does the same).
 *
 * Otherwise it returns a new Response with the same status, status text and fields, and a body
 * piped through `CompressionStream('gzip')`, with `Content-Encoding: gzip`, no `Content-Length`
 * (the engine frames it chunked), no `Accept-Ranges`, `Accept-Encoding` in `Vary` and a strong
 * `ETag` made weak.
 *
 * Either way the caller must use the returned Response: a new one owns `response.body`.
 *
 * @example
 * ```ts
 * const upstream = await fetch(backendUrl)
 * return route.compress ? compressResponse(request, upstream) : upstream
 * ```
 * @throws RangeError when `minLength` is not a non-negative integer
 */
export function compressResponse(
  request: CompressRequest,
  response: Response,
  options: CompressOptions = {},
): Response {
  const minLength = options.minLength ?? DEFAULT_MIN_LENGTH
  if (!Number.isSafeInteger(minLength) || minLength < 0) {
    throw new RangeError(`minLength must be a non-negative integer, got ${minLength}`)
  }
  if (!isCandidate(request, response, minLength)) return response
  const headers = new Headers(response.headers) // keeps each Set-Cookie field separate
  if (!acceptsGzip(request.headers.get('accept-encoding'))) {
    return addVary(headers) ? rebuild(response, response.body, headers) : response
  }
  headers.set('content-encoding', 'gzip')
  // The length and byte ranges were those of the identity content.
  headers.delete('content-length')
  headers.delete('accept-ranges')
  addVary(headers)
  weakenETag(headers)
  const body = response.body!.pipeThrough(new CompressionStream('gzip'))
  return rebuild(response, body, headers)
}

/**
 * Whether an `Accept-Encoding` value (RFC 9110 §12.5.3) accepts gzip: `gzip` (or its alias
 * `x-gzip`, RFC 9110 §8.4.1.3), or else `*`, with a non-zero qvalue, and not below the qvalue the
 * client gives `identity` (by name, or else by `*`). Codings and `q` are case-insensitive; an
 * element with a malformed qvalue is ignored.
 *
 * No field at all also means no compression, as in nginx and Traefik: RFC 9110 would allow any
 * coding, but clients that send nothing are mostly scripts and probes that can't decode it. An
 * empty field refuses every coding (RFC 9110 §12.5.3).
 *
 * @example
 * ```ts
 * acceptsGzip('br;q=1, gzip;q=0.8') // true
 * acceptsGzip('*, gzip;q=0') // false: the named coding overrides `*`
 * ```
 */
export function acceptsGzip(acceptEncoding: string | null): boolean {
  if (acceptEncoding === null) return false
  let gzip: number | undefined
  let star: number | undefined
  let identity: number | undefined
  for (const element of splitList(acceptEncoding)) {
    const [name = '', ...params] = element.split(';').map((part) => part.trim())
    const coding = name.toLowerCase()
    if (!TOKEN.test(coding)) continue
    let q: number | undefined = 1
    for (const param of params) {
      const eq = param.indexOf('=')
      if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
      const value = param.slice(eq + 1).trim()
      q = QVALUE.test(value) ? Number(value) : undefined
    }
    if (q === undefined) continue
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, q)
    else if (coding === '*') star = Math.max(star ?? 0, q)
    else if (coding === 'identity') identity = Math.max(identity ?? 0, q)
  }
  // The most specific entry wins; "If multiple content codings are acceptable, then the
  // acceptable content coding with the highest non-zero qvalue is preferred" (§12.5.3). On a tie
  // the proxy prefers gzip.
  const gzipQ = gzip ?? star ?? 0
  return gzipQ > 0 && gzipQ >= (identity ?? star ?? 0)
}

/** Everything but the client's `Accept-Encoding`: may this response be compressed at all? */
function isCandidate(request: CompressRequest, response: Response, minLength: number): boolean {
  const headers = response.headers
  // A HEAD response has no body to encode (RFC 9110 §9.3.2).
  if (request.method.toUpperCase() === 'HEAD') return false
  // 1xx, 204, 205 and 304 have no content (RFC 9110 §6.4.1, §15.3.6); a Response can't even be
  // built with a 1xx status, and the others come with a null body.
  if (response.body === null || [204, 205, 304].includes(response.status)) return false
  // A proxy MUST NOT transform the content when either side says no-transform
  // (RFC 9111 §5.2.1.6 for requests, §5.2.2.6 for responses).
  if (hasNoTransform(request.headers) || hasNoTransform(headers)) return false
  // Already encoded: never encode twice, never decode (DESIGN.md: compression only applies to
  // identity responses). The field lists codings in the order applied (RFC 9110 §8.4).
  const encoding = headers.get('content-encoding')
  if (encoding !== null && splitList(encoding).some((c) => c.toLowerCase() !== 'identity')) {
    return false
  }
  // A range is a slice of the identity bytes (RFC 9110 §14.4, §15.3.7).
  if (response.status === 206 || headers.has('content-range')) return false
  if (DIGEST_FIELDS.some((name) => headers.has(name))) return false
  const length = contentLength(headers.get('content-length'))
  if (length === 'invalid' || (length !== undefined && length < minLength)) return false
  return isCompressibleType(headers.get('content-type'))
}

/** Whether a `Content-Type` names a known media type that is worth compressing. */
function isCompressibleType(contentType: string | null): boolean {
  // media-type = type "/" subtype parameters (RFC 9110 §8.3.1); names are case-insensitive.
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase()
  if (!type.includes('/')) return false
  if (INCOMPRESSIBLE_TYPES.has(type)) return false
  if (INCOMPRESSIBLE_TOP_LEVEL.some((top) => type.startsWith(top))) {
    return COMPRESSIBLE_IMAGES.has(type)
  }
  if (INCOMPRESSIBLE_PREFIXES.some((prefix) => type.startsWith(prefix))) return false
  return !INCOMPRESSIBLE_SUFFIXES.some((suffix) => type.endsWith(suffix))
}

/**
 * The `Content-Length`, `undefined` when absent, or `'invalid'`. A list of identical values is
 * one value (RFC 9110 §8.6).
 */
function contentLength(value: string | null): number | 'invalid' | undefined {
  if (value === null) return undefined
  const values = value.split(',').map((v) => v.trim())
  if (!values.every((v) => /^\d+$/.test(v) && v === values[0])) return 'invalid'
  return Number(values[0])
}

/** Whether `Cache-Control` has the `no-transform` directive (RFC 9111 §5.2). */
function hasNoTransform(headers: Headers): boolean {
  const value = headers.get('cache-control')
  if (value === null) return false
  return splitList(value).some((d) => d.split('=')[0]!.trim().toLowerCase() === 'no-transform')
}

/**
 * Add `Accept-Encoding` to `Vary` (RFC 9110 §12.5.5), unless it is there already or `Vary` is
 * `*`, which already covers every field.
 *
 * @returns whether `headers` changed
 */
function addVary(headers: Headers): boolean {
  const vary = headers.get('vary')
  const names = vary === null ? [] : splitList(vary).map((n) => n.toLowerCase())
  if (names.includes('*') || names.includes('accept-encoding')) return false
  headers.set('vary', names.length > 0 ? `${vary}, Accept-Encoding` : 'Accept-Encoding')
  return true
}

/**
 * Make a strong `ETag` weak: the gzip bytes are not the identity bytes, so byte-range and other
 * strong comparisons must not match (RFC 9110 §8.8.1, §8.8.3). A malformed `ETag` is removed,
 * as nginx does, since it can't be marked weak.
 */
function weakenETag(headers: Headers): void {
  const etag = headers.get('etag')
  if (etag === null) return
  const match = ENTITY_TAG.exec(etag.trim())
  if (match === null) headers.delete('etag')
  else if (match[1] === undefined) headers.set('etag', `W/${etag.trim()}`)
}

/**
 * Split a comma-separated list (RFC 9110 §5.6.1) into its non-empty, trimmed elements, leaving
 * commas inside quoted strings (§5.6.4) alone.
 */
function splitList(value: string): string[] {
  const elements: string[] = []
  let current = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const char = value[i]!
    if (quoted && char === '\\') {
      current += char + (value[i + 1] ?? '')
      i++
      continue
    }
    if (char === '"') quoted = !quoted
    if (char === ',' && !quoted) {
      elements.push(current)
      current = ''
    } else {
      current += char
    }
  }
  elements.push(current)
  return elements.map((e) => e.trim()).filter((e) => e !== '')
}

/** A Response with `response`'s status and status text, and the given body and fields. */
function rebuild(response: Response, body: BodyInit | null, headers: Headers): Response {
  return new Response(body, { status: response.status, statusText: response.statusText, headers })
}
