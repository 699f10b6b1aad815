const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/

/**
 * Parse a duration such as `500ms`, `5s`, `1m` or `2h` into milliseconds. A bare number is taken as
 * milliseconds, as in HAProxy's `timeout` directives.
 *
 * @example
 * ```ts
 * parseDuration('1.5s') // 1500
 * ```
 * @returns the duration in milliseconds, or `undefined` when the text is not a duration
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed)
  const match = DURATION.exec(trimmed)
  if (!match) return undefined
  return Math.round(Number(match[1]) * UNITS[match[2]!]!)
}
