/**
 * The admin Hono app: the REST API, `/metrics`, `/stats`, `/explain`, `/healthz` and the dashboard.
 * It is served on its own listener (default 127.0.0.1:9090), never on the public one. Every route
 * but `/healthz` and the dashboard's static shell needs the bearer token; every change is JSON
 * validated by the config schema, and a wrong field is answered 400 with its path.
 */
import { Hono, type Context } from 'hono'
import { VERSION } from '../cli.ts'
import { STRATEGY_NAMES, type Config } from '../config.ts'
import type { Metrics } from '../metrics.ts'
import type { RouteTable } from '../routes/table.ts'
import { isAvailable, type BackendPool, type BackendTransition } from '../pool.ts'
import type { StickySessions } from '../sticky.ts'
import type { Logger, RuntimeDeps } from '../types.ts'
import { adminGuard } from './auth.ts'
import { AdminError, type ControlPlane } from './control.ts'
import { backendRoutes } from './api/backends.ts'
import { flag, parse, readJson, requireMatch } from './api/body.ts'
import { poolRoutes, strategyBody } from './api/pools.ts'
import { routeRoutes } from './api/routes.ts'
import { fleetStore, localStore } from './api/store.ts'
import type { Fleet } from './cluster/fleet.ts'
import { DEFAULT_POOL } from '../config-routes.ts'
import { DASHBOARD_CSS } from './dashboard/style.ts'
import { DASHBOARD_HTML } from './dashboard/page.ts'
import { DASHBOARD_JS } from './dashboard/script.ts'
import { explain, type ExplainListener, type ExplainPool } from './explain.ts'
import {
  renderPrometheus,
  StatsSampler,
  type FleetView,
  type TelemetrySource,
} from './telemetry.ts'

/** Options for {@link createAdminApp}. */
export interface AdminAppOptions {
  readonly token: string
  readonly control: ControlPlane
  /** The pool `default`'s backend set. */
  readonly pool: BackendPool
  /** Every pool in service, for `/explain`, the metrics and the dashboard. */
  readonly pools?: () => ReadonlyMap<string, ExplainPool>
  /** The route table in force, for `/explain`. */
  readonly routes?: () => RouteTable
  /** The TCP listeners (`TcpService`s), for `/explain?listener=`, `/stats` and the metrics. */
  readonly tcp?: () => readonly ExplainListener[]
  /** Hear every pool's health transitions (else only the pool `default`'s are kept). */
  readonly watchTransitions?: (watcher: (pool: string, t: BackendTransition) => void) => void
  /** Fleet mode: admin writes go to etcd, and `/cluster` lists the members. */
  readonly fleet?: Fleet
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
  let transitions: (BackendTransition & { pool?: string })[] = []
  const keep = (t: BackendTransition & { pool?: string }) => {
    transitions = [t, ...transitions.slice(0, kept - 1)]
  }
  if (options.watchTransitions) options.watchTransitions((name, t) => keep({ ...t, pool: name }))
  else pool.watchTransitions(keep)
  const telemetry: TelemetrySource = {
    metrics,
    pool,
    poolOf: (name) => options.pools?.().get(name)?.pool,
    tcp: options.tcp,
    fleet: options.fleet && fleetView(options.fleet),
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
      isPublic: (path) =>
        path === '/healthz' || path === '/dashboard' || path.startsWith('/dashboard/'),
    }),
  )

  // ---- /healthz, for keepalived's track script and the like: no token, ok or not, no more ----
  // Ok: this instance can serve a request now, i.e. some pool has an available backend (healthy,
  // enabled, not draining, not ejected, circuit not open), as HAProxy's `monitor fail if
  // { nbsrv(…) lt 1 }`. A process that is gone or shutting down (the admin listener closes at the
  // first signal) does not answer at all, which `curl -f` counts as not ok too. Nothing else is
  // said: no version, no names, no counts.
  app.get('/healthz', (c) => {
    const pools = options.pools?.()
    const sets = pools ? [...pools.values()].map((p) => p.pool) : [pool]
    const ok = sets.some((set) => [...set.states()].some(isAvailable))
    c.header('content-type', 'text/plain; charset=utf-8')
    return c.body(ok ? 'ok\n' : 'not ok\n', ok ? 200 : 503)
  })

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
        'GET /pools',
        'GET /pools/:pool',
        'GET|POST /pools/:pool/backends',
        'GET|PATCH|DELETE /pools/:pool/backends/:id',
        'POST /pools/:pool/backends/:id/heartbeat',
        'PUT /pools/:pool/strategy',
        'GET /routes',
        'GET /routes/:name',
        'PUT /routes[?dryRun=true]',
        'PATCH /routes/:name',
        'GET /cluster',
        'GET /strategy',
        'PUT /strategy',
        'GET /config',
        'PUT /config[?dryRun=true]',
        'GET /explain?method=&path=&ip=&cookie=&header=',
        'GET /explain?listener=&ip= (or ?pool=&ip=)',
        'GET /metrics',
        'GET /stats',
        'GET /healthz',
        'GET /dashboard',
      ],
    }),
  )

  // ---- pools, backends, routes ----
  // `/backends` is the pool `default`, as before pools existed.
  // One instance writes to its control plane; a fleet member writes to etcd.
  const store = options.fleet ? fleetStore(options.fleet, control) : localStore(control)
  app.route(
    '/backends',
    backendRoutes(
      control,
      store,
      () => DEFAULT_POOL,
      () => '/backends',
    ),
  )
  app.route(
    '/pools/:pool/backends',
    backendRoutes(
      control,
      store,
      (c) => c.req.param('pool') ?? DEFAULT_POOL,
      (c) => `/pools/${encodeURIComponent(c.req.param('pool') ?? '')}/backends`,
    ),
  )
  app.route('/pools', poolRoutes(control, store))
  app.route('/routes', routeRoutes(control, store))

  // ---- the fleet ----
  app.get('/cluster', (c) => {
    const fleet = options.fleet
    if (!fleet) throw new AdminError(404, 'Not in a fleet: see cluster in the config')
    return c.json(fleetView(fleet)())
  })

  // ---- strategy and config ----
  app.get('/strategy', (c) =>
    c.json({
      strategy: control.config.strategy,
      strategyOptions: control.config.strategyOptions,
      available: STRATEGY_NAMES,
    }),
  )
  app.put('/strategy', async (c) => {
    const body = parse(strategyBody(), await readJson(c))
    await store.setStrategy(
      DEFAULT_POOL,
      body.strategy,
      body.strategyOptions,
      c.req.header('if-match'),
    )
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
    const dryRun = flag(c, 'dryRun')
    if (options.fleet && !dryRun) {
      throw new AdminError(
        409,
        'In a fleet, etcd holds backends, routes and strategies: change them through /pools, ' +
          "/backends and /routes; the rest of the config is each instance's config file",
      )
    }
    // RFC 9110 §13.1.1: the change applies only to the version the writer read.
    requireMatch(c, control.etag(), dryRun, '/config')
    const body = await readJson(c)
    const changes = control.replaceConfig(body, dryRun)
    c.header('etag', control.etag())
    return c.json({ dryRun, changes })
  })

  // ---- observability ----
  app.get('/explain', async (c) => {
    const { config, sticky } = options.selection()
    const pools = options.pools?.()
    return c.json(
      await explain(new URL(c.req.url).searchParams, {
        pool,
        config,
        sticky,
        routes: options.routes?.(),
        pools: pools && ((name) => pools.get(name)),
        tcp: options.tcp?.(),
      }),
    )
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

/** What `/cluster`, `/stats` and `/metrics` show of the fleet. */
function fleetView(fleet: Fleet): () => FleetView {
  return () => ({
    name: fleet.name,
    connected: fleet.connected,
    revision: fleet.revision,
    members: fleet.members(),
  })
}
