/**
 * Backend-reported load, ORCA style (the `Endpoint-Load-Metrics` header that Envoy and gRPC read):
 * `TEXT cpu_utilization=0.4, mem_utilization=0.2` or `JSON {"cpu_utilization": 0.4}`. The binary
 * (`BIN`) form is not read.
 */
import type { Backend } from './types.ts'

/** The response header backends report their load in. */
export const LOAD_METRICS_HEADER = 'endpoint-load-metrics'

const UTILISATIONS = ['application_utilization', 'cpu_utilization', 'mem_utilization']

/**
 * The utilisation an `Endpoint-Load-Metrics` value reports: the highest of
 * `application_utilization`, `cpu_utilization` and `mem_utilization` (the scarcest resource),
 * clamped to [0, 1].
 *
 * @returns `undefined` when the value is absent, malformed or reports none of them
 * @example
 * ```ts
 * parseLoadMetrics('TEXT cpu_utilization=0.4, mem_utilization=0.2') // 0.4
 * ```
 */
export function parseLoadMetrics(value: string | null | undefined): number | undefined {
  if (!value) return undefined
  const space = value.indexOf(' ')
  if (space === -1) return undefined
  const format = value.slice(0, space).toUpperCase()
  const body = value.slice(space + 1)
  let highest = -1
  const consider = (name: string, raw: unknown) => {
    if (!UTILISATIONS.includes(name)) return
    const number = typeof raw === 'number' ? raw : typeof raw === 'string' ? Number(raw) : NaN
    if (Number.isFinite(number) && number > highest) highest = number
  }
  if (format === 'TEXT') {
    for (const pair of body.split(',')) {
      const eq = pair.indexOf('=')
      if (eq !== -1) consider(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim() || NaN)
    }
  } else if (format === 'JSON') {
    let parsed: unknown
    try {
      parsed = JSON.parse(body)
    } catch {
      return undefined
    }
    if (typeof parsed !== 'object' || parsed === null) return undefined
    for (const [name, raw] of Object.entries(parsed)) consider(name, raw)
  }
  return highest < 0 ? undefined : Math.min(highest, 1)
}

/** Where reported load goes: `BackendPool` has it. */
export interface UtilisationSink {
  reportUtilisation(backend: Backend, utilisation: number): void
}

/** Read `Endpoint-Load-Metrics` from `headers` and record it for `backend`, if it is there. */
export function recordLoadMetrics(sink: UtilisationSink, backend: Backend, headers: Headers): void {
  const utilisation = parseLoadMetrics(headers.get(LOAD_METRICS_HEADER))
  if (utilisation !== undefined) sink.reportUtilisation(backend, utilisation)
}
