/**
 * The requests of a simulation, drawn once from the seed and replayed unchanged for every
 * strategy, so that the strategies are compared on exactly the same traffic.
 */
import { createRandom, seedOf } from './random.ts'
import type { Scenario } from './scenario.ts'

/** Every request of a run, as parallel arrays. */
export interface Workload {
  /** Arrival time, in ms, ascending. */
  readonly at: Float64Array
  /** The client each request comes from. */
  readonly client: Uint32Array
  /** The path index each request asks for. */
  readonly path: Uint32Array
  /** The request's service-time factor (mean 1): its cost on any backend. */
  readonly cost: Float64Array
}

/**
 * Draw the workload: Poisson arrivals at `ratePerSecond`, uniform clients, Zipf-distributed
 * paths and log-normal costs.
 *
 * @example
 * ```ts
 * generateWorkload(defaultScenario({ seed: 7 })).at.length // about 24000
 * ```
 */
export function generateWorkload(scenario: Scenario): Workload {
  const random = createRandom(seedOf('workload', scenario.seed))
  const meanGap = 1000 / scenario.ratePerSecond
  const at: number[] = []
  for (let t = random.exponential(meanGap); t < scenario.durationMs;) {
    at.push(t)
    t += random.exponential(meanGap)
  }
  const count = at.length
  const client = new Uint32Array(count)
  const path = new Uint32Array(count)
  const cost = new Float64Array(count)
  const zipf = zipfSampler(scenario.paths, scenario.zipf)
  for (let i = 0; i < count; i++) {
    client[i] = random.int(scenario.clients)
    path[i] = zipf(random.next())
    cost[i] = random.lognormal(scenario.serviceSigma)
  }
  return { at: Float64Array.from(at), client, path, cost }
}

/** Map a uniform number to a path index with probability ∝ 1 / (rank + 1)^s. */
function zipfSampler(count: number, s: number): (u: number) => number {
  const cdf = new Float64Array(count)
  let total = 0
  for (let i = 0; i < count; i++) cdf[i] = total += 1 / Math.pow(i + 1, s)
  return (u) => {
    const target = u * total
    let low = 0
    let high = count - 1
    while (low < high) {
      const mid = (low + high) >>> 1
      if (cdf[mid]! < target) low = mid + 1
      else high = mid
    }
    return low
  }
}
