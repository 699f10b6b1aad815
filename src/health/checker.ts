/** Active health checking: probe every backend each round and feed the pool's rise/fall state. */
import type { Backend } from '../types.ts'
import { ProbeFailure, type HealthProbe } from './probe.ts'
import { ProbeScheduler } from './scheduler.ts'

/**
 * What the checker needs of a pool (`BackendPool` in src/pools/ is one): its backends, and where
 * each probe's result goes, to the rise and fall thresholds.
 */
export interface ProbedPool {
  /** Every backend's state; the checker probes those that are enabled. */
  states(): Iterable<{ readonly backend: Backend; readonly enabled: boolean }>
  /** Record one probe's result; `output` is what the check printed, if anything. */
  recordProbe(id: string, ok: boolean, reason?: string, output?: string): void
}

/** Options for {@link createHealthChecker}. */
export interface HealthCheckerOptions {
  interval: number
  timeout: number
  jitter: number
  random?: () => number
}

/**
 * A scheduler whose rounds probe every enabled backend in parallel, each within `timeout`, and
 * record the results in the pool.
 */
export function createHealthChecker(
  pool: ProbedPool,
  probe: HealthProbe,
  options: HealthCheckerOptions,
): ProbeScheduler {
  return new ProbeScheduler({
    interval: options.interval,
    jitter: options.jitter,
    random: options.random,
    round: async (stop) => {
      const states = [...pool.states()].filter((state) => state.enabled)
      await Promise.all(
        states.map(async ({ backend }) => {
          const { signal, cancel } = deadline(options.timeout, stop)
          try {
            const report = await probe.check(backend, signal)
            if (!stop.aborted) pool.recordProbe(backend.id, true, undefined, report?.output)
          } catch (error) {
            if (stop.aborted) return
            // A probe that says why (an exec check: its status and output) is believed first.
            const reason =
              error instanceof ProbeFailure
                ? error.message
                : signal.aborted
                  ? `Timed out after ${options.timeout} ms`
                  : describe(error)
            const output = error instanceof ProbeFailure ? error.output : undefined
            pool.recordProbe(backend.id, false, reason, output)
          } finally {
            cancel()
          }
        }),
      )
    },
  })
}

/**
 * A signal that aborts after `ms` or with `parent`. Built on `setTimeout` rather than
 * `AbortSignal.timeout`, so that fake timers drive it in tests.
 */
function deadline(ms: number, parent: AbortSignal): { signal: AbortSignal; cancel: () => void } {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`Timed out after ${ms} ms`)), ms)
  return { signal: AbortSignal.any([controller.signal, parent]), cancel: () => clearTimeout(timer) }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause
    return cause?.code ?? cause?.message ?? error.message
  }
  return String(error)
}
