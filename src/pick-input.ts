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
  return new RequestPickInput(request, target, clientIp)
}

/**
 * {@link createPickInput}'s keys: one object whose keys are getters and methods, not closures
 * and slices made for every request (round robin asks for none of them).
 */
class RequestPickInput implements PickInput {
  readonly #request: Request
  readonly #target: string
  #cookies: Map<string, string> | undefined

  constructor(
    request: Request,
    target: string,
    readonly clientIp: string | undefined,
  ) {
    this.#request = request
    this.#target = target
  }

  get path(): string {
    const target = this.#target
    const queryAt = target.indexOf('?')
    return queryAt === -1 ? target : target.slice(0, queryAt)
  }

  get query(): string {
    const target = this.#target
    const queryAt = target.indexOf('?')
    return queryAt === -1 ? '' : target.slice(queryAt + 1)
  }

  header(name: string): string | null {
    return this.#request.headers.get(name)
  }

  cookie(name: string): string | undefined {
    this.#cookies ??= parseCookieHeader(this.#request.headers.get('cookie'))
    return this.#cookies.get(name)
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
