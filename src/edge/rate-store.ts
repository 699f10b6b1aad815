/**
 * Where rate-limit buckets live: in this process ({@link TokenBuckets}, answering at once), or in
 * a store the whole fleet shares (Redis, `redis-rate.ts`, answering in a Promise). A shared store
 * can fail: {@link FallbackRateStore} keeps answering then, as `onStoreDown` says, and never
 * throws.
 */
import type { Logger } from '../types.ts'
import { TokenBuckets, type RateDecision } from './rate-limit.ts'

export type { RateDecision }

/** A rate limit: `burst` requests at once, `requests` per `per` ms on average. */
export interface RateSpec {
  readonly requests: number
  /** The period, in ms. */
  readonly per: number
  readonly burst: number
}

/**
 * Buckets keyed by client, for one {@link RateSpec}. A local store answers at once; a shared one
 * answers in a Promise, which may reject when the store cannot be reached.
 */
export interface RateStore {
  /** Take one token from `key`'s bucket. */
  take(key: string): RateDecision | Promise<RateDecision>
}

/** What a fleet-wide limit does while its store cannot be reached. */
export type StoreDownPolicy = 'local' | 'allow' | 'deny'

/** Options for {@link FallbackRateStore}. */
export interface FallbackOptions {
  /** The fleet-wide limit. */
  spec: RateSpec
  /**
   * `local`: a bucket in this instance of the limit ÷ {@link members}; `allow`: every request;
   * `deny`: none (429).
   */
  policy: StoreDownPolicy
  /**
   * Live instances sharing the limit, read whenever the local share is used: fleet membership
   * (etcd) where there is one, else a fixed count. @default () => 1
   */
  members?: () => number
  /** Local buckets kept at most. @default 100000 */
  maxClients?: number
  /** The store as the log names it (no credentials). */
  name: string
  logger?: Logger
  /** @default Date.now */
  now?: () => number
  /** Wait before the store is tried again after a failure, in ms; doubled each time. @default 100 */
  backoff?: number
  /** The longest wait between tries. @default 2000 */
  maxBackoff?: number
}

/**
 * This instance's share of a fleet-wide limit: local buckets of the limit ÷ the live members (a
 * burst of at least one), rebuilt when the member count changes. For a fleet without a shared
 * store, and for a shared store that is down.
 */
export class LocalShare implements RateStore {
  readonly #spec: RateSpec
  readonly #members: () => number
  readonly #maxClients: number
  readonly #now: (() => number) | undefined
  #share: { members: number; buckets: TokenBuckets } | undefined

  constructor(spec: RateSpec, members: () => number, maxClients = 100_000, now?: () => number) {
    this.#spec = spec
    this.#members = members
    this.#maxClients = maxClients
    this.#now = now
  }

  /** The live members now: a whole number, at least 1. */
  get members(): number {
    const members = this.#members()
    return Number.isFinite(members) && members >= 1 ? Math.floor(members) : 1
  }

  take(key: string): RateDecision {
    const members = this.members
    let share = this.#share
    if (share?.members !== members) {
      const { requests, per, burst } = this.#spec
      share = this.#share = {
        members,
        buckets: new TokenBuckets({
          requests: requests / members,
          per,
          burst: Math.max(1, Math.ceil(burst / members)),
          maxClients: this.#maxClients,
          now: this.#now,
        }),
      }
    }
    return share.buckets.take(key)
  }
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return value instanceof Promise
}

/**
 * A shared store, and what to do while it is down. The first failure (a refused connection, a
 * timeout, an error reply) marks it down and is logged once; from then on requests are answered
 * by {@link FallbackOptions.policy} at once, without waiting on the store, and one request at a
 * time tries the store again after a backoff (100 ms, doubling up to 2 s). The first answer from
 * the store marks it up again, logged once.
 *
 * With `local`, the local share also follows this instance's use while the store is up (each
 * request the store lets through takes a local token too, where one is left), so that a fallback
 * starts from where the instance stood rather than from full buckets: a store that blinks does
 * not let a burst through on every instance.
 *
 * @example
 * ```ts
 * const store = new FallbackRateStore(redisStore, {
 *   spec: { requests: 60, per: 1000, burst: 60 }, policy: 'local', members: () => 3, name,
 * })
 * const decision = await store.take('ip:192.0.2.1')
 * ```
 */
export class FallbackRateStore implements RateStore {
  readonly #remote: RateStore
  readonly #options: FallbackOptions
  readonly #now: () => number
  #down = false
  #retryAt = 0
  #backoff: number
  /** A try of the store while it is down is under way. */
  #probing = false
  #local: LocalShare | undefined

  constructor(remote: RateStore, options: FallbackOptions) {
    this.#remote = remote
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#backoff = options.backoff ?? 100
  }

  /** Whether the store is taken to be down now. */
  get down(): boolean {
    return this.#down
  }

  take(key: string): RateDecision | Promise<RateDecision> {
    const probe = this.#down
    if (probe && (this.#probing || this.#now() < this.#retryAt)) return this.#fallback(key)
    if (probe) this.#probing = true
    let answer: RateDecision | Promise<RateDecision>
    try {
      answer = this.#remote.take(key)
    } catch (error) {
      return this.#failed(error, key, probe)
    }
    if (!isPromise(answer)) return this.#succeeded(answer, key, probe)
    return answer.then(
      (decision) => this.#succeeded(decision, key, probe),
      (error: unknown) => this.#failed(error, key, probe),
    )
  }

  #succeeded(decision: RateDecision, key: string, probe: boolean): RateDecision {
    if (probe) this.#probing = false
    if (decision.allowed && this.#options.policy === 'local') this.#share().take(key)
    if (this.#down) {
      this.#down = false
      this.#backoff = this.#options.backoff ?? 100
      this.#options.logger?.info('rate-limit store reachable again: the limit is fleet-wide', {
        store: this.#options.name,
      })
    }
    return decision
  }

  #failed(error: unknown, key: string, probe: boolean): RateDecision {
    if (probe) {
      this.#probing = false
      this.#backoff = Math.min(this.#backoff * 2, this.#options.maxBackoff ?? 2000)
    }
    if (!this.#down) {
      this.#down = true
      this.#options.logger?.warn(
        `rate-limit store unreachable: onStoreDown ${this.#options.policy}`,
        {
          store: this.#options.name,
          policy: this.#options.policy,
          members: this.#options.policy === 'local' ? this.#share().members : undefined,
          reason: String((error as Error)?.message ?? error),
        },
      )
    }
    // Requests already sent when the store went down do not push the next try further away.
    if (probe || this.#retryAt <= this.#now()) this.#retryAt = this.#now() + this.#backoff
    return this.#fallback(key)
  }

  #share(): LocalShare {
    const { spec, members, maxClients } = this.#options
    return (this.#local ??= new LocalShare(spec, members ?? (() => 1), maxClients, this.#now))
  }

  /** The answer while the store is down. */
  #fallback(key: string): RateDecision {
    const { spec, policy } = this.#options
    const burst = spec.burst
    const period = spec.per / spec.requests
    if (policy === 'allow') {
      // As a fresh bucket would answer.
      return {
        allowed: true,
        limit: burst,
        remaining: burst - 1,
        reset: Math.ceil(period / 1000),
        retryAfter: 0,
      }
    }
    if (policy === 'deny') {
      const wait = Math.max(1, Math.ceil((this.#retryAt - this.#now()) / 1000))
      return { allowed: false, limit: burst, remaining: 0, reset: wait, retryAfter: wait }
    }
    return this.#share().take(key)
  }
}
