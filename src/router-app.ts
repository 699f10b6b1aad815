/**
 * The public Hono app: the route table picks the route (host, path, methods, headers; the first
 * match wins), the route picks the pool (or its split does), and the pool's proxy forwards. No
 * route is a JSON 404.
 */
import { Hono } from 'hono'
import { catchAllFirst } from './catch-all-router.ts'
import { errorResponse } from './errors.ts'
import { requestPath } from './http1/request.ts'
import { requestIdFrom } from './request-id.ts'
import type { RouteTable } from './routes/table.ts'
import type { ServicePool } from './service-pool.ts'
import type { Logger } from './types.ts'

/** What the app reads per request; getters, so that a reload or an admin change takes effect. */
export interface RouterAppOptions {
  routes: () => RouteTable
  pool: (name: string) => ServicePool | undefined
  logger: Logger
  /** Told of each request no route took, with the runtime's `env` (for the client address). */
  onUnrouted?: (request: Request, requestId: string, env: unknown) => void
}

/** The id of an answer fulcrum gives itself: the client's `X-Request-Id` when sane, else new. */
const requestIdOf = (request: Request) => requestIdFrom(request.headers.get('x-request-id'))

/**
 * Build the public app.
 *
 * @example
 * ```ts
 * const app = createRouterApp({ routes: () => table, pool: (name) => pools.get(name), logger })
 * serve({ fetch: app.fetch }) // the runtime's server
 * ```
 */
export function createRouterApp(options: RouterAppOptions): Hono {
  // Every request takes the one catch-all route: matched by method, no RegExp (catch-all-router.ts),
  // and the path of an engine request is read off its target (requestPath).
  const app = new Hono({ router: catchAllFirst(), getPath: requestPath })
  app.all('*', (c) => {
    const request = c.req.raw
    const route = options.routes().match(request)
    const pool = route && options.pool(route.pool())
    if (!pool) {
      const requestId = requestIdOf(request)
      options.onUnrouted?.(request, requestId, c.env)
      return errorResponse(404, 'No route', requestId)
    }
    return pool.proxy(request, c.env, route)
  })
  app.onError((error, c) => {
    options.logger.error('internal error', { error: String(error) })
    return errorResponse(500, 'Internal error', requestIdOf(c.req.raw))
  })
  return app
}
