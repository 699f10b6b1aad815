/**
 * The routes: `GET /routes` (match order, with an ETag) and `GET /routes/:name`, `PUT /routes`
 * (`If-Match` required, `?dryRun=true`) and `PATCH /routes/:name` (a split's weights, for a
 * rolling deploy; `If-Match` optional, 412 when stale).
 */
import { Hono } from 'hono'
import { AdminError } from '../admin-error.ts'
import type { ControlPlane } from '../control.ts'
import { flag, readJson, requireMatch } from './body.ts'
import type { AdminStore } from './store.ts'

/** The route routes. */
export function routeRoutes(control: ControlPlane, store: AdminStore): Hono {
  const app = new Hono()
  app.get('/', (c) => {
    c.header('etag', store.routesTag())
    return c.json({ routes: control.routes() })
  })
  app.put('/', async (c) => {
    const dryRun = flag(c, 'dryRun')
    requireMatch(c, store.routesTag(), dryRun, '/routes')
    const body = (await readJson(c)) as { routes?: unknown } | unknown[]
    const list = Array.isArray(body) ? body : body?.routes
    if (!Array.isArray(list)) throw new AdminError(400, 'routes: Expected an array')
    const routes = await store.setRoutes(list, dryRun, c.req.header('if-match'))
    c.header('etag', store.routesTag())
    return c.json({ dryRun, routes })
  })
  // One route: its ETag is the list's (the routes change together, in one key in a fleet).
  app.get('/:name', (c) => {
    const route = control.routes().find((r) => r.name === c.req.param('name'))
    if (!route) throw new AdminError(404, `No route ${c.req.param('name')}`)
    c.header('etag', store.routesTag())
    return c.json(route)
  })
  app.patch('/:name', async (c) => {
    const route = await store.patchRoute(
      c.req.param('name'),
      await readJson(c),
      c.req.header('if-match'),
    )
    c.header('etag', store.routesTag())
    return c.json(route)
  })
  return app
}
