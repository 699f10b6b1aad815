/**
 * `createBalancer` wires the pools, the route table, the control plane and the public app together.
 * The runtime entry points call it and serve `fetch`.
 */
import type { Hono } from 'hono'
import { AccessLog } from './access-log.ts'
import { createAdminApp } from './admin/app.ts'
import { canonicalJson, ControlPlane, type ConfigChanges } from './admin/control.ts'
import { DEFAULT_POOL } from './config-routes.ts'
import { poolConfigOf, type Config } from './config.ts'
import { createEdge, type Edge } from './edge/edge.ts'
import type { WebSocketRouting } from './websocket.ts'
import { errorResponse } from './errors.ts'
import { createJsonLogger } from './log.ts'
import type { BackendPool, BackendTransition } from './pool.ts'
import { backendKey, Metrics } from './metrics.ts'
import { createObserver } from './observer.ts'
import { createRouterApp } from './router-app.ts'
import { RouteTable } from './routes/table.ts'
import { ServicePool } from './service-pool.ts'
import { TcpService } from './tcp/service.ts'
import { Fleet } from './admin/cluster/fleet.ts'
import { VERSION } from './cli.ts'
import { requestIdFrom } from './request-id.ts'
import { base64url, type StickySessions } from './sticky.ts'
import type { Logger, RuntimeDeps } from './types.ts'

/** A running balancer's parts. */
export interface Balancer {
  /** The public app, without the edge: tests drive it with `app.request()`. */
  readonly app: Hono
  /** The route table in force. */
  readonly routes: RouteTable
  /** The pools in service, by name; `default` is always there. */
  readonly pools: ReadonlyMap<string, ServicePool>
  /** The layer-4 listeners' services, one per `tcp` entry: the runtime listens for them. */
  readonly tcp: readonly TcpService[]
  /** Fleet mode (`cluster`): the etcd mirror this instance applies, and writes through. */
  readonly fleet: Fleet | undefined
  /** What the public listener serves: the edge (limits, access, rate limit), then the app. */
  readonly fetch: (request: Request, env: unknown) => Response | Promise<Response>
  /** The edge in front of the app. */
  readonly edge: Edge
  /**
   * WebSocket handshakes: the backend choice (same strategy, sticky and health as HTTP) and the
   * open WebSockets, which count as load and which drain and shutdown close with 1001.
   */
  readonly webSockets: WebSocketRouting
  /**
   * The admin app (REST API, metrics, dashboard): serve it on its own listener, never on the
   * public one. `undefined` when `admin.enabled` is false.
   */
  readonly admin: Hono | undefined
  /** The admin bearer token: the configured one, or one generated at start. */
  readonly adminToken: string | undefined
  /** Whether {@link adminToken} was generated (the runtime prints it, once). */
  readonly adminTokenGenerated: boolean
  /** Every change at run time goes through it: the admin API, leases, discovery, reloads. */
  readonly control: ControlPlane
  readonly metrics: Metrics
  /** The pool `default`'s backend set. */
  readonly pool: BackendPool
  /** The pool `default`'s sticky-session layer, when `sticky.enabled`. */
  readonly sticky: StickySessions | undefined
  /** The effective config: as started, with every change made since. */
  readonly config: Config
  readonly logger: Logger
  /** Start the active health checks and DNS discovery of every pool. */
  start(): void
  /**
   * Stop the health checks and discovery, flush the access log, write the state file; in-flight
   * requests are left to finish.
   */
  stop(): Promise<void>
  /**
   * Restore `admin.stateFile`, when it exists. Call it before serving.
   *
   * @throws {ConfigError} naming the state file when it is not valid
   */
  restoreState(): Promise<boolean>
  /** Swap in a new, validated config (a reload): see {@link ControlPlane.applyConfig}. */
  reload(config: Config): ConfigChanges
  /** Requests in flight to any backend, response bodies included. */
  inflight(): number
}

/**
 * Build a balancer from a validated config and the runtime's dependencies.
 *
 * @example
 * ```ts
 * const balancer = createBalancer(parseConfig({ backends: ['http://127.0.0.1:9001'] }), deps)
 * balancer.start()
 * serve({ fetch: balancer.app.fetch }) // the runtime's server
 * ```
 */
export function createBalancer(config: Config, deps: RuntimeDeps): Balancer {
  const logger = deps.logger ?? createJsonLogger()
  const metrics = new Metrics()
  const accessLog = config.accessLog.enabled
    ? new AccessLog({
        write: deps.accessLog ?? ((lines) => console.log(lines.trimEnd())),
        format: config.accessLog.format,
        flushInterval: config.accessLog.flushInterval,
        bufferSize: config.accessLog.bufferSize,
      })
    : undefined
  const observer = createObserver(metrics, accessLog)
  const transitionWatchers = new Set<(pool: string, t: BackendTransition) => void>()
  // The edge reads the config in force (a reload replaces it) and re-creates some requests, so
  // the pools ask the edge for their client address.
  const edge = createEdge({
    config: () => control.config,
    deps,
    logger,
    // In a fleet, rate limits without a live shared store are split across the live members.
    members: config.cluster ? () => Math.max(1, fleet?.members().length ?? 1) : undefined,
  })
  const poolDeps: RuntimeDeps = { ...deps, clientAddress: edge.clientAddress }
  const pools = new Map<string, ServicePool>()
  let table = new RouteTable(config.routes)
  let started = false

  const control = new ControlPlane({
    config,
    deps,
    logger,
    core: {
      openPool(name, settings) {
        const service = new ServicePool({
          name,
          config: settings,
          deps: poolDeps,
          logger,
          edge,
          observer: createObserver(metrics, accessLog, name),
        })
        service.pool.watchTransitions((t) => {
          if (t.to === 'ejected') metrics.backend(backendKey(name, t.id)).ejections++
          else if (t.to === 'removed') {
            metrics.forget(backendKey(name, t.id))
            // A removed backend's relayed connections go with it (after its drain).
            for (const listener of tcp)
              if (listener.config.pool === name) listener.closeBackend(t.id)
          }
          for (const watcher of transitionWatchers) watcher(name, t)
        })
        pools.set(name, service)
        if (started) service.start()
        return service.pool
      },
      reconfigure(previous, next) {
        for (const [name, service] of [...pools]) {
          const settings = poolConfigOf(next, name)
          if (settings) {
            service.configure(settings)
          } else {
            pools.delete(name)
            void service.retire()
          }
        }
        if (canonicalJson(previous.routes) !== canonicalJson(next.routes)) {
          table = new RouteTable(next.routes, table)
        }
      },
    },
  })
  const defaultPool = () => pools.get(DEFAULT_POOL)!

  // Layer 4: each listener relays to its pool, read per connection (a reload may replace it).
  const tcp: TcpService[] = config.tcp.map(
    (listener) =>
      new TcpService({
        config: listener,
        pool: () => {
          const service = pools.get(listener.pool)
          return (
            service && {
              name: service.name,
              pool: service.pool,
              selector: service.selector,
              connectTimeout: service.config.timeouts.connect,
            }
          )
        },
        connect: deps.connect ?? refuseConnect,
        logger,
        metrics,
        accessLog,
      }),
  )

  const app = createRouterApp({
    routes: () => table,
    pool: (name) => pools.get(name),
    logger,
    onUnrouted: (request, requestId, env) => {
      observer.done({
        time: Date.now(),
        requestId,
        client: edge.clientAddress(request, env),
        method: request.method,
        target: request.url.slice(request.url.indexOf('/', request.url.indexOf('//') + 2)),
        host: request.headers.get('host') ?? undefined,
        status: 404,
        bytes: 0,
        backend: undefined,
        upstreamMs: undefined,
        totalMs: 0,
        retries: 0,
        sticky: 'none',
        userAgent: request.headers.get('user-agent') ?? undefined,
        referer: request.headers.get('referer') ?? undefined,
      })
    },
  })

  // WebSocket handshakes take the same routes as HTTP requests.
  const webSockets: WebSocketRouting = {
    get size() {
      let open = 0
      for (const service of pools.values()) open += service.webSockets.size
      return open
    },
    async open(request, env) {
      const route = table.match(request)
      const service = route && pools.get(route.pool())
      if (!service) {
        return errorResponse(404, 'No route', requestIdFrom(request.headers.get('x-request-id')))
      }
      return service.webSockets.open(request, env)
    },
    closeAll(code, reason) {
      let closed = 0
      for (const service of pools.values()) closed += service.webSockets.closeAll(code, reason)
      return closed
    },
  }

  const fleet = config.cluster
    ? new Fleet({
        cluster: config.cluster,
        control,
        logger,
        runtime: deps.runtime ?? 'unknown',
        version: VERSION,
      })
    : undefined

  const configuredToken = config.admin.token
  const adminToken = config.admin.enabled
    ? (configuredToken ?? base64url(crypto.getRandomValues(new Uint8Array(24))))
    : undefined
  const admin =
    adminToken === undefined
      ? undefined
      : createAdminApp({
          token: adminToken,
          control,
          pool: defaultPool().pool,
          pools: () => pools,
          routes: () => table,
          tcp: () => tcp,
          watchTransitions: (watcher) => transitionWatchers.add(watcher),
          fleet,
          metrics,
          deps,
          logger,
          selection: () => ({ config: control.config, sticky: defaultPool().sticky }),
          // The request queues the pools keep.
          queueDepth: () => {
            let depth = 0
            for (const service of pools.values()) depth += service.queueDepth
            return depth
          },
        })

  return {
    get app() {
      return app
    },
    get routes() {
      return table
    },
    pools,
    tcp,
    fleet,
    edge,
    webSockets,
    fetch: (request, env) => edge.handle(request, env, app.fetch),
    admin,
    adminToken,
    adminTokenGenerated: adminToken !== undefined && configuredToken === undefined,
    control,
    metrics,
    get pool() {
      return defaultPool().pool
    },
    get sticky() {
      return defaultPool().sticky
    },
    get config() {
      return control.config
    },
    logger,
    start() {
      const empty =
        config.tcp.length === 0 && [...pools.values()].every((service) => service.pool.size === 0)
      const discovering = [...pools.values()].some((s) => s.config.discovery.length > 0)
      if (empty && !discovering) {
        logger.warn('no backends configured: answering 503 until backends are added', {})
      }
      started = true
      for (const service of pools.values()) service.start()
      control.start()
      void fleet?.start()
    },
    async stop() {
      started = false
      await Promise.all([
        ...[...pools.values()].map((s) => s.stop()),
        control.stop(),
        fleet?.stop(),
      ])
      edge.close()
      accessLog?.flush()
    },
    restoreState: () => control.restore(),
    reload: (next) => control.applyConfig(next),
    inflight() {
      let total = 0
      for (const service of pools.values()) total += service.inflight()
      return total
    },
  }
}

/** Without a runtime's `connect`, layer-4 connections fail (unit tests that serve no TCP). */
const refuseConnect = () => Promise.reject(new Error('This runtime gave no connect'))
