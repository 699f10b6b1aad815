/**
 * Per-client token buckets (as nginx `limit_req` with `burst`, Envoy's local rate limit): a
 * bucket holds up to `burst` tokens and refills at `rate`; each request takes one. The buckets
 * live in this process, so the limits are per instance.
 */

/** Options for {@link TokenBuckets}. */
export interface TokenBucketOptions {
  /** Tokens added per period. */
  requests: number
  /** The period, in ms. */
  per: number
  /** A bucket's size. */
  burst: number
  /** Buckets kept at most; the least recently used is dropped first. */
  maxClients: number
  /** @default Date.now */
  now?: () => number
}

/** The answer for one request. */
export interface RateDecision {
  readonly allowed: boolean
  /** The bucket's size (`RateLimit-Limit`). */
  readonly limit: number
  /** Whole tokens left after this request (`RateLimit-Remaining`). */
  readonly remaining: number
  /** Seconds until the bucket is full again (`RateLimit-Reset`). */
  readonly reset: number
  /** When refused: seconds until a token is there (`Retry-After`). */
  readonly retryAfter: number
}

interface Bucket {
  tokens: number
  at: number
}

/**
 * A set of token buckets keyed by client. Memory is bounded: beyond `maxClients`, the least
 * recently used bucket goes, and a bucket that has refilled completely is dropped when met,
 * since a fresh bucket behaves the same.
 *
 * @example
 * ```ts
 * const buckets = new TokenBuckets({ requests: 10, per: 1000, burst: 20, maxClients: 100_000 })
 * if (!buckets.take(clientIp).allowed) return tooManyRequests()
 * ```
 */
export class TokenBuckets {
  readonly #buckets = new Map<string, Bucket>()
  readonly #rate: number
  readonly #burst: number
  readonly #max: number
  readonly #now: () => number

  constructor(options: TokenBucketOptions) {
    this.#rate = options.requests / options.per
    this.#burst = options.burst
    this.#max = options.maxClients
    this.#now = options.now ?? Date.now
  }

  /** Buckets held now. */
  get size(): number {
    return this.#buckets.size
  }

  /** Take one token from `key`'s bucket. */
  take(key: string): RateDecision {
    const now = this.#now()
    const buckets = this.#buckets
    let bucket = buckets.get(key)
    if (bucket) {
      bucket.tokens = Math.min(this.#burst, bucket.tokens + (now - bucket.at) * this.#rate)
      bucket.at = now
      // Most recently used last: the Map's order is the eviction order.
      buckets.delete(key)
    } else {
      bucket = { tokens: this.#burst, at: now }
    }
    buckets.set(key, bucket)
    this.#sweep(now)
    const allowed = bucket.tokens >= 1
    if (allowed) bucket.tokens -= 1
    const missing = this.#burst - bucket.tokens
    return {
      allowed,
      limit: this.#burst,
      remaining: Math.floor(bucket.tokens),
      reset: Math.ceil(missing / this.#rate / 1000),
      retryAfter: allowed ? 0 : Math.max(1, Math.ceil((1 - bucket.tokens) / this.#rate / 1000)),
    }
  }

  /** Drop the oldest buckets while there are too many, or while they have refilled anyway. */
  #sweep(now: number): void {
    const buckets = this.#buckets
    for (const [key, bucket] of buckets) {
      const full = bucket.tokens + (now - bucket.at) * this.#rate >= this.#burst
      if (buckets.size <= this.#max && !full) break
      // The newest bucket is the one being used: never drop it.
      if (buckets.size === 1) break
      buckets.delete(key)
    }
  }
}

/** What a rate limit needs to say about itself. */
interface RateShape {
  readonly requests: number
  readonly per: number
  readonly burst?: number | undefined
  readonly key: string
}

/** A limit's bucket size: `burst`, else one period's requests (at least 1). */
export function burstOf(rate: Pick<RateShape, 'requests' | 'burst'>): number {
  return rate.burst ?? Math.max(1, Math.ceil(rate.requests))
}

/** `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers): the quota and its window in s. */
export function rateLimitPolicy(rate: Pick<RateShape, 'requests' | 'per'>): string {
  return `${rate.requests};w=${Math.max(1, Math.round(rate.per / 1000))}`
}

/** The `RateLimit-*` fields of one decision (the same draft). */
export function decisionFields(decision: RateDecision): Record<string, string> {
  return {
    'ratelimit-limit': String(decision.limit),
    'ratelimit-remaining': String(decision.remaining),
    'ratelimit-reset': String(decision.reset),
  }
}

/** The header a limit keys clients by (`key: "header:NAME"`), or `undefined` for the address. */
export function rateKeyHeader(rate: Pick<RateShape, 'key'>): string | undefined {
  return rate.key.startsWith('header:') ? rate.key.slice(7) : undefined
}

/** A client's bucket: the key header's value when it has one, else its address. */
export function bucketKey(
  header: string | undefined,
  headers: Headers,
  client: string | undefined,
): string {
  const value = (header && headers.get(header)) || undefined
  return value ? `h:${value}` : `ip:${client ?? ''}`
}
