/**
 * The backend set (pingora-load-balancing's `Backends`): the members of a pool in their
 * configured order, the eligible subset strategies build from, and a version that changes
 * whenever that subset may have, so that selectors are rebuilt then and never per request. The
 * set holds no policy of its own: whether a member may take requests is {@link isAvailable}, and
 * what moves its fields is the other parts of the pool.
 */
import type { Backend } from '../types.ts'
import { isAvailable, type BackendState } from './backend-state.ts'

/**
 * The members of one pool, by id, in order.
 *
 * @example
 * ```ts
 * const set = new BackendSet()
 * set.insert(createBackendState(backend, new CircuitBreaker()))
 * set.eligible() // [backend]
 * ```
 */
export class BackendSet {
  readonly #states = new Map<string, BackendState>()
  #eligible: readonly Backend[] | undefined
  #standby: readonly Backend[] = []
  #effective: readonly Backend[] | undefined
  #version = 0

  /** Increases on every {@link changed}: whenever the eligible set may have changed. */
  get version(): number {
    return this.#version
  }

  /** Number of members, whatever their state. */
  get size(): number {
    return this.#states.size
  }

  /** Every member's state, in order. */
  values(): IterableIterator<BackendState> {
    return this.#states.values()
  }

  /** One member's state, or `undefined` when it is not in the set. */
  get(id: string): BackendState | undefined {
    return this.#states.get(id)
  }

  /** Whether `id` is a member. */
  has(id: string): boolean {
    return this.#states.has(id)
  }

  /** Add a member at the end. The caller checks that its id is new. */
  insert(state: BackendState): void {
    this.#states.set(state.backend.id, state)
    this.changed()
  }

  /**
   * Remove a member.
   *
   * @returns whether it was there
   */
  delete(id: string): boolean {
    if (!this.#states.delete(id)) return false
    this.changed()
    return true
  }

  /**
   * Put the members in the order of `backends`, each of which must be a member: list-order
   * strategies (threshold, fallbacks) depend on the configured order.
   */
  reorder(backends: readonly Backend[]): void {
    const ordered = backends.map((b) => this.#states.get(b.id)!)
    this.#states.clear()
    for (const state of ordered) this.#states.set(state.backend.id, state)
    this.changed()
  }

  /**
   * Something the eligible set or the effective weights depend on may have changed: a member's
   * health, admin state, ejection, circuit or ramp. Membership changes call it themselves.
   */
  changed(): void {
    this.#eligible = undefined
    this.#effective = undefined
    this.#version++
  }

  /**
   * The members that may take new requests ({@link isAvailable}). Backups are eligible only when
   * no primary is (HAProxy `backup`, nginx `backup`). Kept until the next {@link changed}.
   */
  eligible(): readonly Backend[] {
    if (this.#eligible) return this.#eligible
    const primaries: Backend[] = []
    const backups: Backend[] = []
    for (const state of this.#states.values()) {
      if (!isAvailable(state)) continue
      ;(state.backend.backup ? backups : primaries).push(state.backend)
    }
    this.#eligible = primaries.length > 0 ? primaries : backups
    this.#standby = primaries.length > 0 ? backups : []
    return this.#eligible
  }

  /**
   * The available backups while primaries are eligible: a request that failed on every primary
   * candidate may still try them, as nginx passes a request to its `backup` servers when the
   * primaries fail it. Empty when the backups are the eligible set already.
   */
  standby(): readonly Backend[] {
    this.eligible()
    return this.#standby
  }

  /**
   * {@link eligible}, with each backend's weight replaced by its effective weight while it ramps
   * up (slow start). Weighted strategies build from this; the objects keep their ids.
   */
  effectiveEligible(): readonly Backend[] {
    const eligible = this.eligible()
    if (this.#effective) return this.#effective
    this.#effective = eligible.map((backend) => {
      const factor = this.#states.get(backend.id)?.rampFactor ?? 1
      return factor === 1 ? backend : { ...backend, weight: backend.weight * factor }
    })
    return this.#effective
  }
}
