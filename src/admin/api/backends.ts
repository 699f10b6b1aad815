/**
 * The backends of a pool: list, register (with an optional TTL lease), change, drain and remove,
 * and heartbeats. Mounted at `/backends` (the pool `default`) and `/pools/:pool/backends`. Each
 * backend answers `GET` with a strong ETag; `PATCH` and `DELETE` with a stale `If-Match` get 412.
 */
import { Hono, type Context } from 'hono'
import { configSchemas } from '../../config.ts'
import { AdminError } from '../admin-error.ts'
import type { ControlPlane } from '../control.ts'
import { flag, parse, readJson } from './body.ts'
import type { AdminStore } from './store.ts'

/**
 * The backend routes of the pool `poolOf` names for a request.
 *
 * @param base the path the routes are mounted at, for `Location`
 */
export function backendRoutes(
  control: ControlPlane,
  store: AdminStore,
  poolOf: (c: Context) => string,
  base: (c: Context) => string,
): Hono {
  const app = new Hono()
  /** The members of the request's pool (404 for an unknown pool). */
  const members = (c: Context) => control.members(poolOf(c))
  const tagged = (c: Context, id: string) => {
    const tag = store.backendTag(poolOf(c), id)
    if (tag) c.header('etag', tag)
  }
  app.get('/', (c) => c.json({ backends: members(c).backends() }))
  app.get('/:id', (c) => {
    const id = c.req.param('id')
    const backend = members(c).backend(id)
    if (!backend) throw new AdminError(404, `No backend ${id}`)
    tagged(c, id)
    return c.json(backend)
  })
  app.post('/', async (c) => {
    members(c)
    const body = parse(configSchemas().RegisterBackendSchema, await readJson(c))
    const { created, backend } = await store.register(poolOf(c), body)
    if (created) c.header('location', `${base(c)}/${encodeURIComponent(backend.id)}`)
    tagged(c, backend.id)
    return c.json(backend, created ? 201 : 200)
  })
  app.patch('/:id', async (c) => {
    members(c)
    const id = c.req.param('id')
    const body = parse(configSchemas().PatchBackendSchema, await readJson(c))
    const backend = await store.patch(poolOf(c), id, body, c.req.header('if-match'))
    tagged(c, id)
    return c.json(backend)
  })
  app.delete('/:id', async (c) => {
    const pool = members(c)
    const force = flag(c, 'force')
    const id = c.req.param('id')
    const result = await store.remove(poolOf(c), id, force, c.req.header('if-match'))
    return result === 'removed'
      ? c.json({ id, removed: true })
      : c.json({ id, removed: false, draining: true, backend: pool.backend(id) }, 202)
  })
  app.post('/:id/heartbeat', async (c) => {
    members(c)
    await readJson(c, true)
    const id = c.req.param('id')
    return c.json({ id, lease: await store.heartbeat(poolOf(c), id) })
  })
  return app
}
