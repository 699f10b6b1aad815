/**
 * What the simulator replays: the backends (each with its own speed and failures), the arrival
 * process and the clients. Everything is in virtual milliseconds.
 */

/** A simulated backend: a server with `concurrency` workers and a FIFO queue in front. */
export interface SimBackend {
  readonly id: string
  /** The weight an operator would configure: its nominal share. */
  readonly weight: number
  /** Requests served at once; more wait in its queue. */
  readonly concurrency: number
  /** Mean service time of one request, in ms. */
  readonly serviceMs: number
  /** Windows, in ms from the start, in which it refuses connections (it crashed). */
  readonly failures?: readonly { readonly from: number; readonly to: number }[]
}

/** A whole simulated workload. */
export interface Scenario {
  readonly seed: number
  /** Virtual run time, in ms. */
  readonly durationMs: number
  /** Poisson arrival rate, requests per second. */
  readonly ratePerSecond: number
  /** Distinct clients (addresses); each request comes from a uniformly chosen one. */
  readonly clients: number
  /** Distinct paths; popularity follows Zipf's law with exponent {@link zipf}. */
  readonly paths: number
  readonly zipf: number
  /** σ of the log-normal service-time factor (mean 1). @default 0.6 */
  readonly serviceSigma: number
  /** Time a refused connection takes to fail, in ms. */
  readonly connectFailMs: number
  /** Backends a request is tried on at most (fulcrum retries refused connections). */
  readonly maxAttempts: number
  /** Active health checks: interval, ±jitter fraction, rise and fall, as in the config. */
  readonly probe: {
    readonly intervalMs: number
    readonly jitter: number
    readonly rise: number
    readonly fall: number
  }
  /** Clients keep the backend they were pinned to (the lb_sid layer over the strategy). */
  readonly sticky: boolean
  readonly backends: readonly SimBackend[]
}

/** Options for {@link defaultScenario}. */
export interface ScenarioOptions {
  /** @default 1 */
  seed?: number
  /** @default 60000 (one virtual minute) */
  durationMs?: number
  /** @default 400 */
  ratePerSecond?: number
  /** @default false */
  sticky?: boolean
}

/**
 * The standard workload: five backends of different speeds behind one balancer. `slow` is
 * configured like `medium` but has degraded to four times its service time; `flaky` crashes for a
 * quarter of the run (from 40% to 65%) and comes back. Health probes run every 2 s with
 * rise 2 / fall 3, so the crash is noticed after about 6 s.
 */
export function defaultScenario(options: ScenarioOptions = {}): Scenario {
  const durationMs = options.durationMs ?? 60_000
  return {
    seed: options.seed ?? 1,
    durationMs,
    ratePerSecond: options.ratePerSecond ?? 400,
    clients: 500,
    paths: 200,
    zipf: 1,
    serviceSigma: 0.6,
    connectFailMs: 1,
    maxAttempts: 3,
    probe: { intervalMs: 2000, jitter: 0.1, rise: 2, fall: 3 },
    sticky: options.sticky ?? false,
    backends: [
      { id: 'fast-1', weight: 3, concurrency: 8, serviceMs: 15 },
      { id: 'fast-2', weight: 3, concurrency: 8, serviceMs: 15 },
      { id: 'medium', weight: 2, concurrency: 8, serviceMs: 20 },
      { id: 'slow', weight: 2, concurrency: 8, serviceMs: 80 },
      {
        id: 'flaky',
        weight: 2,
        concurrency: 8,
        serviceMs: 20,
        failures: [{ from: Math.round(durationMs * 0.4), to: Math.round(durationMs * 0.65) }],
      },
    ],
  }
}
