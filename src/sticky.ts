/**
 * Sticky sessions: the signed `lb_sid` cookie that pins a client to one backend.
 *
 * The value is `base64url(kid.backendId.issuedAt).hmac`: the key id, the backend's opaque id (never
 * its address) and the issue time in whole seconds, followed by the base64url HMAC-SHA256 of the
 * encoded part under the key named by `kid`. New cookies are signed with the newest key; any
 * configured key verifies, so keys can be rotated without dropping sessions, and instances that
 * share the keys honour each other's cookies. A forged, tampered, expired or unknown value counts
 * as no cookie.
 */
import type { Backend, Logger } from './types.ts'

/** One signing key. */
export interface StickyKey {
  /** Key id, carried in each cookie: 1 to 32 characters of A-Z, a-z, 0-9, `_` and `-`. */
  readonly kid: string
  /** The secret; at least 16 characters. */
  readonly secret: string
}

/** Options for {@link StickySessions}. */
export interface StickyOptions {
  /** The keys, newest first: the first signs, every one verifies. */
  readonly keys: readonly StickyKey[]
  /** How long a cookie pins its client, in ms. Whole seconds count. */
  readonly maxAge: number
  /** The cookie name. @default 'lb_sid' */
  readonly cookie?: string
  /** The clock, in ms since the epoch. @default Date.now */
  readonly now?: () => number
  /** Verdicts remembered per cookie value, so that HMAC runs once per value. @default 10000 */
  readonly cacheSize?: number
}

/** A verified pin. */
export interface StickyPin {
  readonly kid: string
  readonly backendId: string
  /** When the cookie was issued, in seconds since the epoch. */
  readonly issuedAt: number
}

/** A signed cookie value and its issue time, in seconds since the epoch. */
export interface IssuedCookie {
  readonly value: string
  readonly issuedAt: number
}

/** Key ids: no `.`, so that the payload splits unambiguously. */
const KID = /^[A-Za-z0-9_-]{1,32}$/
/** A whole cookie value: the encoded payload, a dot, and 43 characters of base64url HMAC. */
const VALUE = /^[A-Za-z0-9_-]{4,512}\.[A-Za-z0-9_-]{43}$/
/** Issue times this far in the future still verify, for clocks that differ between instances. */
const CLOCK_SKEW_S = 60

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** base64url without padding (RFC 4648 §5). */
export function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Decode base64url (RFC 4648 §5), or `undefined` when it is not. */
export function fromBase64url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  try {
    const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
    const bytes = new Uint8Array(binary.length)
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
    return bytes
  } catch {
    return undefined
  }
}

/** Compare two strings in time that depends only on their lengths. */
export function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * Signs and verifies `lb_sid` values. Verdicts are cached per value and signed values per backend
 * and issue second bucket, so a steady client costs one map lookup, not one HMAC, per request.
 *
 * @example
 * ```ts
 * const sticky = new StickySessions({ keys: [{ kid: 'k1', secret }], maxAge: 3_600_000 })
 * const value = await sticky.issue('b1')
 * ;(await sticky.verify(value))?.backendId // 'b1'
 * ```
 */
export class StickySessions {
  /** The cookie name. */
  readonly cookie: string
  /** The max age in whole seconds. */
  readonly maxAgeSeconds: number
  readonly #keys: ReadonlyMap<string, Promise<CryptoKey>>
  readonly #signingKid: string
  readonly #now: () => number
  readonly #cacheSize: number
  /** The bucket that issue times are rounded down to, in seconds. */
  readonly #bucket: number
  readonly #verdicts = new Map<string, StickyPin | null>()
  readonly #signed = new Map<string, { issuedAt: number; value: Promise<string> }>()

  constructor(options: StickyOptions) {
    if (options.keys.length === 0) throw new Error('Sticky sessions need at least one key')
    const keys = new Map<string, Promise<CryptoKey>>()
    for (const { kid, secret } of options.keys) {
      if (!KID.test(kid)) throw new Error(`Invalid sticky key id "${kid}"`)
      if (keys.has(kid)) throw new Error(`Duplicate sticky key id "${kid}"`)
      keys.set(kid, importKey(secret))
    }
    this.#keys = keys
    this.#signingKid = options.keys[0]!.kid
    this.cookie = options.cookie ?? 'lb_sid'
    this.maxAgeSeconds = Math.floor(options.maxAge / 1000)
    if (this.maxAgeSeconds < 1) throw new Error('The sticky max age must be at least 1s')
    this.#now = options.now ?? (() => Date.now())
    this.#cacheSize = options.cacheSize ?? 10_000
    // A minute, or a tenth of the max age when that is shorter: cookies stay valid for at least
    // 90% of the max age, and every client pinned to a backend within the bucket shares one value.
    this.#bucket = Math.max(1, Math.min(60, Math.floor(this.maxAgeSeconds / 10)))
  }

  /**
   * The pin a cookie value carries, or `undefined` when the value is malformed, forged, tampered
   * with, signed by an unknown key, or expired.
   */
  async verify(value: string): Promise<StickyPin | undefined> {
    let pin = this.#verdicts.get(value)
    if (pin === undefined) {
      if (!VALUE.test(value)) return undefined
      pin = await this.#check(value)
      this.#remember(this.#verdicts, value, pin)
    }
    if (pin === null) return undefined
    const age = this.#seconds() - pin.issuedAt
    return age < this.maxAgeSeconds && age >= -CLOCK_SKEW_S ? pin : undefined
  }

  /** Whether a valid pin is old enough (half its max age) to be renewed with a fresh cookie. */
  shouldRenew(pin: StickyPin): boolean {
    return this.#seconds() - pin.issuedAt >= this.maxAgeSeconds / 2
  }

  /**
   * A fresh cookie pinning to `backendId`, signed with the newest key. The issue time is rounded
   * down to a bucket, so the signature is computed once per backend and bucket.
   */
  async issue(backendId: string): Promise<IssuedCookie> {
    const now = this.#seconds()
    const issuedAt = now - (now % this.#bucket)
    let cached = this.#signed.get(backendId)
    if (cached?.issuedAt !== issuedAt) {
      cached = { issuedAt, value: this.sign({ kid: this.#signingKid, backendId, issuedAt }) }
      this.#remember(this.#signed, backendId, cached)
    }
    return { value: await cached.value, issuedAt }
  }

  /** Sign an explicit pin. `issue` is what the proxy uses; this exists for rotation and tests. */
  async sign(pin: StickyPin): Promise<string> {
    const key = this.#keys.get(pin.kid)
    if (!key) throw new Error(`Unknown sticky key id "${pin.kid}"`)
    const payload = base64url(encoder.encode(`${pin.kid}.${pin.backendId}.${pin.issuedAt}`))
    return `${payload}.${await hmac(await key, payload)}`
  }

  /**
   * The `Set-Cookie` field value for an issued cookie: `HttpOnly; SameSite=Lax; Path=/`, `Secure` on TLS,
   * and a `Max-Age` (RFC 6265 §4.1.2.2) that ends when the server stops honouring the value.
   */
  setCookie(issued: IssuedCookie, secure: boolean): string {
    const remaining = Math.max(0, this.maxAgeSeconds - (this.#seconds() - issued.issuedAt))
    return (
      `${this.cookie}=${issued.value}; Max-Age=${remaining}; Path=/; HttpOnly; SameSite=Lax` +
      (secure ? '; Secure' : '')
    )
  }

  async #check(value: string): Promise<StickyPin | null> {
    const dot = value.indexOf('.')
    const payload = value.slice(0, dot)
    const bytes = fromBase64url(payload)
    if (!bytes) return null
    let text: string
    try {
      text = decoder.decode(bytes)
    } catch {
      return null
    }
    const first = text.indexOf('.')
    const last = text.lastIndexOf('.')
    if (first <= 0 || last <= first + 1) return null
    const kid = text.slice(0, first)
    const key = this.#keys.get(kid)
    if (!key) return null
    const issued = text.slice(last + 1)
    if (!/^\d{1,12}$/.test(issued)) return null
    // Only an authentic payload is trusted; the HMAC covers the encoded text exactly as sent.
    if (!timingSafeEqual(await hmac(await key, payload), value.slice(dot + 1))) return null
    return { kid, backendId: text.slice(first + 1, last), issuedAt: Number(issued) }
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000)
  }

  #remember<V>(map: Map<string, V>, key: string, value: V): void {
    if (map.size >= this.#cacheSize) map.delete(map.keys().next().value!)
    map.set(key, value)
  }
}

function importKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
}

async function hmac(key: CryptoKey, text: string): Promise<string> {
  return base64url(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(text))))
}

/**
 * The sticky layer over a base strategy: the pinned backend first, then the base strategy's
 * candidates without it.
 */
export function* pinnedFirst(pinned: Backend, rest: Iterable<Backend>): Generator<Backend> {
  yield pinned
  for (const backend of rest) if (backend.id !== pinned.id) yield backend
}

/** The `sticky` section of the config, as {@link createStickySessions} needs it. */
export interface StickyConfig {
  readonly cookie: string
  readonly maxAge: number
  readonly secret?: string
  readonly secrets?: readonly StickyKey[]
}

/**
 * Build the sticky layer from config. Without a configured secret, a random one is generated and
 * a warning logged: cookies then neither survive a restart nor work across instances.
 */
export function createStickySessions(config: StickyConfig, logger?: Logger): StickySessions {
  let keys = config.secrets ?? (config.secret ? [{ kid: 'k0', secret: config.secret }] : undefined)
  if (!keys) {
    keys = [{ kid: 'k0', secret: base64url(crypto.getRandomValues(new Uint8Array(32))) }]
    logger?.warn(
      'sticky: no secret configured, using a random one: lb_sid cookies will not survive a restart or be honoured by other instances (set sticky.secret or FULCRUM_STICKY_SECRET)',
      {},
    )
  }
  return new StickySessions({ keys, maxAge: config.maxAge, cookie: config.cookie })
}
