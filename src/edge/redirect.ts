/**
 * The plain-HTTP listener that sends every client to HTTPS: 301 for GET and HEAD, 308 for the
 * other methods so that they keep their method and body (RFC 9110 §15.4.2, §15.4.9). It never
 * sends HSTS, which only counts over HTTPS (RFC 6797 §7.2).
 */
import { errorResponse } from '../errors.ts'
import { requestIdFrom } from '../request-id.ts'
import { requestTarget, validateRequest, type HeadLimits } from './validate.ts'
import type { RawRequestHead } from '../types.ts'

/** Options for {@link createRedirectHandler}. */
export interface RedirectOptions {
  /** The public HTTPS port; omitted from the location when it is 443. */
  httpsPort: number
  limits: HeadLimits
  rawHead?: (request: Request, env: unknown) => RawRequestHead | undefined
}

/**
 * Build the handler.
 *
 * @example
 * ```ts
 * serve({ port: 80, fetch: createRedirectHandler({ httpsPort: 443, limits }) })
 * ```
 */
export function createRedirectHandler(
  options: RedirectOptions,
): (request: Request, env: unknown) => Response {
  return (request, env) => {
    const head = options.rawHead?.(request, env)
    const rejection = validateRequest(request, head, options.limits)
    const requestId = requestIdFrom(request.headers.get('x-request-id'))
    if (rejection) {
      return errorResponse(rejection.status, rejection.error, requestId, {
        ...rejection.headers,
        ...(rejection.close ? { connection: 'close' } : {}),
      })
    }
    const url = new URL(request.url)
    const port = options.httpsPort === 443 ? '' : `:${options.httpsPort}`
    // The path and query as sent; an absolute-form target was checked to name this host.
    let target = requestTarget(request, head)
    if (!target.startsWith('/')) target = url.pathname + url.search
    const location = `https://${url.hostname}${port}${target}`
    const status = request.method === 'GET' || request.method === 'HEAD' ? 301 : 308
    return new Response(null, { status, headers: { location, 'cache-control': 'no-store' } })
  }
}
