/**
 * The admin API's guard: Host and Origin checks against DNS rebinding and cross-site requests, and
 * a bearer token (RFC 6750) compared in constant time. A token in the query string is refused: URLs
 * end up in logs, histories and Referer headers.
 */
import type { MiddlewareHandler } from 'hono'

/** Options for {@link adminGuard}. */
export interface AdminGuardOptions {
  /** The bearer token. */
  readonly token: string
  /** Host names allowed besides IP literals and `localhost`. @default [] */
  readonly allowedHosts?: readonly string[]
  /**
   * Paths served without the token to `GET` and `HEAD` (`/healthz`, which says only ok or not, and
   * the dashboard's static shell, which holds no data). Host and Origin are checked all the same.
   */
  readonly isPublic?: (path: string) => boolean
}

/** Query parameters that look like credentials (RFC 6750 §2.3 names `access_token`). */
const TOKEN_PARAMS = ['access_token', 'token', 'bearer', 'auth', 'authorization', 'api_key', 'key']

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

const encoder = new TextEncoder()

/**
 * Compare a presented token with the expected one in time that depends on neither's length or
 * content: both are MACed under a random per-process key and the fixed-length MACs compared.
 */
export function createTokenCheck(expected: string): (presented: string) => Promise<boolean> {
  const key = crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = async (text: string) =>
    new Uint8Array(await crypto.subtle.sign('HMAC', await key, encoder.encode(text)))
  const expectedMac = mac(expected)
  return async (presented) => {
    const [a, b] = await Promise.all([expectedMac, mac(presented)])
    let diff = 0
    for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
    return diff === 0
  }
}

/** The host name of a `Host` header value, lowercased, without port or IPv6 brackets. */
export function hostName(host: string): string {
  const value = host.trim().toLowerCase()
  if (value.startsWith('[')) return value.slice(1, value.indexOf(']'))
  const colon = value.lastIndexOf(':')
  return colon === -1 ? value : value.slice(0, colon)
}

/**
 * Whether the admin API answers to `host`. IP literals and `localhost` are safe: DNS rebinding
 * needs a name the attacker controls. Any other name must be allowed explicitly.
 */
export function isAllowedHost(host: string, allowed: readonly string[] = []): boolean {
  const name = hostName(host)
  if (name === '') return false
  if (IPV4.test(name) || name.includes(':')) return true
  if (name === 'localhost' || name.endsWith('.localhost')) return true
  return allowed.some((a) => a.toLowerCase() === name)
}

function deny(status: number, error: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
  })
}

const CHALLENGE = 'Bearer realm="fulcrum admin"'

/**
 * The guard, as Hono middleware: Host, then Origin, then (except on public paths) the token.
 *
 * @example
 * ```ts
 * admin.use('*', adminGuard({ token }))
 * ```
 */
export function adminGuard(options: AdminGuardOptions): MiddlewareHandler {
  const check = createTokenCheck(options.token)
  return async (c, next) => {
    const host = c.req.header('host')
    if (!host || !isAllowedHost(host, options.allowedHosts)) {
      return deny(403, 'Host not allowed: add it to admin.allowedHosts (DNS rebinding protection)')
    }
    // Browsers send Origin on cross-origin requests and on every unsafe method: it must be us.
    const origin = c.req.header('origin')
    if (origin !== undefined) {
      let sameOrigin = false
      try {
        sameOrigin = new URL(origin).host === host.toLowerCase()
      } catch {
        // "null" or garbage: not us
      }
      if (!sameOrigin) return deny(403, 'Cross-origin request refused')
    }
    if (c.req.header('sec-fetch-site') === 'cross-site') {
      return deny(403, 'Cross-site request refused')
    }
    const read = c.req.method === 'GET' || c.req.method === 'HEAD'
    if (read && options.isPublic?.(c.req.path)) return next()

    const query = new URL(c.req.url).searchParams
    if (TOKEN_PARAMS.some((name) => query.has(name))) {
      return deny(401, 'Send the token in the Authorization header, not in the query string', {
        'www-authenticate': `${CHALLENGE}, error="invalid_request"`,
      })
    }
    const authorization = c.req.header('authorization')
    const match = authorization === undefined ? null : /^Bearer +(\S+) *$/i.exec(authorization)
    if (!match) {
      return deny(401, 'Missing bearer token: send Authorization: Bearer <token>', {
        'www-authenticate': CHALLENGE,
      })
    }
    if (!(await check(match[1]!))) {
      return deny(401, 'Invalid token', {
        'www-authenticate': `${CHALLENGE}, error="invalid_token"`,
      })
    }
    return next()
  }
}
