import type { Backend } from '../types.ts'
import { indexById } from './fallbacks.ts'
import { hash32 } from './hash32.ts'
import { optionsFor } from './options.ts'
import type { PickInput, Strategy } from './strategy.ts'

/** Ring points at most, however many backends and weights; beyond it, fewer per weight. */
export const MAX_RING_POINTS = 1 << 20

/** Backend ranks are packed below the hash in one float64 for sorting: 2^20 backends at most. */
const RANK_SCALE = 1 << 20

/**
 * A ketama ring: each backend owns `virtualNodes × weight` points, the 32-bit hashes of
 * `${id}-${n}`, and a key belongs to the first point at or after its own hash. The ring depends
 * only on the backends' ids and weights, not on their order, so instances with the same config
 * build the same ring. Equal points are ordered by id.
 */
export class HashRing {
  /** Point hashes, ascending. */
  readonly points: Uint32Array
  /** The backend (index into the list given) that owns each point. */
  readonly owners: Int32Array
  /** One point of each backend, for keyless requests. */
  readonly firstPoint: Int32Array

  constructor(backends: readonly Backend[], virtualNodes: number) {
    const totalWeight = backends.reduce((sum, b) => sum + b.weight, 0)
    const scale = Math.min(1, MAX_RING_POINTS / Math.max(1, totalWeight * virtualNodes))
    const perBackend = backends.map((b) => Math.max(1, Math.floor(b.weight * virtualNodes * scale)))
    const byId = backends.map((b, i) => i).sort((a, b) => compare(backends[a]!.id, backends[b]!.id))
    const rank = new Int32Array(backends.length)
    byId.forEach((backend, r) => (rank[backend] = r))
    const packed = new Float64Array(perBackend.reduce((sum, n) => sum + n, 0))
    let at = 0
    backends.forEach((backend, i) => {
      for (let n = 0; n < perBackend[i]!; n++) {
        packed[at++] = hash32(`${backend.id}-${n}`) * RANK_SCALE + rank[i]!
      }
    })
    packed.sort()
    this.points = new Uint32Array(packed.length)
    this.owners = new Int32Array(packed.length)
    this.firstPoint = new Int32Array(backends.length).fill(-1)
    packed.forEach((value, point) => {
      const hash = Math.floor(value / RANK_SCALE)
      const owner = byId[value - hash * RANK_SCALE]!
      this.points[point] = hash
      this.owners[point] = owner
      if (this.firstPoint[owner] === -1) this.firstPoint[owner] = point
    })
  }

  /** The first point at or after `hash`, wrapping around: a binary search. */
  seek(hash: number): number {
    const points = this.points
    let low = 0
    let high = points.length
    while (low < high) {
      const mid = (low + high) >>> 1
      if (points[mid]! < hash) low = mid + 1
      else high = mid
    }
    return low === points.length ? 0 : low
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Read the configured key from a request: `ip`, `path`, `header:NAME` or `cookie:NAME`. */
export function keyReader(source: string): (input: PickInput) => string | undefined {
  if (source === 'ip') return (input) => input.clientIp
  if (source === 'path') return (input) => input.path
  const colon = source.indexOf(':')
  const name = source.slice(colon + 1)
  if (source.startsWith('header:')) return (input) => input.header(name) ?? undefined
  if (source.startsWith('cookie:')) return (input) => input.cookie(name)
  throw new Error(`Unknown hash key ${source}, expected ip, path, header:NAME or cookie:NAME`)
}

/**
 * Consistent hashing on a ketama ring (nginx `hash … consistent`, HAProxy `hash-type
 * consistent`), with bounded loads (Mirrokni, Thorup and Zadimoghaddam; HAProxy
 * `hash-balance-factor`). The key is the client address, the path, a header or a cookie
 * (`strategyOptions.consistentHash.key`); a request without one is placed in turn. When a backend
 * leaves, only its keys move; when one joins, it takes about 1/(N+1) of them. A backend takes a
 * key only while its in-flight count stays within ⌈(1 + ε) × (all in flight + 1) × its weight /
 * total weight⌉; otherwise the key spills to the next backend on the ring. The ring lookup is a
 * binary search; the in-flight counts come through {@link Selector.loadChanged}. The fallbacks are
 * the other backends in ring order, those over the bound last.
 *
 * @example
 * ```ts
 * const selector = consistentHash.build(backends, { consistentHash: { key: 'header:x-user' } })
 * ```
 */
export const consistentHash: Strategy = {
  name: 'consistent-hash',
  build(backends, options) {
    const { key, epsilon, virtualNodes } = optionsFor(options, 'consistentHash')
    const readKey = keyReader(key)
    const ring = new HashRing(backends, virtualNodes)
    const count = backends.length
    const at = indexById(backends)
    const totalWeight = backends.reduce((sum, b) => sum + b.weight, 0)
    const inflight = new Float64Array(count)
    let allInflight = 0
    let ready = false
    let turn = 0
    /** Whether backend `i` may take one more request under the bound. */
    const fits = (i: number) => {
      if (epsilon === null) return true
      const bound = ((1 + epsilon) * (allInflight + 1) * backends[i]!.weight) / totalWeight
      // The epsilon absorbs rounding, so that 1.25 × 4 / 5 counts as 1, not 2.
      return inflight[i]! + 1 <= Math.ceil(bound - 1e-9)
    }
    return {
      *candidates(input, view) {
        if (count === 0) return
        if (!ready) {
          backends.forEach((backend, i) => (allInflight += inflight[i] = view.inflight(backend)))
          ready = true
        }
        const value = readKey(input)
        const start =
          value === undefined || value === ''
            ? ring.firstPoint[turn++ % count]!
            : ring.seek(hash32(value))
        const points = ring.owners.length
        const owner = ring.owners[start]!
        const firstFits = fits(owner)
        if (firstFits) yield backends[owner]!
        // Walk on round the ring: each backend once, those under the bound first.
        const seen = new Set([owner])
        const over = firstFits ? [] : [owner]
        for (let step = 1; step < points && seen.size < count; step++) {
          const next = ring.owners[(start + step) % points]!
          if (seen.has(next)) continue
          seen.add(next)
          if (fits(next)) yield backends[next]!
          else over.push(next)
        }
        for (const i of over) yield backends[i]!
      },
      loadChanged(backend, view) {
        const i = at.get(backend.id)
        if (!ready || i === undefined) return
        const now = view.inflight(backend)
        allInflight += now - inflight[i]!
        inflight[i] = now
      },
    }
  },
}
