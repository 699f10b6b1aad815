/**
 * The members of one pool and every way they change at run time: the config's list, admin
 * registrations with their TTL leases, DNS discovery, and removal, which drains first. The
 * control plane keeps one per pool; the backend set itself (health, load) is the pool's.
 */
import type { Config, RegisterBackend } from '../config.ts'
import { discoveryKey, DnsDiscoveryRunner } from '../discovery.ts'
import type { BackendPool, BackendState } from '../pool.ts'
import type { Backend, Logger, RuntimeDeps } from '../types.ts'
import { AdminError } from './admin-error.ts'
import { viewOf, type BackendSource, type BackendView } from './backend-view.ts'
import { Leases } from './leases.ts'

/** What one backend's admin flags are, as the state file keeps them. */
export interface RuntimeFlags {
  enabled: boolean
  draining: boolean
  ttl?: number
}

/** What a config change does to a pool's members. */
export interface MemberChanges {
  added: string[]
  removed: string[]
  updated: string[]
}

/** Options for {@link PoolMembers}. */
export interface PoolMembersOptions {
  /** The pool's name, in log lines. */
  name: string
  pool: BackendPool
  /** The pool's configured backends. */
  backends: Config['backends']
  /** The pool's DNS discovery entries. */
  discovery: Config['discovery']
  deps: Pick<RuntimeDeps, 'dns'>
  logger: Logger
  /** How long a removal waits for the backend to drain. */
  drainTimeout: () => number
  /** The config's (static) backend list changed, or a flag the state file keeps did. */
  onChange: () => void
  now?: () => number
}

/**
 * The members of one pool.
 *
 * @example
 * ```ts
 * const members = new PoolMembers({ name: 'api', pool, backends, deps, logger, drainTimeout, onChange })
 * members.register(configSchemas().RegisterBackendSchema.parse({ url: 'http://10.0.0.7:8080', ttl: '30s' }))
 * ```
 */
export class PoolMembers {
  readonly name: string
  readonly #pool: BackendPool
  readonly #options: PoolMembersOptions
  readonly #logger: Logger
  readonly #sources = new Map<string, BackendSource>()
  readonly #drains = new Map<string, () => void>()
  readonly #leases: Leases
  /** The backends the config lists, as changed by the admin API. */
  #static: Config['backends']
  #discoveryEntries: Config['discovery'] = []
  #discovery: DnsDiscoveryRunner | undefined
  #started = false

  constructor(options: PoolMembersOptions) {
    this.name = options.name
    this.#pool = options.pool
    this.#options = options
    this.#logger = options.logger
    this.#static = options.backends
    this.#discoveryEntries = options.discovery
    this.#leases = new Leases({
      now: options.now,
      onExpire: (id) => {
        this.#logger.warn('backend lease expired: removing it', { pool: this.name, backend: id })
        this.#drainThenRemove(id, 'TTL lease expired')
      },
    })
    for (const backend of options.backends) this.#sources.set(backend.id, 'config')
  }

  /** The backends the config lists, with the admin API's registrations and changes. */
  get staticBackends(): Config['backends'] {
    return this.#static
  }

  /** Start DNS discovery. */
  start(): void {
    this.#started = true
    this.#startDiscovery()
  }

  /** Stop discovery, leases and pending drains. */
  async stop(): Promise<void> {
    this.#started = false
    this.#leases.clear()
    for (const cancel of [...this.#drains.values()]) cancel()
    await this.#discovery?.stop()
  }

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
      pool: this.name,
      backend: backend.id,
      url: backend.url,
      ttl,
    })
    this.#options.onChange()
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
    this.#options.onChange()
    return this.backend(id)!
  }

  /**
   * Remove a backend: drain it (no new requests; those in flight finish), then remove it, or at
   * once with `force`. A backend that does not drain within the drain timeout is removed then.
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

  /** What taking `next` (the pool's new settings) would do to the members. */
  diff(next: Pick<Config, 'backends'>): MemberChanges {
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
    return { added, removed, updated }
  }

  /**
   * Take the pool's new settings: backends are added, drained and removed, weights changed.
   * Health state, sticky pins and in-flight requests of unchanged backends survive. Backends from
   * DNS discovery and TTL leases are kept, unless their discovery entry went.
   */
  apply(next: Pick<Config, 'backends' | 'discovery'>): MemberChanges {
    const changes = this.diff(next)
    const wanted = new Map(next.backends.map((b) => [b.id, b]))
    for (const id of changes.removed) {
      const state = this.#pool.get(id)
      // Another URL under the same id is another server: remove it at once, add the new one.
      if (wanted.has(id)) this.#removeNow(id, 'replaced in the configuration')
      else if (state) this.#drainThenRemove(id, 'removed from the configuration')
    }
    this.#static = next.backends
    for (const backend of next.backends) {
      this.#cancelDrain(backend.id)
      if (this.#pool.get(backend.id)) this.#update(backend)
      else this.#pool.add(backend)
      this.#sources.set(backend.id, 'config')
    }
    if (JSON.stringify(this.#discoveryEntries) !== JSON.stringify(next.discovery)) {
      void this.#discovery?.stop()
      this.#discovery = undefined
      const keys = new Set<string>(next.discovery.map(discoveryKey))
      for (const [id, source] of [...this.#sources]) {
        if (source.startsWith('dns') && !keys.has(source)) {
          this.#drainThenRemove(id, 'discovery entry removed')
        }
      }
      this.#discoveryEntries = next.discovery
      if (this.#started) this.#startDiscovery()
    }
    return changes
  }

  /** The admin flags worth keeping across a restart, by backend id. */
  runtimeFlags(): Record<string, RuntimeFlags> {
    const runtime: Record<string, RuntimeFlags> = {}
    for (const { backend, enabled, draining } of this.#pool.states()) {
      if (!this.#isStatic(backend.id)) continue
      const ttl = this.#leases.get(backend.id)?.ttl
      if (!enabled || draining || ttl !== undefined)
        runtime[backend.id] = { enabled, draining, ttl }
    }
    return runtime
  }

  /** Take a backend's enabled and draining flags as the fleet has them (fleet mode). */
  setFlags(id: string, enabled: boolean, draining: boolean): void {
    if (!this.#pool.get(id) || this.#drains.has(id)) return
    this.#pool.setEnabled(id, enabled, 'fleet')
    this.#pool.setDraining(id, draining, 'fleet')
  }

  /** Put back one backend's flags from the state file. */
  restoreFlags(id: string, flags: Partial<RuntimeFlags>): void {
    if (!this.#pool.get(id)) return
    this.#pool.setEnabled(id, flags.enabled !== false, 'restored from the state file')
    this.#pool.setDraining(id, flags.draining === true, 'restored from the state file')
    // A restored lease starts afresh: the backend has one TTL to heartbeat again.
    if (typeof flags.ttl === 'number' && flags.ttl > 0) this.#leases.grant(id, flags.ttl)
  }

  #startDiscovery(): void {
    const entries = this.#discoveryEntries
    if (entries.length === 0 || this.#discovery) return
    const resolver = this.#options.deps.dns
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
        this.#logger.info('backend discovered', {
          pool: this.name,
          backend: backend.id,
          url: backend.url,
          source,
        })
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
    }, this.#options.drainTimeout())
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
    this.#logger.info('backend removed', { pool: this.name, backend: id, reason })
    if (wasStatic) {
      this.#static = this.#static.filter((b) => b.id !== id)
      this.#options.onChange()
    }
  }

  #isStatic(id: string): boolean {
    const source = this.#sources.get(id)
    return source === 'config' || source === 'admin'
  }

  /** Put a backend into the static list (added at the end, or updated in place). */
  #putStatic(backend: Backend): void {
    const entry = { ...this.#static.find((b) => b.id === backend.id), ...stripRuntime(backend) }
    this.#static = (
      this.#static.some((b) => b.id === backend.id)
        ? this.#static.map((b) => (b.id === backend.id ? entry : b))
        : [...this.#static, entry]
    ) as Config['backends']
  }

  #require(id: string): BackendState {
    const state = this.#pool.get(id)
    if (!state) throw new AdminError(404, `No backend ${id}`)
    return state
  }

  #view(state: BackendState): BackendView {
    const id = state.backend.id
    return viewOf(this.#pool, state, {
      source: this.#sources.get(id) ?? 'config',
      removing: this.#drains.has(id),
      lease: this.#leases.get(id),
    })
  }
}

/** A backend as a config entry: no runtime-only fields. */
function stripRuntime(backend: Backend): Record<string, unknown> {
  const { meta: _meta, ...entry } = backend as Backend & Record<string, unknown>
  return { backup: false, ...entry }
}
