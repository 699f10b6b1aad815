/** The figures a simulation report shows, computed from the raw run records. */
import type { RunRecord } from './engine.ts'
import type { Scenario } from './scenario.ts'

/** One strategy's figures. */
export interface Summary {
  /** `round-robin`, or `round-robin + sticky`. */
  readonly label: string
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly mean: number
  /** Requests answered by each backend, in scenario order. */
  readonly served: readonly number[]
  /** The busiest backend's pressure ÷ the mean pressure (1 is perfectly even). */
  readonly imbalance: number
  /** Time-averaged in-flight ÷ concurrency per backend, in scenario order. */
  readonly pressure: readonly number[]
  readonly hitFailed: number
  readonly errors: number
  readonly requests: number
  /** p99 latency per time window, for the timeline charts. */
  readonly timeline: readonly number[]
}

/** The nearest-rank percentile (`q` in [0, 1]) of ascending `sorted`; 0 when it is empty. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0
  const rank = Math.max(1, Math.ceil(q * sorted.length))
  return sorted[rank - 1]!
}

/** Windows in a timeline. */
export const WINDOWS = 40

/** Summarise one run. */
export function summarise(scenario: Scenario, run: RunRecord): Summary {
  const sorted = Float64Array.from(run.latencies).sort()
  const ids = scenario.backends.map((b) => b.id)
  const pressure = ids.map((id) => run.pressure[id] ?? 0)
  const meanPressure = pressure.reduce((a, b) => a + b, 0) / pressure.length
  const windows: number[][] = Array.from({ length: WINDOWS }, () => [])
  const width = scenario.durationMs / WINDOWS
  run.latencies.forEach((latency, i) => {
    windows[Math.min(WINDOWS - 1, Math.floor(run.answeredAt[i]! / width))]!.push(latency)
  })
  let total = 0
  for (const latency of run.latencies) total += latency
  return {
    label: run.sticky ? `${run.strategy} + sticky` : run.strategy,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    mean: run.latencies.length ? total / run.latencies.length : 0,
    served: ids.map((id) => run.served[id] ?? 0),
    imbalance: meanPressure > 0 ? Math.max(...pressure) / meanPressure : 1,
    pressure,
    hitFailed: run.hitFailed,
    errors: run.errors,
    requests: run.requests,
    timeline: windows.map((w) =>
      percentile(
        w.sort((a, b) => a - b),
        0.99,
      ),
    ),
  }
}
