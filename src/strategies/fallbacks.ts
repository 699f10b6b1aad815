/** Fallback orders shared by the selectors. Each is lazy: nothing is computed until asked for. */
import type { Backend } from '../types.ts'

/**
 * The backends after `first` in list order, wrapping around, skipping `skip` too (when given).
 */
export function* rotation(
  backends: readonly Backend[],
  first: number,
  skip = -1,
): Generator<Backend, void, undefined> {
  const count = backends.length
  for (let i = 1; i < count; i++) {
    const at = (first + i) % count
    if (at !== skip) yield backends[at]!
  }
}

/**
 * Every backend but `first`, least `score` first (ties in list order). Sorts only when a
 * fallback is asked for, which happens only when the first choice failed.
 */
export function* byScore(
  backends: readonly Backend[],
  first: number,
  score: (backend: Backend) => number,
): Generator<Backend, void, undefined> {
  if (backends.length < 2) return
  const rest: { backend: Backend; score: number; at: number }[] = []
  backends.forEach((backend, at) => {
    if (at !== first) rest.push({ backend, score: score(backend), at })
  })
  rest.sort((a, b) => a.score - b.score || a.at - b.at)
  for (const { backend } of rest) yield backend
}

/** Map each backend's id to its position in `backends`. */
export function indexById(backends: readonly Backend[]): Map<string, number> {
  return new Map(backends.map((backend, at) => [backend.id, at]))
}
