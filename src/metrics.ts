/**
 * Counters and histograms, and their Prometheus text exposition (format 0.0.4). The hot path only
 * increments numbers in preallocated arrays: no objects per request, no label maps. Gauges that
 * other parts already track (in-flight counts, health) are read at scrape time instead.
 */

/**
 * Latency bucket bounds in seconds: Prometheus' defaults, with finer steps below 5 ms, where a load
 * balancer on a LAN spends most of its time.
 */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]

/** Status classes, in the order {@link StatusCounts} holds them. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** A fixed-bucket histogram. Counts are per bucket (not cumulative); the last is `+Inf`. */
export class Histogram {
  readonly bounds: readonly number[]
  /** `counts[i]` observations fell in (bounds[i-1], bounds[i]]; the last slot is above them all. */
  readonly counts: Float64Array
  sum = 0
  count = 0

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = bounds
    this.counts = new Float64Array(bounds.length + 1)
  }

  /** Record one value (seconds, for latency). */
  observe(value: number): void {
    const bounds = this.bounds
    let i = 0
    while (i < bounds.length && value > bounds[i]!) i++
    this.counts[i]!++
    this.sum += value
    this.count++
  }
}

/**
 * The `q` quantile (0 to 1) of a bucketed distribution, interpolated linearly within its bucket as
 * Prometheus' `histogram_quantile` does. `undefined` when there are no observations.
 *
 * @param counts per-bucket counts, as {@link Histogram.counts} (or a difference of two of them)
 */
export function bucketQuantile(
  bounds: readonly number[],
  counts: ArrayLike<number>,
  q: number,
): number | undefined {
  let total = 0
  for (let i = 0; i < counts.length; i++) total += counts[i]!
  if (total <= 0) return undefined
  const rank = q * total
  let seen = 0
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!
    if (seen + inBucket >= rank && inBucket > 0) {
      // Above the last bound there is nothing to interpolate to: answer the last bound.
      if (i === bounds.length) return bounds[bounds.length - 1]
      const low = i === 0 ? 0 : bounds[i - 1]!
      return low + (bounds[i]! - low) * ((rank - seen) / inBucket)
    }
    seen += inBucket
  }
  return bounds[bounds.length - 1]
}

/** Why an upstream attempt got no response. */
export type FailureKind = 'connect' | 'timeout' | 'error'

/** The counters of one backend. */
export class BackendCounters {
  /** Responses by status class: index 0 is 1xx … 4 is 5xx. */
  readonly responses = new Float64Array(5)
  /** Attempts that got no response: connect, timeout, other. */
  readonly failures = new Float64Array(3)
  /** Time to the response headers, in seconds. */
  readonly latency = new Histogram()
  /** Attempts on this backend that were retried elsewhere. */
  retries = 0
  /** Times passive health ejected it. */
  ejections = 0
  /** Response body bytes sent to clients. */
  bytes = 0
}

const FAILURE_INDEX: Record<FailureKind, number> = { connect: 0, timeout: 1, error: 2 }

/**
 * fulcrum's counters: per backend, and over all client requests.
 *
 * @example
 * ```ts
 * const metrics = new Metrics()
 * metrics.response('b1', 200, 0.004)
 * metrics.request(200, 0.005)
 * ```
 */
/**
 * The key of a backend's counters: its id in the pool `default`, `pool/id` in the others (ids are
 * unique within a pool; the same server in two pools has two sets of counters).
 */
export function backendKey(pool: string | undefined, id: string): string {
  return pool === undefined || pool === 'default' ? id : `${pool}/${id}`
}

export class Metrics {
  readonly #backends = new Map<string, BackendCounters>()
  /** Client requests by the status fulcrum answered (fulcrum's own 502/503/504 included). */
  readonly requests = new Float64Array(5)
  /** The same, by route (`''`: no route took the request). */
  readonly #routes = new Map<string, Float64Array>()
  /** Total time of client requests, from arrival to the last body byte, in seconds. */
  readonly duration = new Histogram()
  /** Sticky verdicts: a valid cookie honoured, a new pin, a pin that moved. */
  readonly sticky = { hit: 0, new: 0, moved: 0 }
  /** Retries over all backends. */
  retries = 0
  /** Layer-4 connections, per TCP listener and per backend. */
  readonly tcp = new TcpMetrics()

  /** Client requests by route and status class. */
  routes(): IterableIterator<[string, Float64Array]> {
    return this.#routes.entries()
  }

  /** One backend's counters (by {@link backendKey}), created on first use. */
  backend(id: string): BackendCounters {
    let counters = this.#backends.get(id)
    if (!counters) {
      counters = new BackendCounters()
      this.#backends.set(id, counters)
    }
    return counters
  }

  /** The counters of every backend seen so far. */
  backends(): IterableIterator<[string, BackendCounters]> {
    return this.#backends.entries()
  }

  /** Forget a removed backend's counters. */
  forget(id: string): void {
    this.#backends.delete(id)
  }

  /** A backend answered with `status` after `seconds` (to its response headers). */
  response(backendId: string, status: number, seconds: number): void {
    const counters = this.backend(backendId)
    counters.responses[statusIndex(status)]!++
    counters.latency.observe(seconds)
  }

  /** An attempt on a backend got no response. */
  failure(backendId: string, kind: FailureKind): void {
    this.backend(backendId).failures[FAILURE_INDEX[kind]]!++
  }

  /** An attempt on a backend failed and the request was tried on another. */
  retry(backendId: string): void {
    this.backend(backendId).retries++
    this.retries++
  }

  /** A client request ended: fulcrum answered `status` after `seconds`. */
  request(status: number, seconds: number, route = ''): void {
    const index = statusIndex(status)
    this.requests[index]!++
    let byRoute = this.#routes.get(route)
    if (!byRoute) this.#routes.set(route, (byRoute = new Float64Array(5)))
    byRoute[index]!++
    this.duration.observe(seconds)
  }
}

function statusIndex(status: number): number {
  const index = ((status / 100) | 0) - 1
  return index < 0 ? 0 : index > 4 ? 4 : index
}

/** One sample of a metric family. */
export interface Sample {
  readonly labels?: Readonly<Record<string, string>>
  readonly value: number
}

/**
 * Writes metric families in the Prometheus text format, version 0.0.4.
 *
 * @example
 * ```ts
 * const out = new PrometheusWriter()
 * out.family('fulcrum_up', 'gauge', 'Whether fulcrum is up', [{ value: 1 }])
 * out.text()
 * ```
 */
export class PrometheusWriter {
  readonly #lines: string[] = []

  /** A counter or gauge family: HELP, TYPE, then one line per sample. */
  family(
    name: string,
    type: 'counter' | 'gauge' | 'untyped',
    help: string,
    samples: Iterable<Sample>,
  ): void {
    this.#header(name, type, help)
    for (const { labels, value } of samples) this.#sample(name, labels, value)
  }

  /** A histogram family: cumulative `_bucket` lines with `le`, then `_sum` and `_count`. */
  histogram(
    name: string,
    help: string,
    series: Iterable<{ labels?: Readonly<Record<string, string>>; histogram: Histogram }>,
  ): void {
    this.#header(name, 'histogram', help)
    for (const { labels, histogram } of series) {
      let cumulative = 0
      for (let i = 0; i < histogram.counts.length; i++) {
        cumulative += histogram.counts[i]!
        const le = i < histogram.bounds.length ? formatNumber(histogram.bounds[i]!) : '+Inf'
        this.#sample(`${name}_bucket`, { ...labels, le }, cumulative)
      }
      this.#sample(`${name}_sum`, labels, histogram.sum)
      this.#sample(`${name}_count`, labels, histogram.count)
    }
  }

  /** The exposition, ending in a newline. */
  text(): string {
    return this.#lines.join('\n') + '\n'
  }

  #header(name: string, type: string, help: string): void {
    // HELP text escapes backslash and newline; label values also escape the double quote.
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
    this.#lines.push(`# TYPE ${name} ${type}`)
  }

  #sample(name: string, labels: Readonly<Record<string, string>> | undefined, value: number) {
    let text = name
    if (labels) {
      const pairs = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
      if (pairs.length > 0) text += `{${pairs.join(',')}}`
    }
    this.#lines.push(`${text} ${formatNumber(value)}`)
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** A sample value as Prometheus writes it: `+Inf`, `-Inf`, `NaN` or a plain number. */
function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Infinity) return '+Inf'
  if (value === -Infinity) return '-Inf'
  return String(value)
}

/** One TCP listener's or one backend's layer-4 counters. */
export class TcpCounters {
  /** Connections open now. */
  open = 0
  /** Connections relayed (or tried) so far. */
  total = 0
  /** Bytes from clients to backends. */
  bytesIn = 0
  /** Bytes from backends to clients. */
  bytesOut = 0
  /** Backend connections that could not be made (each failed attempt). */
  connectFailures = 0
  /** Connections closed at once: over `maxConnections`, or no backend could be reached. */
  refused = 0
}

/** Layer-4 counters, per TCP listener and per backend (by {@link backendKey}). */
export class TcpMetrics {
  readonly #listeners = new Map<string, TcpCounters>()
  readonly #backends = new Map<string, TcpCounters>()

  /** A listener's counters, created on first use. */
  listener(name: string): TcpCounters {
    let counters = this.#listeners.get(name)
    if (!counters) this.#listeners.set(name, (counters = new TcpCounters()))
    return counters
  }

  /** A backend's counters, created on first use. */
  backend(key: string): TcpCounters {
    let counters = this.#backends.get(key)
    if (!counters) this.#backends.set(key, (counters = new TcpCounters()))
    return counters
  }

  listeners(): IterableIterator<[string, TcpCounters]> {
    return this.#listeners.entries()
  }

  backends(): IterableIterator<[string, TcpCounters]> {
    return this.#backends.entries()
  }
}
