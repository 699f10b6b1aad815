const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1_048_576,
  mb: 1_048_576,
  mib: 1_048_576,
  g: 1_073_741_824,
  gb: 1_073_741_824,
  gib: 1_073_741_824,
}
const SIZE = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/

/**
 * Parse a size in bytes: a whole number, or a number with a binary unit (`16k`, `10MiB`, `1gb`;
 * k, m and g are powers of 1024, as in nginx).
 *
 * @example
 * ```ts
 * parseByteSize('16k') // 16384
 * ```
 * @returns the size in bytes, or `undefined` when the text is not a size
 */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  }
  const match = SIZE.exec(value.trim().toLowerCase())
  const unit = match && UNITS[match[2]!]
  if (!unit) return undefined
  const bytes = Math.round(Number(match[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}
