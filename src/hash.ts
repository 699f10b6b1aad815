const FNV_OFFSET = 0xcbf29ce484222325n
const FNV_PRIME = 0x100000001b3n
const MASK_64 = 0xffffffffffffffffn

/**
 * FNV-1a, 64 bit, over the UTF-16 code units of `text`. Stable across runtimes and instances, so
 * anything derived from it (backend ids, hash rings) agrees between fulcrum instances.
 *
 * @returns the hash as 16 lowercase hex digits
 */
export function fnv1a64Hex(text: string): string {
  let hash = FNV_OFFSET
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i))
    hash = (hash * FNV_PRIME) & MASK_64
  }
  return hash.toString(16).padStart(16, '0')
}
