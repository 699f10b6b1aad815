/**
 * The control plane: every change made to a running fulcrum goes through here, whether it comes
 * from the admin API, a TTL lease that lapsed, DNS discovery or a config reload. It keeps the
 * effective config (what `GET /config` shows), drains before it removes, and persists admin
 * changes to the state file.
 */
import {
  ConfigError,
  ConfigSchema,
  describeIssues,
  type Config,
  type RegisterBackend,
  type StrategyName,
  type StrategyOptions,
} from '../config.ts'
import { discoveryKey, DnsDiscoveryRunner } from '../discovery.ts'
import { fnv1a64Hex } from '../hash.ts'
import type { BackendPool, BackendState } from '../pool.ts'
import type { Backend, Logger, RuntimeDeps } from '../types.ts'
import { redactSecrets, restoreSecrets, RESTART_SECTIONS, toConfigInput } from './config-input.ts'
import { Leases } from './leases.ts'

/** An admin request that cannot be done: the HTTP status and a message (and the fields, if any). */
export class AdminError extends Error {
  override name = 'AdminError'
  constructor(
    readonly status: number,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message)
  }
}

/** Where a backend came from. */
export type BackendSource = 'config' | 'admin' | `dns:${string}` | `dns+srv:${string}`

/** A backend as `GET /backends` shows it. */
export interface BackendView {
  id: string
  url: string
  weight: number
  /** The weight strategies use now: 0 when it takes no new requests, less during slow start. */
  effectiveWeight: number
  backup: boolean
  source: BackendSource
  /** One word: `up`, `down`, `ejected`, `draining`, `disabled` (in that order of precedence, reversed). */
  state: 'up' | 'down' | 'ejected' | 'draining' | 'disabled'
  healthy: boolean
  enabled: boolean
  draining: boolean
  ejected: boolean
  /** The circuit breaker, where there is one. */
  circuit?: string
  /** Being removed: it drains, then goes. */
  removing: boolean
  inflight: number
  /** The peak-EWMA time to response headers, in ms. */
  ewmaMs: number
  utilisation?: number
  lastProbe: { ok: boolean; at: string; reason?: string } | null
  lease: { ttl: number; expiresAt: string } | null
}

/** What a config change did, or would do (`dryRun`). */
export interface ConfigChanges {
  backends: { added: string[]; removed: string[]; updated: string[] }
  /** The top-level sections whose value changed. */
  sections: string[]
}

/** What the control plane needs from the balancer to change the data path. */
export interface BalancerCore {
  readonly pool: BackendPool
  /** Rebuild the selector for a strategy (not per request: once, now). */
  setStrategy(name: StrategyName, options: StrategyOptions): void
  /** Apply the sections besides backends and strategy: sticky, health checks, timeouts, … */
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

/** The state file's shape. */
interface StateFile {
  fulcrum: 'state'
  version: 1
  savedAt: string
  /** The live sections of the config (secrets left out; they come from the config at start). */
  config: Record<string, unknown>
  /** Per backend: what the admin API set beyond the config file's fields. */
  runtime: Record<string, { enabled: boolean; draining: boolean; ttl?: number }>
}

/**
 * The control plane of one balancer.
 *
 * @example
 * ```ts
 * const control = new ControlPlane({ config, core, deps, logger })
 * control.register(RegisterBackendSchema.parse({ url: 'http://10.0.0.7:8080', ttl: '30s' }))
 * ```
 */
export class ControlPlane {
  readonly #core: BalancerCore
  readonly #pool: BackendPool
  readonly #deps: ControlPlaneOptions['deps']
  readonly #logger: Logger
  readonly #now: () => number
  readonly #sources = new Map<string, BackendSource>()
  readonly #drains = new Map<string, () => void>()
  readonly #leases: Leases
  #config: Config
  #discovery: DnsDiscoveryRunner | undefined
  #started = false
  #saving: Promise<void> | undefined
  #dirty = false

  constructor(options: ControlPlaneOptions) {
    this.#config = options.config
    this.#core = options.core
    this.#pool = options.core.pool
    this.#deps = options.deps
    this.#logger = options.logger
    this.#now = options.now ?? Date.now
    this.#leases = new Leases({
      now: this.#now,
      onExpire: (id) => {
        this.#logger.warn('backend lease expired: removing it', { backend: id })
        this.#drainThenRemove(id, 'TTL lease expired')
      },
    })
    for (const backend of this.#config.backends) this.#sources.set(backend.id, 'config')
  }

  /** The effective config: the config file's, with every change made since. */
  get config(): Config {
    return this.#config
  }

  /** Start DNS discovery. */
  start(): void {
    this.#started = true
    this.#startDiscovery()
  }

  /** Stop discovery, leases and pending drains; wait for the state file to be written. */
  async stop(): Promise<void> {
    this.#started = false
    this.#leases.clear()
    for (const cancel of [...this.#drains.values()]) cancel()
    await this.#discovery?.stop()
    await this.#saving
  }

  // ---- backends ----

  /** Every backend, in pool order. */
  backends(): BackendView[] {
    return [...this.#pool.states()].map((state) => this.#view(state))
  }

  /** One backend, or `undefined`. */
  backend(id: string): BackendView | undefined {
    const state = this.#pool.get(id)
    return state && this.#view(state)
  }

  /**
   * Register a backend, or update the one with the same id and URL (registering is idempotent,
   * so a server can simply register again when it restarts).
   *
   * @throws {AdminError} 409 when the id or the URL is taken by another backend
   */
  register(input: RegisterBackend): { created: boolean; backend: BackendView } {
    const { ttl, enabled, draining, ...backend } = input
    const existing = this.#pool.get(backend.id)
    if (existing && existing.backend.url !== backend.url) {
      throw new AdminError(
        409,
        `Backend id ${backend.id} is already used by ${existing.backend.url}`,
      )
    }
    if (!existing) {
      for (const state of this.#pool.states()) {
        if (state.backend.url === backend.url) {
          throw new AdminError(
            409,
            `Backend ${backend.url} is already registered as ${state.backend.id}`,
          )
        }
      }
    }
    this.#cancelDrain(backend.id)
    if (existing) {
      this.#update(backend)
      if (!this.#isStatic(backend.id)) this.#sources.set(backend.id, 'admin')
    } else {
      this.#pool.add(backend)
      this.#sources.set(backend.id, 'admin')
    }
    if (this.#isStatic(backend.id)) this.#putStatic(backend)
    this.#pool.setEnabled(backend.id, enabled, 'admin API')
    this.#pool.setDraining(backend.id, draining, 'admin API')
    if (ttl !== undefined) this.#leases.grant(backend.id, ttl)
    else this.#leases.revoke(backend.id)
    this.#logger.info(existing ? 'backend updated' : 'backend registered', {
      backend: backend.id,
      url: backend.url,
      ttl,
    })
    this.#save()
    return { created: !existing, backend: this.backend(backend.id)! }
  }

  /**
   * Change a backend's weight, or enable, disable, drain or undrain it. Undraining cancels a
   * pending removal.
   *
   * @throws {AdminError} 404 when there is no such backend
   */
  patch(id: string, patch: { weight?: number; enabled?: boolean; draining?: boolean }) {
    const state = this.#require(id)
    if (patch.weight !== undefined) {
      this.#pool.setWeight(id, patch.weight)
      if (this.#isStatic(id)) this.#putStatic(state.backend)
    }
    if (patch.enabled !== undefined) this.#pool.setEnabled(id, patch.enabled, 'admin API')
    if (patch.draining !== undefined) {
      if (!patch.draining) this.#cancelDrain(id)
      this.#pool.setDraining(id, patch.draining, 'admin API')
    }
    this.#save()
    return this.backend(id)!
  }

  /**
   * Remove a backend: drain it (no new requests; those in flight finish), then remove it, or at
   * once with `force`. A backend that does not drain within `admin.drainTimeout` is removed then.
   *
   * @returns `removed`, or `draining` when it still has requests in flight
   * @throws {AdminError} 404 when there is no such backend
   */
  remove(id: string, force = false): 'removed' | 'draining' {
    this.#require(id)
    if (force) this.#removeNow(id, 'removed by the admin API (forced)')
    else this.#drainThenRemove(id, 'removed by the admin API')
    return this.#pool.get(id) ? 'draining' : 'removed'
  }

  /**
   * Renew a backend's TTL lease.
   *
   * @throws {AdminError} 404 when there is no such backend, 409 when it holds no lease
   */
  heartbeat(id: string): { ttl: number; expiresAt: string } {
    this.#require(id)
    const lease = this.#leases.renew(id)
    if (!lease) {
      throw new AdminError(409, `Backend ${id} holds no TTL lease (register it with a ttl)`)
    }
    return { ttl: lease.ttl, expiresAt: new Date(lease.expiresAt).toISOString() }
  }

  // ---- strategy ----

  /** Switch the balancing strategy; the selector is rebuilt once. */
  setStrategy(name: StrategyName, options: StrategyOptions = this.#config.strategyOptions): void {
    this.#core.setStrategy(name, options)
    this.#config = { ...this.#config, strategy: name, strategyOptions: options }
    this.#logger.info('strategy changed', { strategy: name })
    this.#save()
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
    const parsed = ConfigSchema.safeParse(body)
    if (!parsed.success) throw invalid(describeIssues(parsed.error.issues))
    const next = parsed.data
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
   * Swap in a validated config: backends are added, drained and removed, weights changed, the
   * strategy rebuilt, and every other live section applied. Health state, sticky pins and
   * in-flight requests of unchanged backends survive. Backends from DNS discovery and TTL leases
   * are kept.
   */
  applyConfig(next: Config): ConfigChanges {
    const changes = this.#diff(next)
    const previous = this.#config
    const wanted = new Map(next.backends.map((b) => [b.id, b]))
    for (const id of changes.backends.removed) {
      const state = this.#pool.get(id)
      // Another URL under the same id is another server: remove it at once, add the new one.
      if (wanted.has(id)) this.#removeNow(id, 'replaced in the configuration')
      else if (state) this.#drainThenRemove(id, 'removed from the configuration')
    }
    this.#config = next
    for (const backend of next.backends) {
      this.#cancelDrain(backend.id)
      if (this.#pool.get(backend.id)) this.#update(backend)
      else this.#pool.add(backend)
      this.#sources.set(backend.id, 'config')
    }
    if (
      previous.strategy !== next.strategy ||
      !sameJson(previous.strategyOptions, next.strategyOptions)
    ) {
      this.#core.setStrategy(next.strategy, next.strategyOptions)
    }
    this.#core.reconfigure(previous, next)
    if (!sameJson(previous.discovery, next.discovery)) {
      void this.#discovery?.stop()
      this.#discovery = undefined
      const keys = new Set<string>(next.discovery.map(discoveryKey))
      for (const [id, source] of [...this.#sources]) {
        if (source.startsWith('dns') && !keys.has(source)) {
          this.#drainThenRemove(id, 'discovery entry removed')
        }
      }
      if (this.#started) this.#startDiscovery()
    }
    this.#logger.info('configuration applied', { ...changes.backends, sections: changes.sections })
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
    if (!path) return false
    let text: string
    try {
      text = await this.#deps.readTextFile(path)
    } catch {
      // None yet: write one now, so that a path fulcrum cannot write to shows at once.
      this.#save()
      return false
    }
    let state: StateFile
    try {
      state = JSON.parse(text)
    } catch (error) {
      throw new ConfigError(`${path}: Invalid JSON: ${(error as Error).message}`)
    }
    if (state?.fulcrum !== 'state' || state.version !== 1 || typeof state.config !== 'object') {
      throw new ConfigError(`${path}: Not a fulcrum state file (version 1)`)
    }
    const current = toConfigInput(this.#config)
    const body: Record<string, unknown> = { ...state.config }
    for (const section of RESTART_SECTIONS) body[section] = current[section]
    // Secrets never go to the state file: they come from the config.
    if (body.sticky && typeof body.sticky === 'object') {
      const sticky = current.sticky as { secret?: string; secrets?: unknown }
      body.sticky = { ...body.sticky, secret: sticky.secret, secrets: sticky.secrets }
    }
    const parsed = ConfigSchema.safeParse(body)
    if (!parsed.success) {
      const lines = describeIssues(parsed.error.issues).map(
        (i) => `${path}: config.${i.path}: ${i.message}`,
      )
      throw new ConfigError(lines.join('\n'))
    }
    this.applyConfig(parsed.data)
    for (const [id, flags] of Object.entries(state.runtime ?? {})) {
      if (!this.#pool.get(id)) continue
      this.#pool.setEnabled(id, flags.enabled !== false, 'restored from the state file')
      this.#pool.setDraining(id, flags.draining === true, 'restored from the state file')
      // A restored lease starts afresh: the backend has one TTL to heartbeat again.
      if (typeof flags.ttl === 'number' && flags.ttl > 0) this.#leases.grant(id, flags.ttl)
    }
    this.#logger.info('state restored', { path, backends: this.#pool.size })
    return true
  }

  /** Resolves once every change so far is in the state file. */
  async saved(): Promise<void> {
    while (this.#saving) await this.#saving
  }

  #save(): void {
    const path = this.#config.admin.stateFile
    const write = this.#deps.writeFileAtomic
    if (!path || !write) return
    this.#dirty = true
    if (this.#saving) return
    this.#saving = (async () => {
      while (this.#dirty) {
        this.#dirty = false
        try {
          await write(path, JSON.stringify(this.#snapshot(), null, 2) + '\n')
        } catch (error) {
          this.#logger.error('cannot write the state file', {
            path,
            error: String((error as Error)?.message ?? error),
          })
        }
      }
      this.#saving = undefined
    })()
  }

  #snapshot(): StateFile {
    const config = toConfigInput(this.#config)
    for (const section of RESTART_SECTIONS) delete config[section]
    const sticky = config.sticky as Record<string, unknown>
    delete sticky.secret
    delete sticky.secrets
    const runtime: StateFile['runtime'] = {}
    for (const { backend, enabled, draining } of this.#pool.states()) {
      if (!this.#isStatic(backend.id)) continue
      const ttl = this.#leases.get(backend.id)?.ttl
      if (!enabled || draining || ttl !== undefined)
        runtime[backend.id] = { enabled, draining, ttl }
    }
    return {
      fulcrum: 'state',
      version: 1,
      savedAt: new Date(this.#now()).toISOString(),
      config,
      runtime,
    }
  }

  // ---- internals ----

  #diff(next: Config): ConfigChanges {
    const added: string[] = []
    const removed: string[] = []
    const updated: string[] = []
    const wanted = new Map(next.backends.map((b) => [b.id, b]))
    for (const [id, source] of this.#sources) {
      if (source !== 'config' && source !== 'admin') continue
      const want = wanted.get(id)
      if (!want || want.url !== this.#pool.get(id)?.backend.url) removed.push(id)
    }
    for (const backend of next.backends) {
      const state = this.#pool.get(backend.id)
      if (!state || state.backend.url !== backend.url) added.push(backend.id)
      else if (
        state.backend.weight !== backend.weight ||
        Boolean(state.backend.backup) !== backend.backup ||
        this.#sources.get(backend.id) !== 'config'
      ) {
        updated.push(backend.id)
      }
    }
    const sections = Object.keys(next).filter(
      (key) =>
        key !== 'backends' &&
        !sameJson(next[key as keyof Config], this.#config[key as keyof Config]),
    )
    if (added.length || removed.length || updated.length) sections.unshift('backends')
    return { backends: { added, removed, updated }, sections }
  }

  #startDiscovery(): void {
    const entries = this.#config.discovery
    if (entries.length === 0 || this.#discovery) return
    const resolver = this.#deps.dns
    if (!resolver) {
      this.#logger.warn('dns discovery is configured but this runtime gives no resolver', {})
      return
    }
    this.#discovery = new DnsDiscoveryRunner({
      entries,
      resolver,
      logger: this.#logger,
      onUpdate: (key, backends) => this.#discovered(key as BackendSource, backends),
    })
    this.#discovery.start()
  }

  /** Bring the backends of one discovery entry in line with what DNS says now. */
  #discovered(source: BackendSource, backends: Backend[]): void {
    const wanted = new Map(backends.map((b) => [b.id, b]))
    for (const [id, from] of [...this.#sources]) {
      if (from === source && !wanted.has(id)) this.#drainThenRemove(id, `no longer in ${source}`)
    }
    for (const backend of backends) {
      const from = this.#sources.get(backend.id)
      if (from !== undefined && from !== source) continue // configured or registered: theirs
      this.#cancelDrain(backend.id)
      if (this.#pool.get(backend.id)) {
        this.#update(backend)
      } else {
        this.#pool.add(backend)
        this.#sources.set(backend.id, source)
        this.#logger.info('backend discovered', { backend: backend.id, url: backend.url, source })
      }
    }
  }

  #drainThenRemove(id: string, reason: string): void {
    if (this.#drains.has(id) || !this.#pool.get(id)) return
    this.#pool.setDraining(id, true, reason)
    if (this.#pool.get(id)!.inflight === 0) {
      this.#removeNow(id, reason)
      return
    }
    const stopWatching = this.#pool.watchLoad((backend) => {
      if (backend.id === id && !(this.#pool.get(id)?.inflight ?? 0)) {
        cleanup()
        this.#removeNow(id, reason)
      }
    })
    const timer = setTimeout(() => {
      cleanup()
      this.#logger.warn('backend did not drain in time: removing it', { backend: id })
      this.#removeNow(id, `${reason} (drain timed out)`)
    }, this.#config.admin.drainTimeout)
    const cleanup = () => {
      stopWatching()
      clearTimeout(timer)
      this.#drains.delete(id)
    }
    this.#drains.set(id, cleanup)
  }

  /**
   * Take a present backend's new weight. A change of role (backup or not) is a new backend to
   * the strategies: it is removed and added again.
   */
  #update(backend: Backend): void {
    const state = this.#pool.get(backend.id)!
    if (Boolean(state.backend.backup) !== Boolean(backend.backup)) {
      const { enabled, draining } = state
      this.#pool.remove(backend.id, 'role changed')
      this.#pool.add(backend)
      this.#pool.setEnabled(backend.id, enabled)
      this.#pool.setDraining(backend.id, draining)
    } else {
      // Weight, maxConnections and meta, in one go.
      this.#pool.update(backend)
    }
  }

  #cancelDrain(id: string): void {
    const cancel = this.#drains.get(id)
    if (!cancel) return
    cancel()
    this.#pool.setDraining(id, false, 'removal cancelled')
  }

  #removeNow(id: string, reason: string): void {
    this.#drains.get(id)?.()
    this.#leases.revoke(id)
    const wasStatic = this.#isStatic(id)
    this.#sources.delete(id)
    if (!this.#pool.remove(id, reason)) return
    this.#logger.info('backend removed', { backend: id, reason })
    if (wasStatic) {
      this.#config = {
        ...this.#config,
        backends: this.#config.backends.filter((b) => b.id !== id),
      }
      this.#save()
    }
  }

  #isStatic(id: string): boolean {
    const source = this.#sources.get(id)
    return source === 'config' || source === 'admin'
  }

  /** Put a backend into the effective config's list (added at the end, or updated in place). */
  #putStatic(backend: Backend): void {
    const entry = {
      ...this.#config.backends.find((b) => b.id === backend.id),
      ...stripRuntime(backend),
    }
    const list = this.#config.backends.some((b) => b.id === backend.id)
      ? this.#config.backends.map((b) => (b.id === backend.id ? entry : b))
      : [...this.#config.backends, entry]
    this.#config = { ...this.#config, backends: list as Config['backends'] }
  }

  #require(id: string): BackendState {
    const state = this.#pool.get(id)
    if (!state) throw new AdminError(404, `No backend ${id}`)
    return state
  }

  #view(state: BackendState): BackendView {
    const { backend } = state
    // Passive health, breakers and slow start add these to the state where they run.
    const extra = state as Partial<{ ejected: boolean; effectiveWeight: number; circuit: string }>
    const ejected = extra.ejected === true
    const available = state.healthy && state.enabled && !state.draining && !ejected
    const lease = this.#leases.get(backend.id)
    return {
      id: backend.id,
      url: backend.url,
      weight: backend.weight,
      effectiveWeight: available ? (extra.effectiveWeight ?? backend.weight) : 0,
      backup: backend.backup === true,
      source: this.#sources.get(backend.id) ?? 'config',
      state: !state.enabled
        ? 'disabled'
        : state.draining
          ? 'draining'
          : ejected
            ? 'ejected'
            : state.healthy
              ? 'up'
              : 'down',
      healthy: state.healthy,
      enabled: state.enabled,
      draining: state.draining,
      ejected,
      ...(extra.circuit === undefined ? {} : { circuit: extra.circuit }),
      removing: this.#drains.has(backend.id),
      inflight: state.inflight,
      ewmaMs: Math.round(this.#pool.latency(backend) * 1000) / 1000,
      ...(state.utilisation === undefined ? {} : { utilisation: state.utilisation }),
      lastProbe: state.lastProbe
        ? {
            ok: state.lastProbe.ok,
            at: new Date(state.lastProbe.at).toISOString(),
            ...(state.lastProbe.reason ? { reason: state.lastProbe.reason } : {}),
          }
        : null,
      lease: lease ? { ttl: lease.ttl, expiresAt: new Date(lease.expiresAt).toISOString() } : null,
    }
  }
}

function invalid(issues: { path: string; message: string }[]): AdminError {
  const message = issues.map((i) => `${i.path || '(body)'}: ${i.message}`).join('\n')
  return new AdminError(400, message, issues)
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

/** A backend as a config entry: no runtime-only fields. */
function stripRuntime(backend: Backend): Record<string, unknown> {
  const { meta: _meta, ...entry } = backend as Backend & Record<string, unknown>
  return { backup: false, ...entry }
}
