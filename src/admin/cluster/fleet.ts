/**
 * Fleet mode: the run-time state of several fulcrum instances lives in etcd, and each instance
 * mirrors it. The mirror is read once (a range at revision R), then kept by a watch from R + 1;
 * every batch of changes is applied to the local control plane within milliseconds. Admin writes
 * on any instance go to etcd as transactions that compare the key's `mod_revision`, so that two
 * writers never lose an update, and the writer waits until its own change is applied locally
 * (read your writes). TTL registrations are etcd leases; membership is a leased key per instance.
 * When etcd is gone, the instance serves from the last state it knew, answers admin writes 503,
 * and reconnects with backoff (a compaction, or a gap, means a fresh range).
 *
 * Keys under the prefix:
 *
 * ```
 * seeded                          the first instance wrote the config's state
 * pools/<pool>/backends/<id>      {url, weight, backup, maxConnections, enabled, draining, ttl}
 * pools/<pool>/strategy           {strategy, strategyOptions}
 * routes                          the routes, in match order
 * sticky                          {secrets: [{kid, secret}]}: the lb_sid signing keys
 * members/<name>                  {name, runtime, version, startedAt, revision} (leased)
 * ```
 */
import { AdminError } from '../admin-error.ts'
import type { BackendView } from '../backend-view.ts'
import type { ControlPlane } from '../control.ts'
import { toConfigInput } from '../config-input.ts'
import { DEFAULT_POOL } from '../../config-routes.ts'
import {
  configSchemas,
  describeIssues,
  poolConfigOf,
  poolNames,
  type ClusterConfig,
  type Config,
  type RegisterBackend,
  type StrategyName,
  type StrategyOptions,
} from '../../config.ts'
import type { Logger } from '../../types.ts'
import {
  EtcdClient,
  EtcdCompactedError,
  EtcdError,
  type EtcdCompare,
  type EtcdFetch,
  type EtcdKv,
  type EtcdOp,
} from './etcd-client.ts'

/** What an instance says of itself under `members/`. */
export interface FleetMember {
  name: string
  runtime: string
  version: string
  startedAt: string
  /** The last etcd revision it applied. */
  revision: number
}

/** A backend as etcd keeps it. */
interface StoredBackend {
  id: string
  url: string
  weight: number
  backup?: boolean
  maxConnections?: number
  enabled: boolean
  draining: boolean
  /** A TTL registration's lease length, in ms. */
  ttl?: number
}

/** Options for {@link Fleet}. */
export interface FleetOptions {
  cluster: ClusterConfig
  control: ControlPlane
  logger: Logger
  runtime: string
  version: string
  /** @default globalThis.fetch */
  fetch?: EtcdFetch
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The ETag of a key's revision (RFC 9110 §8.8.3: strong). */
export const revisionTag = (revision: number) => `"r${revision}"`

/** The revision an `If-Match` names, or `undefined` for `*` or none. */
function revisionOf(ifMatch: string | undefined): number | undefined {
  if (ifMatch === undefined) return undefined
  const tags = ifMatch.split(',').map((tag) => tag.trim())
  if (tags.includes('*')) return undefined
  const match = tags.map((tag) => /^"r(\d+)"$/.exec(tag)).find(Boolean)
  // A tag of another kind can never match: revision 0 compares false for any present key.
  return match ? Number(match[1]) : 0
}

/**
 * One instance's view of the fleet.
 *
 * @example
 * ```ts
 * const fleet = new Fleet({ cluster: config.cluster, control, logger, runtime: 'node', version })
 * await fleet.start() // seed (first instance), mirror, watch, join
 * ```
 */
export class Fleet {
  readonly #options: FleetOptions
  readonly #etcd: EtcdClient
  readonly #prefix: string
  readonly #control: ControlPlane
  readonly #logger: Logger
  readonly name: string
  /** The config as loaded: what etcd's state is laid over. */
  #base: Config
  readonly #mirror = new Map<string, EtcdKv>()
  #revision = 0
  #waiters: { revision: number; resolve: () => void }[] = []
  #abort = new AbortController()
  #connected = false
  #memberLease = ''
  #memberTimer: ReturnType<typeof setInterval> | undefined
  #startedAt = new Date().toISOString()
  #published = -1

  constructor(options: FleetOptions) {
    this.#options = options
    this.#etcd = new EtcdClient({ endpoints: options.cluster.etcd, fetch: options.fetch })
    this.#prefix = options.cluster.prefix.replace(/\/+$/, '') + '/'
    this.#control = options.control
    this.#logger = options.logger
    this.#base = options.control.config
    this.name =
      options.cluster.name ??
      `fulcrum-${Array.from(crypto.getRandomValues(new Uint8Array(3)), (b) => b.toString(16).padStart(2, '0')).join('')}`
  }

  /** Whether the watch is live: the mirror is up to date. */
  get connected(): boolean {
    return this.#connected
  }

  /** The last etcd revision applied here. */
  get revision(): number {
    return this.#revision
  }

  /** The members, from their leased keys, by name. */
  members(): FleetMember[] {
    const members: FleetMember[] = []
    for (const [key, kv] of this.#mirror) {
      if (!key.startsWith('members/')) continue
      try {
        members.push(JSON.parse(kv.value) as FleetMember)
      } catch {
        // A key someone else wrote: not a member.
      }
    }
    return members.sort((a, b) => (a.name < b.name ? -1 : 1))
  }

  /**
   * Join the fleet: seed etcd from the config when this is the first instance, read the state,
   * apply it, then keep it with a watch and keep the membership lease alive. Resolves once the
   * state is applied; a fleet whose etcd is unreachable at start keeps the config and retries.
   */
  async start(): Promise<void> {
    try {
      await this.#seed()
      await this.#resync()
      await this.#join()
    } catch (error) {
      this.#logger.error('etcd unreachable at start: serving the config, retrying', {
        error: String((error as Error)?.message ?? error),
      })
    }
    void this.#watchLoop()
  }

  /** Leave: stop watching, and give up the membership lease (the others see it at once). */
  async stop(): Promise<void> {
    this.#abort.abort()
    clearInterval(this.#memberTimer)
    if (this.#memberLease) await this.#etcd.revoke(this.#memberLease).catch(() => {})
  }

  // ---- writes (the admin API, in fleet mode) ----

  /** The ETag of a backend's key, or `undefined` when it has none. */
  backendTag(pool: string, id: string): string | undefined {
    const kv = this.#mirror.get(`pools/${pool}/backends/${id}`)
    return kv && revisionTag(kv.modRevision)
  }

  /** The ETag of a pool's strategy key (its changeable part). */
  poolTag(pool: string): string {
    return revisionTag(this.#mirror.get(`pools/${pool}/strategy`)?.modRevision ?? 0)
  }

  /** The ETag of the routes. */
  routesTag(): string {
    return revisionTag(this.#mirror.get('routes')?.modRevision ?? 0)
  }

  /**
   * Register a backend (or update the one with the same id and URL), with a TTL lease when asked.
   *
   * @throws {AdminError} 409 on an id or URL taken by another backend, 503 when etcd is gone
   */
  async register(
    pool: string,
    input: RegisterBackend,
  ): Promise<{ created: boolean; backend: BackendView }> {
    this.#requirePool(pool)
    const { ttl, enabled, draining, ...backend } = input
    const key = this.#backendKey(pool, backend.id)
    const existing = this.#stored(pool, backend.id)
    if (existing && existing.value.url !== backend.url) {
      throw new AdminError(409, `Backend id ${backend.id} is already used by ${existing.value.url}`)
    }
    for (const other of this.#backends(pool)) {
      if (other.url === backend.url && other.id !== backend.id) {
        throw new AdminError(409, `Backend ${backend.url} is already registered as ${other.id}`)
      }
    }
    const stored: StoredBackend = { ...backend, enabled, draining, ...(ttl ? { ttl } : {}) }
    const revision = await this.#write(async () => {
      const lease = ttl ? await this.#etcd.grant(Math.max(1, Math.ceil(ttl / 1000))) : undefined
      return this.#etcd.txn(
        [existing ? { key, modRevision: existing.kv.modRevision } : { key, absent: true }],
        [{ put: key, value: JSON.stringify(stored), lease }],
      )
    }, 'register')
    await this.#applied(revision)
    return { created: !existing, backend: this.#view(pool, backend.id) }
  }

  /**
   * Change a backend's weight or flags, compared against `ifMatch` (412 when stale) or, without
   * one, against the revision read (retried when someone else wrote meanwhile).
   */
  async patch(
    pool: string,
    id: string,
    patch: { weight?: number; enabled?: boolean; draining?: boolean },
    ifMatch?: string,
  ): Promise<BackendView> {
    await this.#writeBackend(pool, id, ifMatch, (key, { kv, value }) => [
      { put: key, value: JSON.stringify({ ...value, ...patch }), lease: kv.lease || undefined },
    ])
    return this.#view(pool, id)
  }

  /** Remove a backend from every instance: each drains it, then removes it. */
  async remove(pool: string, id: string, ifMatch?: string): Promise<void> {
    await this.#writeBackend(pool, id, ifMatch, (key) => [{ delete: key }])
  }

  /**
   * Write a stored backend with `ops`, compared against `ifMatch` (412 when stale) or, without
   * one, against the revision read (read again and retried when someone else wrote meanwhile).
   * Resolves once this instance has applied the write.
   */
  async #writeBackend(
    pool: string,
    id: string,
    ifMatch: string | undefined,
    ops: (key: string, current: { kv: EtcdKv; value: StoredBackend }) => EtcdOp[],
  ): Promise<void> {
    this.#requirePool(pool)
    const wanted = revisionOf(ifMatch)
    const key = this.#backendKey(pool, id)
    let current = this.#stored(pool, id)
    for (let attempt = 0; ; attempt++) {
      if (!current) throw new AdminError(404, `No backend ${id}`)
      const read = current
      const result = await this.#guard(() =>
        this.#etcd.txn([{ key, modRevision: wanted ?? read.kv.modRevision }], ops(key, read)),
      )
      if (result.succeeded) return this.#applied(result.revision)
      // Only a stale If-Match is a 412; without one, someone wrote meanwhile: read it again.
      if (wanted !== undefined) this.#stale('The backend')
      if (attempt >= 5) throw new AdminError(409, 'The backend keeps changing: try again')
      current = await this.#fresh(key)
    }
  }

  /** Renew a TTL registration's lease: any instance may, for any registration. */
  async heartbeat(pool: string, id: string): Promise<{ ttl: number; expiresAt: string }> {
    this.#requirePool(pool)
    const current = this.#stored(pool, id)
    if (!current) throw new AdminError(404, `No backend ${id}`)
    if (!current.kv.lease || !current.value.ttl) {
      throw new AdminError(409, `Backend ${id} holds no TTL lease (register it with a ttl)`)
    }
    const left = await this.#guard(() => this.#etcd.keepAlive(current.kv.lease))
    if (left <= 0) throw new AdminError(404, `No backend ${id}: its lease expired`)
    return {
      ttl: current.value.ttl,
      expiresAt: new Date(Date.now() + left * 1000).toISOString(),
    }
  }

  /** Switch a pool's strategy, for every instance. */
  async setStrategy(
    pool: string,
    strategy: StrategyName,
    strategyOptions: StrategyOptions | undefined,
    ifMatch?: string,
  ): Promise<void> {
    const settings = this.#requirePool(pool)
    const key = `pools/${pool}/strategy`
    const value = JSON.stringify({
      strategy,
      strategyOptions: strategyOptions ?? settings.strategyOptions,
    })
    const full = this.#prefix + key
    // A whole value: without If-Match, the last writer wins (RFC 9110 §9.3.4).
    const result = await this.#guard(() =>
      this.#etcd.txn(this.#precondition(full, ifMatch), [{ put: full, value }]),
    )
    if (!result.succeeded) this.#stale('The pool')
    await this.#applied(result.revision)
  }

  /**
   * Replace the routes for every instance; they are validated against this instance's pools
   * first (400 naming the field).
   */
  async setRoutes(routes: unknown[], ifMatch?: string): Promise<Config['routes']> {
    const next = this.#validate({ ...toConfigInput(this.#control.config), routes })
    const key = this.#prefix + 'routes'
    const result = await this.#guard(() =>
      this.#etcd.txn(this.#precondition(key, ifMatch), [
        { put: key, value: JSON.stringify(next.routes) },
      ]),
    )
    if (!result.succeeded) this.#stale('The routes')
    await this.#applied(result.revision)
    return this.#control.routes()
  }

  // ---- the mirror ----

  /** The first instance writes the config's state; the others find it there. */
  async #seed(): Promise<void> {
    const config = this.#base
    const ops: { put: string; value: string }[] = [
      { put: this.#prefix + 'seeded', value: new Date().toISOString() },
      { put: this.#prefix + 'routes', value: JSON.stringify(config.routes) },
    ]
    for (const pool of poolNames(config)) {
      const settings = poolConfigOf(config, pool)!
      ops.push({
        put: `${this.#prefix}pools/${pool}/strategy`,
        value: JSON.stringify({
          strategy: settings.strategy,
          strategyOptions: settings.strategyOptions,
        }),
      })
      for (const backend of settings.backends) {
        const stored: StoredBackend = { ...backend, enabled: true, draining: false }
        ops.push({ put: this.#backendKey(pool, backend.id), value: JSON.stringify(stored) })
      }
    }
    if (this.#needsStickyKeys()) {
      const secret = Array.from(crypto.getRandomValues(new Uint8Array(32)), (b) =>
        b.toString(16).padStart(2, '0'),
      ).join('')
      ops.push({
        put: this.#prefix + 'sticky',
        value: JSON.stringify({ secrets: [{ kid: 'k0', secret }] }),
      })
    }
    const { succeeded } = await this.#etcd.txn(
      [{ key: this.#prefix + 'seeded', absent: true }],
      ops,
    )
    if (succeeded) this.#logger.info('fleet state seeded from the config', { prefix: this.#prefix })
  }

  /** Whether some pool signs sticky cookies with a key the config does not give. */
  #needsStickyKeys(): boolean {
    return poolNames(this.#base).some((pool) => {
      const sticky = poolConfigOf(this.#base, pool)!.sticky
      return sticky.enabled && !sticky.secret && !sticky.secrets
    })
  }

  /** Read everything under the prefix, replace the mirror, apply it. */
  async #resync(): Promise<void> {
    const { kvs, revision } = await this.#etcd.range(this.#prefix, { prefix: true })
    this.#mirror.clear()
    for (const kv of kvs) this.#mirror.set(kv.key.slice(this.#prefix.length), kv)
    this.#revision = revision
    this.#connected = true
    this.#apply()
    this.#wake()
  }

  /**
   * Read one backend's key from etcd (a compare failed: someone wrote it meanwhile). The mirror is
   * left to the watch: updated here, it would run ahead of the control plane, and a `GET` would
   * pair the new ETag with the old body (a client's read-modify-write would then lose an update).
   */
  async #fresh(key: string): Promise<{ kv: EtcdKv; value: StoredBackend } | undefined> {
    const { kvs } = await this.#guard(() => this.#etcd.range(key))
    return kvs[0] && { kv: kvs[0], value: JSON.parse(kvs[0].value) as StoredBackend }
  }

  async #watchLoop(): Promise<void> {
    let backoff = 100
    const signal = this.#abort.signal
    while (!signal.aborted) {
      try {
        if (!this.#connected) await this.#resync()
        backoff = 100
        await this.#etcd.watch(
          this.#prefix,
          this.#revision + 1,
          (events, revision) => {
            for (const { type, kv } of events) {
              const short = kv.key.slice(this.#prefix.length)
              if (type === 'put') this.#mirror.set(short, kv)
              else this.#mirror.delete(short)
            }
            if (revision > this.#revision) this.#revision = revision
            if (events.some((e) => !e.kv.key.startsWith(this.#prefix + 'members/'))) this.#apply()
            this.#wake()
          },
          signal,
        )
      } catch (error) {
        if (signal.aborted) return
        if (this.#connected) {
          this.#logger.error('etcd lost: serving the last state known, reconnecting', {
            error: String((error as Error)?.message ?? error),
          })
        }
        // A compaction or a broken stream: read everything again before watching again.
        this.#connected = false
        if (error instanceof EtcdCompactedError) backoff = 100
        await sleep(backoff)
        backoff = Math.min(backoff * 2, 5000)
        continue
      }
    }
  }

  /** Lay etcd's state over the config, and apply it (unchanged backends keep their state). */
  #apply(): void {
    const base = toConfigInput(this.#control.config)
    const input: Record<string, unknown> = { ...base }
    const pools = { ...(base.pools as Record<string, Record<string, unknown>>) }
    const flags: { pool: string; id: string; enabled: boolean; draining: boolean }[] = []
    for (const pool of poolNames(this.#control.config)) {
      const backends = this.#backends(pool)
      for (const b of backends) {
        flags.push({ pool, id: b.id, enabled: b.enabled, draining: b.draining })
      }
      const section: Record<string, unknown> =
        pool === DEFAULT_POOL ? input : (pools[pool] = { ...pools[pool] })
      section.backends = backends.map(({ enabled: _e, draining: _d, ttl: _t, ...b }) => b)
      const strategy = this.#json<{ strategy: string; strategyOptions: unknown }>(
        `pools/${pool}/strategy`,
      )
      if (strategy) {
        section.strategy = strategy.strategy
        section.strategyOptions = strategy.strategyOptions
      }
      const keys = this.#json<{ secrets: unknown[] }>('sticky')
      const sticky = section.sticky as Record<string, unknown> | undefined
      if (keys && sticky?.enabled && !sticky.secret && !this.#baseSecrets(pool)) {
        section.sticky = { ...sticky, secrets: keys.secrets }
      }
    }
    input.pools = pools
    const routes = this.#json<unknown[]>('routes')
    if (routes) input.routes = routes
    const parsed = configSchemas().ConfigSchema.safeParse(input)
    if (!parsed.success) {
      this.#logger.error('fleet state not applied: it does not fit this instance', {
        issues: describeIssues(parsed.error.issues),
      })
      return
    }
    this.#control.applyConfig(parsed.data, { quiet: true })
    for (const { pool, id, enabled, draining } of flags) {
      this.#control.members(pool).setFlags(id, enabled, draining)
    }
  }

  /** Whether the config itself gives pool `pool` its sticky keys (they win over etcd's). */
  #baseSecrets(pool: string): boolean {
    const sticky = poolConfigOf(this.#base, pool)?.sticky
    return Boolean(sticky?.secret || sticky?.secrets)
  }

  /** Resolve the writers waiting for revisions up to the one applied. */
  #wake(): void {
    const ready = this.#waiters.filter((w) => w.revision <= this.#revision)
    this.#waiters = this.#waiters.filter((w) => w.revision > this.#revision)
    for (const waiter of ready) waiter.resolve()
  }

  /** Wait until revision `revision` is applied here (read your writes), 2 s at most. */
  async #applied(revision: number): Promise<void> {
    if (revision <= this.#revision) return
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      new Promise<void>((resolve) => this.#waiters.push({ revision, resolve })),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000)
      }),
    ])
    clearTimeout(timer)
    // The watch is slow or broken: read the state directly.
    if (revision > this.#revision) await this.#guard(() => this.#resync())
  }

  // ---- membership ----

  async #join(): Promise<void> {
    const ttl = Math.max(2, Math.round(this.#options.cluster.memberTtl / 1000))
    this.#memberLease = await this.#etcd.grant(ttl)
    await this.#publish()
    this.#logger.info('joined the fleet', { name: this.name, prefix: this.#prefix })
    clearInterval(this.#memberTimer)
    this.#memberTimer = setInterval(() => void this.#heartbeat(), Math.max(500, (ttl * 1000) / 3))
    ;(this.#memberTimer as { unref?: () => void }).unref?.()
  }

  async #publish(): Promise<void> {
    const member: FleetMember = {
      name: this.name,
      runtime: this.#options.runtime,
      version: this.#options.version,
      startedAt: this.#startedAt,
      revision: this.#revision,
    }
    await this.#etcd.txn(
      [],
      [
        {
          put: `${this.#prefix}members/${this.name}`,
          value: JSON.stringify(member),
          lease: this.#memberLease,
        },
      ],
    )
    this.#published = this.#revision
  }

  async #heartbeat(): Promise<void> {
    try {
      const left = this.#memberLease ? await this.#etcd.keepAlive(this.#memberLease) : 0
      if (left <= 0) await this.#join()
      else if (this.#published !== this.#revision) await this.#publish()
    } catch {
      // etcd is down: the watch loop reports it; the lease is granted again once it is back.
      this.#memberLease = ''
    }
  }

  // ---- helpers ----

  #backendKey(pool: string, id: string): string {
    return `${this.#prefix}pools/${pool}/backends/${id}`
  }

  #json<T>(key: string): T | undefined {
    const kv = this.#mirror.get(key)
    if (!kv) return undefined
    try {
      return JSON.parse(kv.value) as T
    } catch {
      return undefined
    }
  }

  #backends(pool: string): StoredBackend[] {
    const prefix = `pools/${pool}/backends/`
    const backends: StoredBackend[] = []
    for (const [key, kv] of this.#mirror) {
      if (!key.startsWith(prefix)) continue
      try {
        backends.push(JSON.parse(kv.value) as StoredBackend)
      } catch {
        // Not ours.
      }
    }
    return backends.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  #stored(pool: string, id: string): { kv: EtcdKv; value: StoredBackend } | undefined {
    const kv = this.#mirror.get(`pools/${pool}/backends/${id}`)
    if (!kv) return undefined
    return { kv, value: JSON.parse(kv.value) as StoredBackend }
  }

  #requirePool(pool: string): Config {
    const settings = poolConfigOf(this.#control.config, pool)
    if (!settings) throw new AdminError(404, `No pool ${pool}`)
    return settings
  }

  #view(pool: string, id: string): BackendView {
    const view = this.#control.members(pool).backend(id)
    if (!view) throw new AdminError(404, `No backend ${id}`)
    return view
  }

  #validate(input: unknown): Config {
    const parsed = configSchemas().ConfigSchema.safeParse(input)
    if (!parsed.success) {
      const issues = describeIssues(parsed.error.issues)
      throw new AdminError(400, issues.map((i) => `${i.path}: ${i.message}`).join('\n'), issues)
    }
    return parsed.data
  }

  /**
   * The comparison for a write of a whole value: the revision `If-Match` names (0 for a tag of
   * another kind: it never matches), the key's existence for `*`, nothing without one.
   */
  #precondition(key: string, ifMatch: string | undefined): EtcdCompare[] {
    if (ifMatch === undefined) return []
    const revision = revisionOf(ifMatch)
    if (revision === undefined) {
      return this.#mirror.has(key.slice(this.#prefix.length)) ? [] : [{ key, absent: true }]
    }
    return [{ key, modRevision: revision }]
  }

  #stale(what: string): never {
    throw new AdminError(412, `${what} changed since it was read: GET it again`)
  }

  /** Run an etcd call; etcd unreachable is a 503 that names it. */
  async #guard<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call()
    } catch (error) {
      if (error instanceof EtcdError) {
        throw new AdminError(503, `etcd unreachable: admin changes need it (${error.message})`)
      }
      throw error
    }
  }

  async #write(
    call: () => Promise<{ succeeded: boolean; revision: number }>,
    what: string,
  ): Promise<number> {
    const result = await this.#guard(call)
    if (!result.succeeded) throw new AdminError(409, `Concurrent ${what}: try again`)
    return result.revision
  }
}
