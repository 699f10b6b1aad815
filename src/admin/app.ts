/**
 * The admin Hono app: the REST API, `/metrics`, `/stats`, `/explain` and the dashboard. It is served
 * on its own listener (default 127.0.0.1:9090), never on the public one. Every route but the
 * dashboard's static shell needs the bearer token; every change is JSON validated by the config
 * schema, and a wrong field is answered 400 with its path.
 */
import { Hono, type Context } from 'hono'
import { z } from 'zod'
import { VERSION } from '../cli.ts'
import {
  describeIssues,
  PatchBackendSchema,
  RegisterBackendSchema,
  StrategyName,
  StrategyOptionsSchema,
  type Config,
} from '../config.ts'
import type { Metrics } from '../metrics.ts'
import type { BackendPool, BackendTransition } from '../pool.ts'
import type { StickySessions } from '../sticky.ts'
import type { Logger, RuntimeDeps } from '../types.ts'
import { adminGuard } from './auth.ts'
import { AdminError, type ControlPlane } from './control.ts'
import { DASHBOARD_CSS } from './dashboard/style.ts'
import { DASHBOARD_HTML } from './dashboard/page.ts'
import { DASHBOARD_JS } from './dashboard/script.ts'
import { explain } from './explain.ts'
import { renderPrometheus, StatsSampler, type TelemetrySource } from './telemetry.ts'

/** Options for {@link createAdminApp}. */
export interface AdminAppOptions {
  readonly token: string
  readonly control: ControlPlane
  readonly pool: BackendPool
  readonly metrics: Metrics
  readonly deps: Pick<RuntimeDeps, 'memoryUsage' | 'openConnections'>
  readonly logger: Logger
  /** The config and sticky layer in force, for `/explain`. */
  readonly selection: () => { config: Config; sticky: StickySessions | undefined }
  /** Requests waiting in the queue, where there is one. */
  readonly queueDepth?: () => number
  /** Health transitions kept for `/stats` and the dashboard. @default 50 */
  readonly transitionsKept?: number
  /** @default Date.now */
  readonly now?: () => number
}

/** Bodies larger than this are refused (413). */
const MAX_BODY = 1024 * 1024

const StrategyBody = z.strictObject({
  strategy: StrategyName,
  strategyOptions: StrategyOptionsSchema.optional(),
})

const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ')

/**
 * Build the admin app.
 *
 * @example
 * ```ts
 * const admin = createAdminApp({ token, control, pool, metrics, deps, logger, selection })
 * serve({ hostname: '127.0.0.1', port: 9090, fetch: admin.fetch }) // the runtime's server
 * ```
 */
export function createAdminApp(options: AdminAppOptions): Hono {
  const { control, pool, metrics, logger } = options
  const now = options.now ?? Date.now
  const startedAt = now()
  const kept = options.transitionsKept ?? 50
  let transitions: BackendTransition[] = []
  pool.watchTransitions((t) => {
    transitions = [t, ...transitions.slice(0, kept - 1)]
  })
  const telemetry: TelemetrySource = {
    metrics,
    pool,
    control,
    deps: options.deps,
    queueDepth: options.queueDepth,
    transitions: () => transitions,
    version: VERSION,
    startedAt,
    now,
  }
  const sampler = new StatsSampler()

  const app = new Hono()
  app.use('*', async (c, next) => {
    await next()
    c.res.headers.set('x-content-type-options', 'nosniff')
    c.res.headers.set('referrer-policy', 'no-referrer')
    c.res.headers.set('x-frame-options', 'DENY')
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store')
  })
  app.use(
    '*',
    adminGuard({
      token: options.token,
      allowedHosts: control.config.admin.allowedHosts,
      isPublic: (path) => path === '/dashboard' || path.startsWith('/dashboard/'),
    }),
  )

  app.get('/', (c) =>
    c.json({
      name: 'fulcrum admin',
      version: VERSION,
      routes: [
        'GET /backends',
        'POST /backends',
        'GET /backends/:id',
        'PATCH /backends/:id',
        'DELETE /backends/:id[?force=true]',
        'POST /backends/:id/heartbeat',
        'GET /strategy',
        'PUT /strategy',
        'GET /config',
        'PUT /config[?dryRun=true]',
        'GET /explain?method=&path=&ip=&cookie=&header=',
        'GET /metrics',
        'GET /stats',
        'GET /dashboard',
      ],
    }),
  )

  // ---- backends ----
  app.get('/backends', (c) => c.json({ backends: control.backends() }))
  app.get('/backends/:id', (c) => {
    const backend = control.backend(c.req.param('id'))
    if (!backend) throw new AdminError(404, `No backend ${c.req.param('id')}`)
    return c.json(backend)
  })
  app.post('/backends', async (c) => {
    const body = parse(RegisterBackendSchema, await readJson(c))
    const { created, backend } = control.register(body)
    if (created) c.header('location', `/backends/${encodeURIComponent(backend.id)}`)
    return c.json(backend, created ? 201 : 200)
  })
  app.patch('/backends/:id', async (c) => {
    const body = parse(PatchBackendSchema, await readJson(c))
    return c.json(control.patch(c.req.param('id'), body))
  })
  app.delete('/backends/:id', (c) => {
    const force = c.req.query('force')
    if (force !== undefined && force !== 'true' && force !== 'false') {
      throw new AdminError(400, 'force: Expected true or false')
    }
    const id = c.req.param('id')
    const result = control.remove(id, force === 'true')
    return result === 'removed'
      ? c.json({ id, removed: true })
      : c.json({ id, removed: false, draining: true, backend: control.backend(id) }, 202)
  })
  app.post('/backends/:id/heartbeat', async (c) => {
    await readJson(c, true)
    return c.json({ id: c.req.param('id'), lease: control.heartbeat(c.req.param('id')) })
  })

  // ---- strategy and config ----
  app.get('/strategy', (c) =>
    c.json({
      strategy: control.config.strategy,
      strategyOptions: control.config.strategyOptions,
      available: StrategyName.options,
    }),
  )
  app.put('/strategy', async (c) => {
    const body = parse(StrategyBody, await readJson(c))
    control.setStrategy(body.strategy, body.strategyOptions)
    return c.json({
      strategy: control.config.strategy,
      strategyOptions: control.config.strategyOptions,
    })
  })
  app.get('/config', (c) => {
    c.header('etag', control.etag())
    return c.json(control.configView())
  })
  app.put('/config', async (c) => {
    const dryRun = c.req.query('dryRun')
    if (dryRun !== undefined && dryRun !== 'true' && dryRun !== 'false') {
      throw new AdminError(400, 'dryRun: Expected true or false')
    }
    // RFC 9110 §13.1.1: the change applies only to the version the writer read.
    const ifMatch = c.req.header('if-match')
    if (ifMatch === undefined && dryRun !== 'true') {
      throw new AdminError(428, 'Send If-Match with the ETag of GET /config (or *)')
    }
    if (ifMatch !== undefined && !matches(ifMatch, control.etag())) {
      c.header('etag', control.etag())
      throw new AdminError(412, 'The config changed since it was read: GET it again')
    }
    const body = await readJson(c)
    const changes = control.replaceConfig(body, dryRun === 'true')
    c.header('etag', control.etag())
    return c.json({ dryRun: dryRun === 'true', changes })
  })

  // ---- observability ----
  app.get('/explain', async (c) => {
    const { config, sticky } = options.selection()
    return c.json(await explain(new URL(c.req.url).searchParams, { pool, config, sticky }))
  })
  app.get(
    '/metrics',
    () =>
      new Response(renderPrometheus(telemetry), {
        headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' },
      }),
  )
  app.get('/stats', (c) => c.json(sampler.stats(telemetry)))

  // ---- dashboard (static shell: no data, no token needed; the data calls need the token) ----
  const asset = (body: string, type: string) => (c: Context) => {
    c.header('content-type', type)
    c.header('content-security-policy', DASHBOARD_CSP)
    c.header('cache-control', 'no-cache')
    return c.body(body)
  }
  app.get('/dashboard', asset(DASHBOARD_HTML, 'text/html; charset=utf-8'))
  app.get('/dashboard/app.js', asset(DASHBOARD_JS, 'text/javascript; charset=utf-8'))
  app.get('/dashboard/app.css', asset(DASHBOARD_CSS, 'text/css; charset=utf-8'))

  app.notFound((c) => c.json({ error: `No route ${c.req.method} ${c.req.path}` }, 404))
  app.onError((error, c) => {
    if (error instanceof AdminError) {
      return c.json(
        { error: error.message, ...(error.issues ? { issues: error.issues } : {}) },
        error.status as 400,
      )
    }
    logger.error('admin: internal error', { error: String((error as Error)?.stack ?? error) })
    return c.json({ error: 'Internal error' }, 500)
  })
  return app
}

/** Validate a body with a zod schema; a wrong field is a 400 naming its path. */
function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  const issues = describeIssues(result.error.issues)
  throw new AdminError(
    400,
    issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('\n'),
    issues,
  )
}

/**
 * The request's JSON body. Only `application/json` is accepted: a cross-site form cannot send it
 * without a CORS preflight, which this API never grants.
 *
 * @param optional an empty body is `{}`
 */
async function readJson(c: Context, optional = false): Promise<unknown> {
  if (Number(c.req.header('content-length') ?? 0) > MAX_BODY) {
    throw new AdminError(413, `The body exceeds ${MAX_BODY} bytes`)
  }
  const text = await c.req.text()
  if (text.length > MAX_BODY) throw new AdminError(413, `The body exceeds ${MAX_BODY} bytes`)
  if (text.trim() === '' && optional) return {}
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new AdminError(415, 'Expected Content-Type: application/json')
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new AdminError(400, `Invalid JSON: ${(error as Error).message}`)
  }
}

/** Whether an If-Match value matches `etag` (RFC 9110 §13.1.1: strong comparison, or `*`). */
function matches(ifMatch: string, etag: string): boolean {
  return ifMatch
    .split(',')
    .map((tag) => tag.trim())
    .some((tag) => tag === '*' || tag === etag)
}
