/**
 * The control plane: every change made to a running fulcrum goes through here, whether it comes
 * from the admin API, a TTL lease that lapsed, DNS discovery or a config reload. It keeps the
 * effective config (what `GET /config` shows), applies a new one pool by pool (the members of
 * each are a {@link PoolMembers}), changes routes and strategies, and persists admin changes to
 * the state file.
 */
import * as z from 'zod'
import {
  ConfigError,
  configSchemas,
  describeIssues,
  poolConfigOf,
  poolNames,
  type Config,
  type StrategyName,
  type StrategyOptions,
} from '../config.ts'
import { DEFAULT_POOL } from '../config-routes.ts'
import { fnv1a64Hex } from '../hash.ts'
import type { BackendPool } from '../pool.ts'
import type { Logger, RuntimeDeps } from '../types.ts'
import { AdminError, invalid } from './admin-error.ts'
import type { BackendView } from './backend-view.ts'
import { redactSecrets, restoreSecrets, RESTART_SECTIONS, toConfigInput } from './config-input.ts'
import { PoolMembers } from './pool-members.ts'
import { parseStateFile, StateFileWriter, type StateFile } from './state-file.ts'

/**
 * What `PATCH /routes/:name` may change: a split's weights. (zod refuses `.pick()` on RouteSchema,
 * which has refinements: the field is taken from its shape.) Built when a patch comes in.
 */
const routePatchSchema = () => z.strictObject({ pools: configSchemas().RouteSchema.shape.pools })

export { AdminError } from './admin-error.ts'
export type { BackendSource, BackendView } from './backend-view.ts'

/** What a config change did, or would do (`dryRun`). */
export interface ConfigChanges {
  /** Backend ids: bare for the pool `default`, `pool/id` for the others. */
  backends: { added: string[]; removed: string[]; updated: string[] }
  /** The top-level sections whose value changed. */
  sections: string[]
}

/** What the control plane needs from the balancer to change the data path. */
export interface BalancerCore {
  /** Put a pool in service (with its configured backends): it is new in `config`. */
  openPool(name: string, config: Config): BackendPool
  /**
   * Apply everything but the members: each pool's settings (strategy, sticky, health checks,
   * timeouts, …), the pools `next` no longer has, and the route table.
   */
  reconfigure(previous: Config, next: Config): void
}

/** Options for {@link ControlPlane}. */
export interface ControlPlaneOptions {
  config: Config
  core: BalancerCore
  deps: Pick<RuntimeDeps, 'readTextFile' | 'writeFileAtomic' | 'dns'>
  logger: Logger
  /** @default Date.now */
  now?: () => number
}

/** A pool as `GET /pools` shows it. */
export interface PoolView {
  name: string
  strategy: StrategyName
  backends: BackendView[]
  /** The routes that send to it, in match order. */
  routes: string[]
}

/**
 * The control plane of one balancer.
 *
 * @example
 * ```ts
 * const control = new ControlPlane({ config, core, deps, logger })
 * control.register(configSchemas().RegisterBackendSchema.parse({ url: 'http://10.0.0.7:8080', ttl: '30s' }))
 * ```
 */
export class ControlPlane {
  readonly #core: BalancerCore
  readonly #deps: ControlPlaneOptions['deps']
  readonly #logger: Logger
  readonly #now: () => number
  readonly #members = new Map<string, PoolMembers>()
  readonly #writer: StateFileWriter
  #config: Config
  #started = false

  constructor(options: ControlPlaneOptions) {
    this.#config = options.config
    this.#core = options.core
    this.#deps = options.deps
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#writer = new StateFileWriter(options.deps.writeFileAtomic, options.logger)
    for (const name of poolNames(this.#config)) this.#open(name, this.#config)
  }

  /** The effective config: the config file's, with every change made since. */
  get config(): Config {
    return this.#config
  }

  /** Start DNS discovery. */
  start(): void {
    this.#started = true
    for (const members of this.#members.values()) members.start()
  }

  /** Stop discovery, leases and pending drains; wait for the state file to be written. */
  async stop(): Promise<void> {
    this.#started = false
    await Promise.all([...this.#members.values()].map((members) => members.stop()))
    await this.#writer.saved()
  }

  // ---- pools and their backends ----

  /**
   * The members of a pool: its backends, and the admin operations on them.
   *
   * @throws {AdminError} 404 when there is no such pool
   */
  members(pool: string = DEFAULT_POOL): PoolMembers {
    const members = this.#members.get(pool)
    if (!members) throw new AdminError(404, `No pool ${pool}`)
    return members
  }

  /** Every pool, `default` first. */
  pools(): PoolView[] {
    return poolNames(this.#config).map((name) => this.pool(name)!)
  }

  /** One pool, or `undefined`. */
  pool(name: string): PoolView | undefined {
    const settings = poolConfigOf(this.#config, name)
    const members = this.#members.get(name)
    if (!settings || !members) return undefined
    return {
      name,
      strategy: settings.strategy,
      backends: members.backends(),
      routes: this.#config.routes
        .filter((route) => route.pool === name || route.pools?.some((s) => s.pool === name))
        .map((route) => route.name),
    }
  }

  /** Every pool's backends, each with its pool's name: pool by pool, in pool order. */
  allBackends(): (BackendView & { pool: string })[] {
    return [...this.#members].flatMap(([pool, members]) =>
      members.backends().map((view) => ({ pool, ...view })),
    )
  }

  /** The pool `default`'s backends, in pool order. */
  backends(): BackendView[] {
    return this.members().backends()
  }

  /** One of the pool `default`'s backends, or `undefined`. */
  backend(id: string): BackendView | undefined {
    return this.members().backend(id)
  }

  /** Register a backend in the pool `default`: see {@link PoolMembers.register}. */
  register(input: Parameters<PoolMembers['register']>[0]) {
    return this.members().register(input)
  }

  /** Change a backend of the pool `default`: see {@link PoolMembers.patch}. */
  patch(id: string, patch: { weight?: number; enabled?: boolean; draining?: boolean }) {
    return this.members().patch(id, patch)
  }

  /** Remove a backend of the pool `default`: see {@link PoolMembers.remove}. */
  remove(id: string, force = false): 'removed' | 'draining' {
    return this.members().remove(id, force)
  }

  /** Renew the TTL lease of a backend of the pool `default`. */
  heartbeat(id: string): { ttl: number; expiresAt: string } {
    return this.members().heartbeat(id)
  }

  // ---- strategy ----

  /** A pool's strategy options. @throws {AdminError} 404 when there is no such pool */
  strategyOptions(pool: string): StrategyOptions {
    const settings = poolConfigOf(this.#config, pool)
    if (!settings) throw new AdminError(404, `No pool ${pool}`)
    return settings.strategyOptions
  }

  /**
   * Switch a pool's balancing strategy; its selector is rebuilt once.
   *
   * @throws {AdminError} 404 when there is no such pool
   */
  setStrategy(name: StrategyName, options?: StrategyOptions, pool: string = DEFAULT_POOL): void {
    const settings = poolConfigOf(this.#config, pool)
    if (!settings) throw new AdminError(404, `No pool ${pool}`)
    const strategyOptions = options ?? settings.strategyOptions
    const previous = this.#config
    this.#config =
      pool === DEFAULT_POOL
        ? { ...previous, strategy: name, strategyOptions }
        : {
            ...previous,
            pools: {
              ...previous.pools,
              [pool]: { ...previous.pools[pool]!, strategy: name, strategyOptions },
            },
          }
    this.#core.reconfigure(previous, this.#config)
    this.#logger.info('strategy changed', { pool, strategy: name })
    this.#save()
  }

  // ---- routes ----

  /** The routes, in match order. */
  routes(): Config['routes'] {
    return this.#config.routes
  }

  /** The entity tag of {@link routes} (RFC 9110 §8.8.3), a strong validator. */
  routesEtag(): string {
    return `"${fnv1a64Hex(canonicalJson(this.#config.routes))}"`
  }

  /**
   * Validate a new route list (`PUT /routes`), and swap it in unless `dryRun`.
   *
   * @throws {AdminError} 400 naming each wrong field
   */
  replaceRoutes(input: unknown, dryRun: boolean): Config['routes'] {
    if (!Array.isArray(input)) throw new AdminError(400, 'routes: Expected an array')
    const next = this.#parse({ ...toConfigInput(this.#config), routes: input })
    if (!dryRun) this.applyConfig(next)
    return next.routes
  }

  /**
   * Change a route at run time: the weights of its split (`{ "pools": [{ "pool", "weight" }] }`).
   *
   * @throws {AdminError} 404 when there is no such route, 400 when the change is not valid
   */
  patchRoute(name: string, patch: unknown): Config['routes'][number] {
    const routes = this.patchedRoutes(name, patch)
    const next = this.#parse({ ...toConfigInput(this.#config), routes })
    this.applyConfig(next)
    const route = next.routes.find((r) => r.name === name)!
    this.#logger.info('route changed', { route: name, pools: route.pools })
    return route
  }

  /**
   * The routes with route `name`'s split replaced by `patch.pools` (validated), without applying
   * them: fleet mode writes them to etcd.
   *
   * @throws {AdminError} 404 when there is no such route, 400 when the change is not valid
   */
  patchedRoutes(name: string, patch: unknown): Config['routes'] {
    const index = this.#config.routes.findIndex((route) => route.name === name)
    if (index === -1) throw new AdminError(404, `No route ${name}`)
    const parsed = routePatchSchema().safeParse(patch)
    if (!parsed.success) throw invalid(describeIssues(parsed.error.issues))
    const route = this.#config.routes[index]!
    if (parsed.data.pools === undefined || route.pools === undefined) {
      throw new AdminError(400, `pools: Route ${name} has no split to change`)
    }
    const routes = this.#config.routes.map((r, at) =>
      at === index ? { ...r, pools: parsed.data.pools } : r,
    )
    return this.#parse({ ...toConfigInput(this.#config), routes }).routes
  }

  // ---- the whole config ----

  /** The effective config as config-file input, secrets redacted. */
  configView(): Record<string, unknown> {
    return redactSecrets(toConfigInput(this.#config))
  }

  /** The entity tag of {@link configView} (RFC 9110 §8.8.3), a strong validator. */
  etag(): string {
    return `"${fnv1a64Hex(canonicalJson(this.configView()))}"`
  }

  /**
   * Validate a whole config (`PUT /config`), and swap it in unless `dryRun`. Sections that need a
   * restart may be left out (they keep their value) but not changed. Secrets shown as redacted
   * keep their current value.
   *
   * @throws {AdminError} 400 naming each wrong field
   */
  replaceConfig(input: unknown, dryRun: boolean): ConfigChanges {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new AdminError(400, 'Expected a JSON object')
    }
    const body = structuredClone(input) as Record<string, unknown>
    const current = toConfigInput(this.#config)
    for (const section of RESTART_SECTIONS) {
      if (!(section in body)) body[section] = current[section]
    }
    restoreSecrets(body, this.#config)
    const next = this.#parse(body)
    const issues = RESTART_SECTIONS.filter(
      (section) =>
        !sameJson(
          withoutToken(section, next[section]),
          withoutToken(section, this.#config[section]),
        ),
    ).map((section) => ({ path: section, message: 'Cannot change while running: restart fulcrum' }))
    if (issues.length > 0) throw invalid(issues)
    return dryRun ? this.#diff(next) : this.applyConfig(next)
  }

  /**
   * Swap in a validated config, pool by pool: backends are added, drained and removed, weights
   * changed, strategies rebuilt, pools opened and retired, the routes recompiled, and every other
   * live section applied. Health state, sticky pins and in-flight requests of unchanged backends
   * survive. Backends from DNS discovery and TTL leases are kept.
   */
  applyConfig(next: Config, options: { quiet?: boolean } = {}): ConfigChanges {
    const changes = this.#diff(next)
    const previous = this.#config
    const names = poolNames(next)
    for (const name of names) {
      const members = this.#members.get(name) ?? this.#open(name, next)
      members.apply(poolConfigOf(next, name)!)
    }
    for (const [name, members] of [...this.#members]) {
      if (names.includes(name)) continue
      void members.stop()
      this.#members.delete(name)
    }
    this.#config = next
    this.#core.reconfigure(previous, next)
    const changed = changes.sections.length > 0
    if (!options.quiet || changed) {
      this.#logger.info('configuration applied', {
        ...changes.backends,
        sections: changes.sections,
      })
    }
    this.#save()
    return changes
  }

  // ---- the state file ----

  /**
   * Restore the state file, when one is configured and exists: its live sections replace the
   * config's, and each backend gets back its enabled, draining and TTL settings.
   *
   * @returns whether a state file was restored
   * @throws {ConfigError} naming the state file when it is not valid
   */
  async restore(): Promise<boolean> {
    const path = this.#config.admin.stateFile
    // In a fleet, etcd keeps the state.
    if (!path || this.#config.cluster) return false
    let text: string
    try {
      text = await this.#deps.readTextFile(path)
    } catch {
      // None yet: write one now, so that a path fulcrum cannot write to shows at once.
      this.#save()
      return false
    }
    const state = parseStateFile(text, path)
    const current = toConfigInput(this.#config)
    const body: Record<string, unknown> = { ...state.config }
    for (const section of RESTART_SECTIONS) body[section] = current[section]
    // Secrets never go to the state file: they come from the config.
    restoreSecrets(body, this.#config, true)
    const parsed = configSchemas().ConfigSchema.safeParse(body)
    if (!parsed.success) {
      const lines = describeIssues(parsed.error.issues).map(
        (i) => `${path}: config.${i.path}: ${i.message}`,
      )
      throw new ConfigError(lines.join('\n'))
    }
    this.applyConfig(parsed.data)
    let restored = 0
    for (const [key, flags] of Object.entries(state.runtime ?? {})) {
      const slash = key.indexOf('/')
      const pool = slash === -1 ? DEFAULT_POOL : key.slice(0, slash)
      this.#members.get(pool)?.restoreFlags(key.slice(slash + 1), flags)
      restored++
    }
    this.#logger.info('state restored', { path, backends: restored })
    return true
  }

  /** Resolves once every change so far is in the state file. */
  async saved(): Promise<void> {
    await this.#writer.saved()
  }

  #save(): void {
    // In a fleet, etcd keeps the state: there is no state file.
    if (this.#config.cluster) return
    this.#writer.schedule(this.#config.admin.stateFile, () => this.#snapshot())
  }

  #snapshot(): StateFile {
    const config = toConfigInput(this.#config)
    for (const section of RESTART_SECTIONS) delete config[section]
    const runtime: StateFile['runtime'] = {}
    for (const [name, members] of this.#members) {
      const prefix = name === DEFAULT_POOL ? '' : `${name}/`
      for (const [id, flags] of Object.entries(members.runtimeFlags())) {
        runtime[prefix + id] = flags
      }
    }
    return {
      fulcrum: 'state',
      version: 1,
      savedAt: new Date(this.#now()).toISOString(),
      config: withoutSecrets(config),
      runtime,
    }
  }

  // ---- internals ----

  #open(name: string, config: Config): PoolMembers {
    const settings = poolConfigOf(config, name)!
    const members = new PoolMembers({
      name,
      pool: this.#core.openPool(name, settings),
      backends: settings.backends,
      discovery: settings.discovery,
      deps: this.#deps,
      logger: this.#logger,
      drainTimeout: () => this.#config.admin.drainTimeout,
      onChange: () => this.#membersChanged(name),
      now: this.#now,
    })
    this.#members.set(name, members)
    if (this.#started) members.start()
    return members
  }

  /** A pool's static backends changed: the effective config follows, and the state file. */
  #membersChanged(name: string): void {
    const members = this.#members.get(name)
    if (!members) return
    const backends = members.staticBackends
    const config = this.#config
    if (name === DEFAULT_POOL) this.#config = { ...config, backends }
    else if (config.pools[name]) {
      this.#config = {
        ...config,
        pools: { ...config.pools, [name]: { ...config.pools[name], backends } },
      }
    }
    this.#save()
  }

  /** Parse a config for the admin API. @throws {AdminError} 400 naming each wrong field */
  #parse(input: unknown): Config {
    const parsed = configSchemas().ConfigSchema.safeParse(input)
    if (!parsed.success) throw invalid(describeIssues(parsed.error.issues))
    return parsed.data
  }

  #diff(next: Config): ConfigChanges {
    const added: string[] = []
    const removed: string[] = []
    const updated: string[] = []
    const names = poolNames(next)
    for (const name of new Set([...names, ...this.#members.keys()])) {
      const prefix = name === DEFAULT_POOL ? '' : `${name}/`
      const settings = poolConfigOf(next, name)
      const members = this.#members.get(name)
      const changes = members
        ? members.diff(settings ?? { backends: [] })
        : { added: settings!.backends.map((b) => b.id), removed: [], updated: [] }
      added.push(...changes.added.map((id) => prefix + id))
      removed.push(...changes.removed.map((id) => prefix + id))
      updated.push(...changes.updated.map((id) => prefix + id))
    }
    const sections = Object.keys(next).filter(
      (key) =>
        key !== 'backends' &&
        !sameJson(next[key as keyof Config], this.#config[key as keyof Config]),
    )
    if (added.length || removed.length || updated.length) sections.unshift('backends')
    return { backends: { added, removed, updated }, sections }
  }
}

/** Deep equality of JSON values, whatever the order of object keys. */
function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b)
}

/** JSON with object keys sorted, so that equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  )
}

function withoutToken(section: string, value: unknown): unknown {
  if (section !== 'admin' || typeof value !== 'object' || value === null) return value
  const { token: _token, ...rest } = value as Record<string, unknown>
  return rest
}

/** Config input without the sticky secrets, top level and per pool: the state file's. */
function withoutSecrets(config: Record<string, unknown>): Record<string, unknown> {
  const strip = (section: unknown) => {
    const sticky = (section as { sticky?: Record<string, unknown> } | undefined)?.sticky
    if (!sticky) return
    delete sticky.secret
    delete sticky.secrets
  }
  strip(config)
  for (const pool of Object.values((config.pools ?? {}) as Record<string, unknown>)) strip(pool)
  return config
}
