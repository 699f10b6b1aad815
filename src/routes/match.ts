/**
 * How a route's conditions meet a request: the routing path (`/host/path`) that Hono's router
 * matches host first, then path, and the Hono pattern each route compiles to. Host patterns follow
 * nginx's `server_name` (exact, or `*.example.com` for any name under it), case-insensitively and
 * without the port (RFC 9110 §7.2: the Host field's host part).
 */
import { getPath } from 'hono/utils/url'
import type { RouteMatch } from '../config-routes.ts'

/** The host key for a request with no usable Host: no host pattern matches it. */
const NO_HOST = '_'

/**
 * The request's host, lower-cased, without its port: the authority of the request URL (the engine
 * builds it from the Host field, RFC 9112 §3.2).
 */
export function hostOf(url: string): string {
  const start = url.indexOf('//') + 2
  let end = url.indexOf('/', start)
  if (end === -1) end = url.length
  // An IPv6 literal keeps its colons: cut after the bracket.
  const portAt =
    url.charCodeAt(start) === 0x5b ? url.indexOf(']', start) + 1 : url.indexOf(':', start)
  const host = url.slice(start, portAt > 0 && portAt < end ? portAt : end).toLowerCase()
  return host === '' || host.includes('/') ? NO_HOST : host
}

/**
 * What the router matches: `/` + host + the request's path (Hono's decoding, so `/%61pi` is
 * `/api`, and a route can't be dodged by percent-encoding).
 */
export function routingPath(request: Request): string {
  return '/' + hostOf(request.url) + getPath(request)
}

/** A host pattern as a Hono path segment: the literal name, or a parameter for a wildcard. */
function hostSegment(host: string | undefined): string {
  if (host === undefined) return ':host'
  if (!host.startsWith('*.')) return host
  // One label or more before the suffix, as nginx's `*.example.com`.
  const suffix = host.slice(1).replaceAll('.', '\\.')
  return `:host{[^/]+${suffix}}`
}

/**
 * The Hono pattern a route compiles to: host segment, then path (every path when none is given).
 *
 * @example
 * ```ts
 * honoPattern({ host: '*.example.com', path: '/shop/*' }) // '/:host{[^/]+\\.example\\.com}/shop/*'
 * ```
 */
export function honoPattern(match: RouteMatch | undefined): string {
  return '/' + hostSegment(match?.host) + (match?.path ?? '/*')
}

/** Whether a request's host meets a host pattern (for `/explain`, which checks one at a time). */
export function hostMatches(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined) return true
  if (!pattern.startsWith('*.')) return pattern === host
  return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1))
}

/** Whether the request carries the fields a route requires: an exact value, or `true` for any. */
export function headersMatch(required: RouteMatch['headers'], headers: Headers): boolean {
  if (required === undefined) return true
  for (const name in required) {
    const want = required[name]
    const value = headers.get(name)
    if (value === null || (want !== true && value !== want)) return false
  }
  return true
}

/** Whether a request's method meets a route's list. */
export function methodMatches(methods: readonly string[] | undefined, method: string): boolean {
  return methods === undefined || methods.includes(method)
}
