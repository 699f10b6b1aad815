/**
 * Request ids: the client's `X-Request-Id` when it is sane, else a fresh random (version 4) UUID
 * (RFC 9562 §5.4), as `crypto.randomUUID()` makes them, from the same source
 * (`crypto.getRandomValues`), but drawn from a pool filled for 256 ids at a time (as Node keeps
 * 128 ids' worth) and written as one string. Node's `randomUUID` joins each id from twenty
 * pieces: about 0.5 KB of short-lived strings per request, 3% of what a proxied request allocates.
 */
import { acceptableRequestId } from './headers.ts'

/** Bytes of one UUID. */
const UUID_BYTES = 16
/** Random bytes drawn at once: 256 ids (Web Crypto allows 64 KiB a call). */
const POOL_BYTES = 256 * UUID_BYTES
const pool = new Uint8Array(POOL_BYTES)
/** The next unused byte of the pool; at its end, the pool is drawn again. */
let next = POOL_BYTES

/** The code units of `0`–`9`, `a`–`f`. */
const HEX_DIGITS = Array.from('0123456789abcdef', (digit) => digit.charCodeAt(0))
/** Where the two hex digits of each byte go in `8-4-4-4-12`. */
const POSITIONS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34]
/** The id's code units, hyphens in place; the digits are written over for each id. */
const units: number[] = Array.from('00000000-0000-0000-0000-000000000000', (c) => c.charCodeAt(0))

/**
 * A new random UUID, lower-case, `xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`.
 *
 * @example
 * ```ts
 * newRequestId() // '3b241101-e2bb-4255-8caf-4136c566a962'
 * ```
 */
export function newRequestId(): string {
  if (next === POOL_BYTES) {
    crypto.getRandomValues(pool)
    next = 0
  }
  const at = next
  next += UUID_BYTES
  for (let i = 0; i < UUID_BYTES; i++) {
    let byte = pool[at + i]!
    // The version (4, random) and the variant (10xx), RFC 9562 §4.1, §4.2.
    if (i === 6) byte = (byte & 0x0f) | 0x40
    else if (i === 8) byte = (byte & 0x3f) | 0x80
    const position = POSITIONS[i]!
    units[position] = HEX_DIGITS[byte >> 4]!
    units[position + 1] = HEX_DIGITS[byte & 0x0f]!
  }
  return String.fromCharCode.apply(null, units)
}

/** The id of a request: the `X-Request-Id` the client sent when sane, else {@link newRequestId}. */
export function requestIdFrom(sent: string | null): string {
  return acceptableRequestId(sent) ?? newRequestId()
}
