/**
 * The pools: `GET /pools`, `GET /pools/:pool` (with a strong ETag) and
 * `PUT /pools/:pool/strategy` (`If-Match`: 412 when stale).
 */
import { Hono } from 'hono'
import * as z from 'zod'
import { configSchemas } from '../../config.ts'
import { AdminError } from '../admin-error.ts'
import type { ControlPlane } from '../control.ts'
import { parse, readJson } from './body.ts'
import type { AdminStore } from './store.ts'

/** The body of `PUT /strategy` and `PUT /pools/:pool/strategy`, built when one comes in. */
export function strategyBody() {
  const { StrategyName, StrategyOptionsSchema } = configSchemas()
  return z.strictObject({
    strategy: StrategyName,
    strategyOptions: StrategyOptionsSchema.optional(),
  })
}

/** The pool routes. */
export function poolRoutes(control: ControlPlane, store: AdminStore): Hono {
  const app = new Hono()
  app.get('/', (c) => c.json({ pools: control.pools() }))
  app.get('/:pool', (c) => {
    const pool = control.pool(c.req.param('pool'))
    if (!pool) throw new AdminError(404, `No pool ${c.req.param('pool')}`)
    c.header('etag', store.poolTag(pool.name))
    return c.json(pool)
  })
  app.put('/:pool/strategy', async (c) => {
    const name = c.req.param('pool')
    if (!control.pool(name)) throw new AdminError(404, `No pool ${name}`)
    const body = parse(strategyBody(), await readJson(c))
    await store.setStrategy(name, body.strategy, body.strategyOptions, c.req.header('if-match'))
    c.header('etag', store.poolTag(name))
    return c.json({ pool: name, strategy: control.pool(name)!.strategy })
  })
  return app
}
