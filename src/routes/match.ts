/**
 * How a route's conditions meet a request: its host (the table's key), host patterns, methods and
 * header fields. Host patterns follow nginx's `server_name` (exact, or `*.example.com` for any name
 * under it), case-insensitively and without the port (RFC 9110 §7.2: the Host field's host part).
 */
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
