/**
 * The routes: `GET /routes` (match order, with an ETag), `PUT /routes` (`If-Match`,
 * `?dryRun=true`) and `PATCH /routes/:name` (a split's weights, for a rolling deploy).
 */
import { Hono } from 'hono'
import type { ControlPlane } from '../control.ts'
import { flag, readJson, requireMatch } from './body.ts'

/** The route routes. */
export function routeRoutes(control: ControlPlane): Hono {
  const app = new Hono()
  app.get('/', (c) => {
    c.header('etag', control.routesEtag())
    return c.json({ routes: control.routes() })
  })
  app.put('/', async (c) => {
    const dryRun = flag(c, 'dryRun')
    requireMatch(c, control.routesEtag(), dryRun, '/routes')
    const body = (await readJson(c)) as { routes?: unknown } | unknown[]
    const routes = control.replaceRoutes(Array.isArray(body) ? body : body?.routes, dryRun)
    c.header('etag', control.routesEtag())
    return c.json({ dryRun, routes })
  })
  app.patch('/:name', async (c) => {
    if (c.req.header('if-match') !== undefined)
      requireMatch(c, control.routesEtag(), false, '/routes')
    const route = control.patchRoute(c.req.param('name'), await readJson(c))
    c.header('etag', control.routesEtag())
    return c.json(route)
  })
  return app
}
