/** Error types shared by the core and the runtimes, and fulcrum's JSON error responses. */

/**
 * The upstream connection could not be established (refused, unreachable, DNS, TLS handshake):
 * nothing of the request was sent, so it is always safe to try another backend. Each runtime's
 * upstream fetch throws this for connect-phase failures.
 */
export class UpstreamConnectError extends Error {
  override name = 'UpstreamConnectError'
}

/** The upstream did not answer within a deadline. */
export class UpstreamTimeoutError extends Error {
  override name = 'UpstreamTimeoutError'
}

/**
 * fulcrum's own error answer: JSON `{ "error", "requestId" }`, never cached.
 *
 * @example
 * ```ts
 * errorResponse(503, 'No backend available', id, { 'retry-after': '1' })
 * ```
 */
export function errorResponse(
  status: number,
  error: string,
  requestId: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error, requestId }), {
    status,
    headers: {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'x-request-id': requestId,
      ...headers,
    },
  })
}
