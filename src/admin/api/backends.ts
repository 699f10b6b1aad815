/**
 * The backends of a pool: list, register (with an optional TTL lease), change, drain and remove,
 * and heartbeats. Mounted at `/backends` (the pool `default`) and `/pools/:pool/backends`.
 */
import { Hono, type Context } from 'hono'
import { PatchBackendSchema, RegisterBackendSchema } from '../../config.ts'
import { AdminError } from '../admin-error.ts'
import type { PoolMembers } from '../pool-members.ts'
import { flag, parse, readJson } from './body.ts'

/**
 * The backend routes over the members `membersOf` picks for a request.
 *
 * @param base the path the routes are mounted at, for `Location`
 */
export function backendRoutes(
  membersOf: (c: Context) => PoolMembers,
  base: (c: Context) => string,
): Hono {
  const app = new Hono()
  app.get('/', (c) => c.json({ backends: membersOf(c).backends() }))
  app.get('/:id', (c) => {
    const backend = membersOf(c).backend(c.req.param('id'))
    if (!backend) throw new AdminError(404, `No backend ${c.req.param('id')}`)
    return c.json(backend)
  })
  app.post('/', async (c) => {
    const members = membersOf(c)
    const body = parse(RegisterBackendSchema, await readJson(c))
    const { created, backend } = members.register(body)
    if (created) c.header('location', `${base(c)}/${encodeURIComponent(backend.id)}`)
    return c.json(backend, created ? 201 : 200)
  })
  app.patch('/:id', async (c) => {
    const members = membersOf(c)
    const body = parse(PatchBackendSchema, await readJson(c))
    return c.json(members.patch(c.req.param('id'), body))
  })
  app.delete('/:id', (c) => {
    const members = membersOf(c)
    const force = flag(c, 'force')
    const id = c.req.param('id')
    const result = members.remove(id, force)
    return result === 'removed'
      ? c.json({ id, removed: true })
      : c.json({ id, removed: false, draining: true, backend: members.backend(id) }, 202)
  })
  app.post('/:id/heartbeat', async (c) => {
    const members = membersOf(c)
    await readJson(c, true)
    return c.json({ id: c.req.param('id'), lease: members.heartbeat(c.req.param('id')) })
  })
  return app
}
