/** The pools: `GET /pools`, `GET /pools/:pool` and `PUT /pools/:pool/strategy`. */
import { Hono } from 'hono'
import { z } from 'zod'
import { StrategyName, StrategyOptionsSchema } from '../../config.ts'
import { AdminError } from '../admin-error.ts'
import type { ControlPlane } from '../control.ts'
import { parse, readJson } from './body.ts'

/** `PUT /strategy` and `PUT /pools/:pool/strategy`. */
export const StrategyBody = z.strictObject({
  strategy: StrategyName,
  strategyOptions: StrategyOptionsSchema.optional(),
})

/** The pool routes. */
export function poolRoutes(control: ControlPlane): Hono {
  const app = new Hono()
  app.get('/', (c) => c.json({ pools: control.pools() }))
  app.get('/:pool', (c) => {
    const pool = control.pool(c.req.param('pool'))
    if (!pool) throw new AdminError(404, `No pool ${c.req.param('pool')}`)
    return c.json(pool)
  })
  app.put('/:pool/strategy', async (c) => {
    const name = c.req.param('pool')
    const body = parse(StrategyBody, await readJson(c))
    control.setStrategy(body.strategy, body.strategyOptions, name)
    const pool = control.pool(name)!
    return c.json({ pool: name, strategy: pool.strategy })
  })
  return app
}
