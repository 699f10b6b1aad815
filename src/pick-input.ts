import type { PickInput } from './strategies/strategy.ts'

/**
 * The hash keys of one request, each computed only when a strategy asks for it.
 *
 * @param target the raw path and query
 */
export function createPickInput(
  request: Request,
  target: string,
  clientIp: string | undefined,
): PickInput {
  const queryAt = target.indexOf('?')
  let cookies: Map<string, string> | undefined
  return {
    clientIp,
    path: queryAt === -1 ? target : target.slice(0, queryAt),
    query: queryAt === -1 ? '' : target.slice(queryAt + 1),
    header: (name) => request.headers.get(name),
    cookie(name) {
      cookies ??= parseCookieHeader(request.headers.get('cookie'))
      return cookies.get(name)
    },
  }
}

/** Parse a `Cookie` header (RFC 6265 §5.4); the first occurrence of a name wins. */
export function parseCookieHeader(header: string | null): Map<string, string> {
  const cookies = new Map<string, string>()
  if (!header) return cookies
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=')
    if (eq === -1) continue
    const name = pair.slice(0, eq).trim()
    if (name && !cookies.has(name)) cookies.set(name, pair.slice(eq + 1).trim())
  }
  return cookies
}
