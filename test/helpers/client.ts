/**
 * A raw HTTP(S) client for end-to-end tests, on `node:http`/`node:https`: it sends the request
 * target and headers exactly as given (no URL normalisation, no added `Accept-Encoding`) and
 * returns the raw response header lines and undecoded body bytes.
 */
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'

/** A response as it arrived on the wire. */
export interface RawResponse {
  status: number
  /** Raw header pairs, in order: [name, value, name, value, …] */
  rawHeaders: string[]
  headers: IncomingMessage['headers']
  /** The body bytes, undecoded. */
  body: Buffer
}

/** What to send. */
export interface RawRequest {
  /** @default 'GET' */
  method?: string
  /** The request target, sent byte for byte. @default '/' */
  path?: string
  /** Header values given as arrays are sent as repeated field lines. */
  headers?: OutgoingHttpHeaders
  body?: Buffer | string
  /** The PEM certificate to trust for https; without it, any certificate is accepted. */
  ca?: string
}

/** Send one request to `base` (`http://127.0.0.1:PORT` or `https://…`) on a fresh connection. */
export function send(base: string, req: RawRequest = {}): Promise<RawResponse> {
  const { hostname, port, protocol } = new URL(base)
  const secure = protocol === 'https:'
  return new Promise((resolve, reject) => {
    const options = {
      hostname,
      port,
      method: req.method ?? 'GET',
      path: req.path ?? '/',
      headers: withLength(req.headers ?? {}, req.body),
      agent: false as const,
      ...(secure
        ? req.ca
          ? { ca: req.ca, servername: 'localhost' }
          : { rejectUnauthorized: false, servername: 'localhost' }
        : {}),
    }
    const request = (secure ? httpsRequest : httpRequest)(options, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.once('error', reject)
      response.once('end', () =>
        resolve({
          status: response.statusCode!,
          rawHeaders: response.rawHeaders,
          headers: response.headers,
          body: Buffer.concat(chunks),
        }),
      )
    })
    request.once('error', reject)
    request.end(req.body)
  })
}

/**
 * Give a body its Content-Length: `node:http` frames a DELETE or OPTIONS body with neither
 * Content-Length nor chunked encoding, which a server then reads as the next request.
 */
function withLength(headers: OutgoingHttpHeaders, body: Buffer | string | undefined) {
  const names = Object.keys(headers).map((name) => name.toLowerCase())
  if (body === undefined || names.includes('content-length') || names.includes('transfer-encoding'))
    return headers
  return { ...headers, 'content-length': Buffer.byteLength(body) }
}

/** Every value of header `name` in raw header pairs, in order (case-insensitive name). */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = []
  const wanted = name.toLowerCase()
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() === wanted) values.push(rawHeaders[i + 1]!)
  }
  return values
}

/** Every header name in raw header pairs, lower-cased. */
export function headerNames(rawHeaders: readonly string[]): string[] {
  return rawHeaders.filter((_, i) => i % 2 === 0).map((name) => name.toLowerCase())
}

/**
 * The list members of header `name`: every field line split at commas (RFC 9110 §5.3 lets a
 * proxy combine repeated field lines into one, comma-separated).
 */
export function listMembers(rawHeaders: readonly string[], name: string): string[] {
  return headerValues(rawHeaders, name)
    .flatMap((value) => value.split(','))
    .map((member) => member.trim())
    .filter(Boolean)
}
