/**
 * TTL leases for self-registered backends, as Consul's TTL checks and Eureka's renewals: a backend
 * registered with a `ttl` must heartbeat within it, or it is removed. Expiry runs on `setTimeout`,
 * so fake timers drive it in tests.
 */

/** One lease. */
export interface Lease {
  /** Its length, in ms. */
  readonly ttl: number
  /** When it lapses, in ms since the epoch. */
  readonly expiresAt: number
}

/** Options for {@link Leases}. */
export interface LeasesOptions {
  /** Called once when a lease lapses without a renewal. */
  onExpire: (id: string) => void
  /** @default Date.now */
  now?: () => number
}

/**
 * The leases, by backend id.
 *
 * @example
 * ```ts
 * const leases = new Leases({ onExpire: (id) => pool.remove(id) })
 * leases.grant('b1', 10_000)
 * leases.renew('b1')
 * ```
 */
export class Leases {
  readonly #leases = new Map<string, { lease: Lease; timer: ReturnType<typeof setTimeout> }>()
  readonly #onExpire: (id: string) => void
  readonly #now: () => number

  constructor(options: LeasesOptions) {
    this.#onExpire = options.onExpire
    this.#now = options.now ?? Date.now
  }

  /** Grant (or replace) a lease of `ttl` ms. */
  grant(id: string, ttl: number): Lease {
    this.revoke(id)
    const lease: Lease = { ttl, expiresAt: this.#now() + ttl }
    const timer = setTimeout(() => {
      this.#leases.delete(id)
      this.#onExpire(id)
    }, ttl)
    this.#leases.set(id, { lease, timer })
    return lease
  }

  /**
   * Renew a lease for another full TTL.
   *
   * @returns the renewed lease, or `undefined` when `id` holds none
   */
  renew(id: string): Lease | undefined {
    const held = this.#leases.get(id)
    return held && this.grant(id, held.lease.ttl)
  }

  /** The lease `id` holds, if any. */
  get(id: string): Lease | undefined {
    return this.#leases.get(id)?.lease
  }

  /** Drop a lease without expiring it. */
  revoke(id: string): void {
    const held = this.#leases.get(id)
    if (!held) return
    clearTimeout(held.timer)
    this.#leases.delete(id)
  }

  /** Drop every lease (on shutdown). */
  clear(): void {
    for (const id of [...this.#leases.keys()]) this.revoke(id)
  }
}
