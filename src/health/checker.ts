/** Active health checking: probe every backend each round and feed the pool's rise/fall state. */
import type { BackendPool } from '../pool.ts'
import type { HealthProbe } from './probe.ts'
import { ProbeScheduler } from './scheduler.ts'

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
  pool: BackendPool,
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
            await probe.check(backend, signal)
            if (!stop.aborted) pool.recordProbe(backend.id, true)
          } catch (error) {
            if (stop.aborted) return
            const reason = signal.aborted
              ? `Timed out after ${options.timeout} ms`
              : describe(error)
            pool.recordProbe(backend.id, false, reason)
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
