/**
 * The `--demo` backends: tiny handlers that answer with their own name, so that a newcomer sees
 * the balancing at once. Each runtime serves them with its own server on loopback.
 */

/** Names of the demo backends. */
export const DEMO_NAMES = ['demo-1', 'demo-2', 'demo-3'] as const

/**
 * A demo backend: `GET /health` answers 200 `ok`; anything else answers with the backend's name,
 * the method and the path.
 *
 * @example
 * ```ts
 * serve({ port: 0, fetch: demoBackend('demo-1') }) // the runtime's server
 * ```
 */
export function demoBackend(name: string): (request: Request) => Response {
  return (request) => {
    const url = new URL(request.url)
    if (url.pathname === '/health') return new Response('ok\n')
    return new Response(`Hello from ${name}: ${request.method} ${url.pathname}${url.search}\n`, {
      headers: { 'content-type': 'text/plain; charset=utf-8', 'x-backend': name },
    })
  }
}
