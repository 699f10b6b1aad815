/**
 * The public Hono app: the route table picks the route (host, path, methods, headers; the first
 * match wins), the route picks the pool (or its split does), and the pool's proxy forwards. No
 * route is a JSON 404.
 */
import { Hono } from 'hono'
import { errorResponse } from './errors.ts'
import { acceptableRequestId } from './headers.ts'
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
const requestIdOf = (request: Request) =>
  acceptableRequestId(request.headers.get('x-request-id')) ?? crypto.randomUUID()

/** A fetch-shaped handler: what the runtime's server calls with each request. */
export type RouterHandler = (request: Request, env: unknown) => Response | Promise<Response>

/**
 * Build the public handler without Hono around it: the route's pool forwards the request, or a
 * JSON 404 answers it; an error is logged and answered 500, as the Hono app's `onError` does.
 * The app has one route (`*`), so Hono's router, `Context` and promise wrapping (two more
 * microtask turns a request) add nothing; this is what the public listener serves.
 *
 * @example
 * ```ts
 * const handler = createRouterHandler({ routes: () => table, pool: (name) => pools.get(name), logger })
 * serve({ fetch: handler }) // the runtime's server
 * ```
 */
export function createRouterHandler(options: RouterAppOptions): RouterHandler {
  const internalError = (error: unknown): Response => {
    options.logger.error('internal error', { error: String(error) })
    return errorResponse(500, 'Internal error', crypto.randomUUID())
  }
  return (request, env) => {
    try {
      const route = options.routes().match(request)
      const pool = route && options.pool(route.pool())
      if (!pool) {
        const requestId = requestIdOf(request)
        options.onUnrouted?.(request, requestId, env)
        return errorResponse(404, 'No route', requestId)
      }
      // The proxy answers its own failures; a rejection here is a bug, answered 500.
      return pool.proxy(request, env, route).catch(internalError)
    } catch (error) {
      return internalError(error)
    }
  }
}

/**
 * Build the public app: {@link createRouterHandler} as a Hono app (for `app.request()` in tests).
 *
 * @example
 * ```ts
 * const app = createRouterApp({ routes: () => table, pool: (name) => pools.get(name), logger })
 * serve({ fetch: app.fetch }) // the runtime's server
 * ```
 */
export function createRouterApp(options: RouterAppOptions): Hono {
  return honoAppOf(createRouterHandler(options))
}

/** `handler` as a Hono app: every request, whatever its method and path, goes to it. */
export function honoAppOf(handler: RouterHandler): Hono {
  const app = new Hono()
  app.all('*', (c) => handler(c.req.raw, c.env))
  return app
}
