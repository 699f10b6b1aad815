/**
 * A small seeded random number generator, so that a simulation replays exactly for a seed on every
 * runtime. sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-clean), seeded
 * through splitmix32.
 */

/** Seeded uniform and derived random numbers. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number
  /** Exponentially distributed with the given mean (Poisson inter-arrival times). */
  exponential(mean: number): number
  /** Log-normal with mean 1 and the given σ of the underlying normal. */
  lognormal(sigma: number): number
  /** A uniformly chosen integer in [0, n). */
  int(n: number): number
}

/** Hash a string to a 32-bit seed (FNV-1a), to derive independent streams from one seed. */
export function seedOf(text: string, seed = 0): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/**
 * A generator for `seed`; the same seed gives the same sequence everywhere.
 *
 * @example
 * ```ts
 * const random = createRandom(42)
 * random.exponential(10) // the same number on every run
 * ```
 */
export function createRandom(seed: number): Random {
  let s = seed >>> 0
  const splitmix = () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix()
  let b = splitmix()
  let c = splitmix()
  let d = splitmix()
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t / 4294967296
  }
  for (let i = 0; i < 12; i++) next()
  let spare: number | undefined
  const normal = () => {
    if (spare !== undefined) {
      const value = spare
      spare = undefined
      return value
    }
    // Box-Muller; 1 - next() is in (0, 1], so the log is finite.
    const r = Math.sqrt(-2 * Math.log(1 - next()))
    const theta = 2 * Math.PI * next()
    spare = r * Math.sin(theta)
    return r * Math.cos(theta)
  }
  return {
    next,
    exponential: (mean) => -mean * Math.log(1 - next()),
    lognormal: (sigma) => Math.exp(sigma * normal() - (sigma * sigma) / 2),
    int: (n) => Math.floor(next() * n),
  }
}
