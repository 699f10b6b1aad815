/**
 * Fleet-wide rate limits in Redis: one key per client bucket, one atomic Lua script (GCRA), and
 * at most one round trip per request. The requests that arrive while a round trip is under way
 * go together in the next one: one `EVALSHA` for all their buckets, so that under load a batch
 * costs one round trip and one script run, however many requests it answers.
 *
 * The client comes from the runtime (`RuntimeDeps.redis`): `src/` only sees {@link RedisLike}.
 */
import type { RedisLike } from '../redis-client.ts'
import type { RateDecision, RateSpec, RateStore } from './rate-store.ts'

/**
 * GCRA (the generic cell rate algorithm of ITU-T I.371, as redis-cell and Stripe use it): a
 * bucket is one key that holds its theoretical arrival time (TAT), in ms on Redis's own clock,
 * so that the instances' clocks do not matter. A request fits while TAT − now ≤ τ − T, where T is
 * the time one request is worth (`per` ÷ `requests`) and τ = T × burst; it moves TAT on by T.
 * This is the token bucket of rate-limit.ts, with tokens = (τ − (TAT − now)) ÷ T.
 *
 * KEYS[i]: a bucket; ARGV[1]: T; ARGV[2]: τ; ARGV[2 + i]: requests for KEYS[i], taken in order.
 * Returns for each key: the requests that fit, then µs until its bucket is full again. A key
 * expires when its bucket is full again, since a missing key is a full bucket.
 */
export const GCRA_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + tonumber(time[2]) / 1000
local period = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local out = {}
for i, key in ipairs(KEYS) do
  local wanted = tonumber(ARGV[2 + i])
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local fit = math.floor((now + tolerance - tat) / period + 1e-9)
  local allowed = math.max(0, math.min(wanted, fit))
  if allowed > 0 then
    tat = tat + allowed * period
    redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  end
  out[#out + 1] = allowed
  out[#out + 1] = math.floor((tat - now) * 1000)
end
return out
`

/** Options for {@link RedisRateStore}. */
export interface RedisRateOptions {
  redis: RedisLike
  spec: RateSpec
  /** Put before every key. @default 'fulcrum:rl:' */
  prefix?: string
  /** A round trip is given up after this many ms: every request in it fails. @default 100 */
  timeout?: number
  /**
   * The first round trip's timeout instead, while the client loads and connects (50 to 100 ms on
   * a warm machine; more under load). @default 1000
   */
  firstTimeout?: number
  /** Buckets in one round trip at most; the rest go in the next. @default 1000 */
  maxBatch?: number
}

interface Waiter {
  resolve(decision: RateDecision): void
  reject(error: unknown): void
}

/** The SHA1 of `text` in hex, as `EVALSHA` names a script. */
async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('')
}

let scriptSha: string | undefined
/** The script's SHA1, once known: until then, the script goes whole (`EVAL`). */
export const GCRA_SHA: Promise<string> = sha1(GCRA_SCRIPT).then((sha) => (scriptSha = sha))
GCRA_SHA.catch(() => {})

/**
 * Token buckets in Redis, shared by every instance that uses the same Redis and prefix. `take`
 * rejects when Redis does not answer in time or answers an error: wrap it in a
 * `FallbackRateStore` for `onStoreDown`.
 *
 * @example
 * ```ts
 * const store = new RedisRateStore({ redis, spec: { requests: 60, per: 1000, burst: 60 } })
 * const decision = await store.take('ip:192.0.2.1')
 * ```
 */
export class RedisRateStore implements RateStore {
  readonly #redis: RedisLike
  readonly #prefix: string
  readonly #timeout: number
  readonly #firstTimeout: number
  /** Redis has answered once: from then on, the short timeout. */
  #answered = false
  readonly #maxBatch: number
  readonly #period: number
  readonly #tolerance: number
  readonly #burst: number
  #pending = new Map<string, Waiter[]>()
  #inFlight = false
  #scheduled = false
  /** Round trips made, for tests and measurements. */
  roundTrips = 0

  constructor(options: RedisRateOptions) {
    const { spec } = options
    this.#redis = options.redis
    this.#prefix = options.prefix ?? 'fulcrum:rl:'
    this.#timeout = options.timeout ?? 100
    this.#firstTimeout = Math.max(this.#timeout, options.firstTimeout ?? 1000)
    this.#maxBatch = options.maxBatch ?? 1000
    this.#period = spec.per / spec.requests
    this.#tolerance = this.#period * spec.burst
    this.#burst = spec.burst
  }

  take(key: string): Promise<RateDecision> {
    return new Promise((resolve, reject) => {
      const waiting = this.#pending.get(key)
      if (waiting) waiting.push({ resolve, reject })
      else this.#pending.set(key, [{ resolve, reject }])
      if (!this.#inFlight && !this.#scheduled) {
        // The requests of this turn of the event loop go together.
        this.#scheduled = true
        queueMicrotask(this.#flush)
      }
    })
  }

  #flush = (): void => {
    this.#scheduled = false
    if (this.#inFlight || this.#pending.size === 0) return
    let batch = this.#pending
    if (batch.size <= this.#maxBatch) {
      this.#pending = new Map()
    } else {
      batch = new Map()
      for (const [key, waiters] of this.#pending) {
        batch.set(key, waiters)
        this.#pending.delete(key)
        if (batch.size === this.#maxBatch) break
      }
    }
    this.#inFlight = true
    this.roundTrips++
    this.#send(batch).then(
      (reply) => {
        this.#inFlight = false
        this.#settle(batch, reply)
        this.#flush()
      },
      (error: unknown) => {
        this.#inFlight = false
        // Redis is down or slow: the requests waiting behind this one would only wait as long.
        const failed = [...batch.values(), ...this.#pending.values()]
        this.#pending = new Map()
        for (const waiters of failed) for (const waiter of waiters) waiter.reject(error)
      },
    )
  }

  /** One round trip for `batch`, given up after the timeout. */
  async #send(batch: Map<string, Waiter[]>): Promise<number[]> {
    const args: (string | number)[] = [batch.size]
    for (const key of batch.keys()) args.push(this.#prefix + key)
    args.push(this.#period, this.#tolerance)
    for (const waiters of batch.values()) args.push(waiters.length)
    let timer: ReturnType<typeof setTimeout> | undefined
    const ms = this.#answered ? this.#timeout : this.#firstTimeout
    const timeout = new Promise<never>((_, reject) => {
      const fail = () => reject(new Error(`Redis did not answer within ${ms} ms`))
      // One more turn of the event loop first: after a stall of this process (GC, a busy CPU),
      // timers run before the sockets are read, and the answer may be waiting there.
      timer = setTimeout(() => (timer = setTimeout(fail, 0)), ms)
    })
    try {
      const reply = await Promise.race([this.#run(args), timeout])
      if (!Array.isArray(reply) || reply.length !== batch.size * 2) {
        throw new Error('Unexpected reply from the rate-limit script')
      }
      this.#answered = true
      return reply.map(Number)
    } finally {
      clearTimeout(timer)
    }
  }

  /** `EVALSHA`, or `EVAL` where Redis does not have the script yet (a restart empties its cache). */
  async #run(args: (string | number)[]): Promise<unknown> {
    const sha = scriptSha
    if (sha) {
      try {
        return await this.#redis.call('EVALSHA', [sha, ...args])
      } catch (error) {
        if (!String((error as Error)?.message).startsWith('NOSCRIPT')) throw error
      }
    }
    // EVAL also caches the script, so that EVALSHA finds it from then on.
    return this.#redis.call('EVAL', [GCRA_SCRIPT, ...args])
  }

  /** Answer each waiter from its key's result: the first `allowed` of them fit. */
  #settle(batch: Map<string, Waiter[]>, reply: number[]): void {
    const period = this.#period
    let at = 0
    for (const waiters of batch.values()) {
      const allowed = reply[at++]!
      // The bucket's debt (TAT − now) after the allowed requests, in ms.
      const debt = reply[at++]! / 1000
      for (let i = 0; i < waiters.length; i++) {
        const fits = i < allowed
        // An allowed request sees the debt as it left it; a refused one, the final debt.
        const after = fits ? debt - (allowed - 1 - i) * period : debt
        const tokens = (this.#tolerance - after) / period
        waiters[i]!.resolve({
          allowed: fits,
          limit: this.#burst,
          remaining: Math.min(this.#burst, Math.max(0, Math.floor(tokens + 1e-9))),
          reset: Math.max(0, Math.ceil(after / 1000)),
          retryAfter: fits ? 0 : Math.max(1, Math.ceil(((1 - tokens) * period) / 1000)),
        })
      }
    }
  }
}
