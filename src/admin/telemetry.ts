/**
 * `GET /metrics` (Prometheus text format) and `GET /stats` (the same numbers as JSON, plus rates and
 * percentiles over a recent window, for the dashboard). Both read the counters and the pool at
 * request time; nothing here runs on the request path.
 */
import {
  bucketQuantile,
  LATENCY_BUCKETS,
  PrometheusWriter,
  STATUS_CLASSES,
  type Metrics,
  type Sample,
  type TcpCounters,
} from '../metrics.ts'
import { backendKey } from '../metrics.ts'
import type { TcpListenerConfig } from '../config.ts'
import type { BackendPool, BackendTransition } from '../pool.ts'
import type { RuntimeDeps } from '../types.ts'
import type { BackendView, ControlPlane } from './control.ts'

/** A TCP listener, as the telemetry reads it (a `TcpService`). */
export interface TcpListenerSource {
  readonly config: TcpListenerConfig
  /** Connections open now. */
  readonly size: number
}

/** A fleet member's view of the fleet, for `/stats`, `/metrics` and the dashboard. */
export interface FleetView {
  name: string
  connected: boolean
  revision: number
  members: { name: string; runtime: string; version: string; startedAt: string; revision: number }[]
}

/** What the telemetry endpoints read. */
export interface TelemetrySource {
  readonly metrics: Metrics
  /** The pool `default`'s backend set. */
  readonly pool: BackendPool
  /** The backend set of pool `name`. @default the pool `default`'s for every name */
  readonly poolOf?: (name: string) => BackendPool | undefined
  readonly control: ControlPlane
  /** The TCP listeners. @default none */
  readonly tcp?: () => readonly TcpListenerSource[]
  /** Fleet mode: this instance's view of the members. */
  readonly fleet?: () => FleetView
  readonly deps: Pick<RuntimeDeps, 'memoryUsage' | 'openConnections'>
  /** Requests waiting for a backend with room, where there is a queue. */
  readonly queueDepth?: () => number
  /** Recent health transitions, newest first. */
  readonly transitions: () => readonly (BackendTransition & { pool?: string })[]
  readonly version: string
  /** When fulcrum started, in ms since the epoch. */
  readonly startedAt: number
  /** @default Date.now */
  readonly now?: () => number
}

const FAILURE_KINDS = ['connect', 'timeout', 'error'] as const

/** The Prometheus text exposition (format 0.0.4) of every counter and gauge. */
export function renderPrometheus(src: TelemetrySource): string {
  const out = new PrometheusWriter()
  const { metrics } = src
  const now = (src.now ?? Date.now)()
  const views = src.control.allBackends()
  const counters = views.map((view) => ({
    view,
    c: metrics.backend(backendKey(view.pool, view.id)),
  }))
  const byBackend = (value: (entry: (typeof counters)[number]) => number): Sample[] =>
    counters.map((entry) => ({ labels: labelsOf(entry.view), value: value(entry) }))

  out.family('fulcrum_info', 'gauge', 'fulcrum version and strategy', [
    { labels: { version: src.version, strategy: src.control.config.strategy }, value: 1 },
  ])
  out.family('fulcrum_start_time_seconds', 'gauge', 'When fulcrum started (Unix time)', [
    { value: src.startedAt / 1000 },
  ])
  out.family('fulcrum_uptime_seconds', 'gauge', 'Seconds since fulcrum started', [
    { value: (now - src.startedAt) / 1000 },
  ])
  out.family(
    'fulcrum_requests_total',
    'counter',
    'Client requests answered, by status class (fulcrum’s own 502, 503 and 504 included)',
    [...metrics.routes()].flatMap(([route, counts]) =>
      STATUS_CLASSES.map((code, i) => ({ labels: { route, code }, value: counts[i]! })),
    ),
  )
  out.histogram(
    'fulcrum_request_duration_seconds',
    'Client request time, from arrival to the last response byte',
    [{ histogram: metrics.duration }],
  )
  out.family('fulcrum_retries_total', 'counter', 'Requests tried again on another backend', [
    { value: metrics.retries },
  ])
  out.family(
    'fulcrum_sticky_total',
    'counter',
    'Sticky-session verdicts: hit (pinned backend served), new (cookie issued), moved (re-pinned)',
    (['hit', 'new', 'moved'] as const).map((verdict) => ({
      labels: { verdict },
      value: metrics.sticky[verdict],
    })),
  )
  // A TCP pool's load is its open connections, counted by the fulcrum_tcp_* families.
  const tcpPools = new Set((src.tcp?.() ?? []).map((l) => l.config.pool))
  let inflight = 0
  for (const view of views) if (!tcpPools.has(view.pool)) inflight += view.inflight
  out.family('fulcrum_inflight_requests', 'gauge', 'Requests in flight to any backend', [
    { value: inflight },
  ])
  out.family('fulcrum_queue_depth', 'gauge', 'Requests waiting for a backend with room', [
    { value: src.queueDepth?.() ?? 0 },
  ])
  const connections = src.deps.openConnections?.()
  if (connections !== undefined) {
    out.family('fulcrum_open_connections', 'gauge', 'Open client connections', [
      { value: connections },
    ])
  }
  const memory = src.deps.memoryUsage?.()
  if (memory) {
    out.family('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes', [
      { value: memory.rss },
    ])
    out.family('fulcrum_heap_used_bytes', 'gauge', 'JavaScript heap in use, in bytes', [
      { value: memory.heapUsed },
    ])
    out.family('fulcrum_heap_total_bytes', 'gauge', 'JavaScript heap size, in bytes', [
      { value: memory.heapTotal },
    ])
  }

  out.family(
    'fulcrum_backend_info',
    'gauge',
    'Each backend: its URL, source and role',
    counters.map(({ view }) => ({
      labels: {
        ...labelsOf(view),
        url: view.url,
        source: view.source,
        backup: String(view.backup),
      },
      value: 1,
    })),
  )
  out.family(
    'fulcrum_backend_up',
    'gauge',
    'Whether the backend takes new requests (healthy, enabled, not draining or ejected)',
    byBackend(({ view }) => (view.state === 'up' ? 1 : 0)),
  )
  out.family(
    'fulcrum_backend_healthy',
    'gauge',
    'Whether active probes say the backend is healthy',
    byBackend(({ view }) => (view.healthy ? 1 : 0)),
  )
  out.family(
    'fulcrum_backend_draining',
    'gauge',
    'Whether the backend is draining',
    byBackend(({ view }) => (view.draining ? 1 : 0)),
  )
  out.family(
    'fulcrum_backend_enabled',
    'gauge',
    'Whether the backend is enabled',
    byBackend(({ view }) => (view.enabled ? 1 : 0)),
  )
  out.family(
    'fulcrum_backend_weight',
    'gauge',
    'Configured weight',
    byBackend(({ view }) => view.weight),
  )
  out.family(
    'fulcrum_backend_effective_weight',
    'gauge',
    'Weight in use now (0 when it takes no new requests, less during slow start)',
    byBackend(({ view }) => view.effectiveWeight),
  )
  out.family(
    'fulcrum_backend_inflight_requests',
    'gauge',
    'Requests in flight to the backend',
    byBackend(({ view }) => view.inflight),
  )
  out.family(
    'fulcrum_backend_ewma_seconds',
    'gauge',
    'Peak-EWMA time to response headers',
    byBackend(({ view }) => view.ewmaMs / 1000),
  )
  out.family(
    'fulcrum_backend_responses_total',
    'counter',
    'Responses from the backend, by status class',
    counters.flatMap(({ view, c }) =>
      STATUS_CLASSES.map((code, i) => ({
        labels: { ...labelsOf(view), code },
        value: c.responses[i]!,
      })),
    ),
  )
  out.family(
    'fulcrum_backend_failures_total',
    'counter',
    'Attempts on the backend that got no response: connect, timeout or other error',
    counters.flatMap(({ view, c }) =>
      FAILURE_KINDS.map((reason, i) => ({
        labels: { ...labelsOf(view), reason },
        value: c.failures[i]!,
      })),
    ),
  )
  out.histogram(
    'fulcrum_backend_response_seconds',
    'Time from sending a request to the backend to its response headers',
    counters.map(({ view, c }) => ({ labels: labelsOf(view), histogram: c.latency })),
  )
  out.family(
    'fulcrum_backend_retries_total',
    'counter',
    'Attempts on the backend that failed and were retried elsewhere',
    byBackend(({ c }) => c.retries),
  )
  out.family(
    'fulcrum_backend_ejections_total',
    'counter',
    'Times passive health ejected the backend',
    byBackend(({ c }) => c.ejections),
  )
  out.family(
    'fulcrum_backend_sent_bytes_total',
    'counter',
    'Response body bytes from the backend sent to clients',
    byBackend(({ c }) => c.bytes),
  )
  out.family(
    'fulcrum_backend_probes_total',
    'counter',
    'Active health probes, by result',
    counters.flatMap(({ view }) => {
      const probes = (src.poolOf?.(view.pool) ?? src.pool).get(view.id)?.probes
      return [
        { labels: { ...labelsOf(view), result: 'success' }, value: probes?.ok ?? 0 },
        { labels: { ...labelsOf(view), result: 'failure' }, value: probes?.failed ?? 0 },
      ]
    }),
  )
  out.family(
    'fulcrum_backend_last_probe_success',
    'gauge',
    'Whether the last active probe succeeded (absent before the first probe)',
    counters
      .filter(({ view }) => view.lastProbe !== null)
      .map(({ view }) => ({ labels: labelsOf(view), value: view.lastProbe!.ok ? 1 : 0 })),
  )
  renderTcp(out, metrics, src.tcp?.() ?? [], views)
  const fleet = src.fleet?.()
  if (fleet) {
    out.family('fulcrum_cluster_members', 'gauge', 'Fleet members with a live lease in etcd', [
      { value: fleet.members.length },
    ])
    out.family('fulcrum_cluster_connected', 'gauge', 'Whether the etcd watch is live', [
      { value: fleet.connected ? 1 : 0 },
    ])
    out.family('fulcrum_cluster_revision', 'gauge', 'The last etcd revision applied here', [
      { value: fleet.revision },
    ])
  }
  return out.text()
}

/**
 * The layer-4 families: per TCP listener, and per backend (by pool) that took connections. Every
 * configured listener and every backend of its pool has its series from the start, at 0.
 */
function renderTcp(
  out: PrometheusWriter,
  metrics: Metrics,
  configured: readonly TcpListenerSource[],
  views: readonly { pool: string; id: string }[],
): void {
  const tcpPools = new Set(configured.map((l) => l.config.pool))
  for (const l of configured) metrics.tcp.listener(l.config.name)
  for (const view of views) {
    if (tcpPools.has(view.pool)) metrics.tcp.backend(backendKey(view.pool, view.id))
  }
  const listeners = [...metrics.tcp.listeners()]
  if (listeners.length === 0) return
  if (configured.length > 0) {
    out.family(
      'fulcrum_tcp_listener_info',
      'gauge',
      'Each TCP listener: its pool and address',
      configured.map(({ config }) => ({
        labels: {
          listener: config.name,
          pool: config.pool,
          host: config.listen.host,
          port: String(config.listen.port),
        },
        value: 1,
      })),
    )
  }
  const backends = [...metrics.tcp.backends()].map(([key, counters]) => {
    const slash = key.indexOf('/')
    const labels =
      slash === -1
        ? { pool: 'default', backend: key }
        : { pool: key.slice(0, slash), backend: key.slice(slash + 1) }
    return { labels, counters }
  })
  const families: [string, 'gauge' | 'counter', string, keyof TcpCounters][] = [
    ['open_connections', 'gauge', 'TCP connections open now', 'open'],
    ['connections_total', 'counter', 'TCP connections relayed', 'total'],
    ['received_bytes_total', 'counter', 'Bytes from clients to backends', 'bytesIn'],
    ['sent_bytes_total', 'counter', 'Bytes from backends to clients', 'bytesOut'],
    ['connect_failures_total', 'counter', 'Backend connections that failed', 'connectFailures'],
  ]
  for (const [name, type, help, field] of families) {
    out.family(
      `fulcrum_tcp_listener_${name}`,
      type,
      `${help}, per TCP listener`,
      listeners.map(([listener, counters]) => ({ labels: { listener }, value: counters[field] })),
    )
    out.family(
      `fulcrum_tcp_backend_${name}`,
      type,
      `${help}, per backend`,
      backends.map(({ labels, counters }) => ({ labels, value: counters[field] })),
    )
  }
  out.family(
    'fulcrum_tcp_listener_refused_total',
    'counter',
    'TCP connections closed at once: over maxConnections, or no backend reachable',
    listeners.map(([listener, counters]) => ({ labels: { listener }, value: counters.refused })),
  )
}

/** A backend's series labels: its pool, then its id. */
function labelsOf(view: { pool: string; id: string }): Record<string, string> {
  return { pool: view.pool, backend: view.id }
}

/** Counters at one moment, for rates over a window. */
interface Snapshot {
  at: number
  requests: Float64Array
  duration: Float64Array
  backends: Map<string, { responses: Float64Array; failures: Float64Array; latency: Float64Array }>
  /** TCP counters by `listener:NAME` and `backend:KEY`. */
  tcp: Map<string, TcpMark>
}

/** What a TCP rate is taken over. */
interface TcpMark {
  total: number
  bytesIn: number
  bytesOut: number
}

/** A TCP listener's or backend's rates over the window. */
export interface TcpWindow {
  connectionsPerSecond: number
  bytesInPerSecond: number
  bytesOutPerSecond: number
}

/** A TCP listener or backend's layer-4 counters in `GET /stats`. */
export interface TcpFigures {
  /** Connections open now. */
  open: number
  /** Connections so far. */
  total: number
  /** Bytes from clients to backends. */
  bytesIn: number
  /** Bytes from backends to clients. */
  bytesOut: number
  /** Backend connections that could not be made. */
  connectFailures: number
  window: TcpWindow | null
}

/** A window's figures for one backend or for all requests. */
export interface WindowFigures {
  requestsPerSecond: number
  /** Share of the responses (5xx) and failures, 0 to 1. */
  errorRate: number
  p50Ms: number | null
  p99Ms: number | null
}

/** The JSON of `GET /stats`. */
export interface Stats {
  time: string
  version: string
  uptimeSeconds: number
  strategy: string
  /** The window the rates are over, in seconds; 0 on the first call (no rates yet). */
  windowSeconds: number
  requests: {
    total: number
    byClass: Record<string, number>
    retries: number
    sticky: Record<string, number>
    window: WindowFigures | null
  }
  /** HTTP requests in flight to any backend (a TCP pool's open connections are in `tcp`). */
  inflight: number
  queueDepth: number
  openConnections: number | null
  memory: { rss: number; heapUsed: number; heapTotal: number } | null
  /** The pools, `default` first, each with the routes that send to it. */
  pools: { name: string; strategy: string; routes: string[] }[]
  /** The routes in match order, with each pool's share. */
  routes: { name: string; match: object; pools: { pool: string; weight: number }[] }[]
  backends: (BackendView & {
    pool: string
    responses: Record<string, number>
    failures: Record<string, number>
    retries: number
    ejections: number
    window: (WindowFigures & { share: number }) | null
  })[]
  transitions: {
    pool?: string
    at: string
    id: string
    url: string
    to: string
    reason?: string
  }[]
  /** Fleet mode: this instance, etcd's state, and the members. */
  fleet?: FleetView
  /** Layer 4: the TCP listeners, and the backends of the pools behind them. */
  tcp: {
    listeners: (TcpFigures & {
      name: string
      host: string
      /** The configured port; absent when it is 0 (any free port). */
      port?: number
      pool: string
      maxConnections: number
      /** Connections closed at once: over maxConnections, or no backend reachable. */
      refused: number
    })[]
    backends: (TcpFigures & { pool: string; id: string })[]
  }
}

/**
 * Keeps the counters seen by recent `GET /stats` calls, so that each call can report rates and
 * percentiles over the last `window` ms without any timer: the dashboard polls, and its polls are
 * the samples.
 */
export class StatsSampler {
  readonly #window: number
  #snapshots: Snapshot[] = []

  /** @param window the rate window, in ms @default 5000 */
  constructor(window = 5000) {
    this.#window = window
  }

  /** The stats now. */
  stats(src: TelemetrySource): Stats {
    const { metrics } = src
    const now = (src.now ?? Date.now)()
    const listeners = src.tcp?.() ?? []
    const tcpPools = new Set(listeners.map((l) => l.config.pool))
    // Counters exist from the first connection on: make them now, so each shows at 0 before.
    for (const l of listeners) metrics.tcp.listener(l.config.name)
    const views = src.control.allBackends()
    const tcpViews = views.filter((view) => tcpPools.has(view.pool))
    for (const view of tcpViews) metrics.tcp.backend(backendKey(view.pool, view.id))
    const snapshot = takeSnapshot(metrics, now)
    // The oldest snapshot inside the window is the base; older ones are dropped.
    this.#snapshots = this.#snapshots.filter((s) => now - s.at <= this.#window)
    const base = this.#snapshots.find((s) => now - s.at >= 250)
    const last = this.#snapshots.at(-1)
    if (!last || now - last.at >= 250) this.#snapshots.push(snapshot)
    const seconds = base ? (now - base.at) / 1000 : 0
    const tcpFigures = (key: string, c: TcpCounters): TcpFigures => {
      const before = base?.tcp.get(key)
      return {
        open: c.open,
        total: c.total,
        bytesIn: c.bytesIn,
        bytesOut: c.bytesOut,
        connectFailures: c.connectFailures,
        window:
          base && seconds > 0
            ? {
                connectionsPerSecond: round((c.total - (before?.total ?? 0)) / seconds),
                bytesInPerSecond: round((c.bytesIn - (before?.bytesIn ?? 0)) / seconds),
                bytesOutPerSecond: round((c.bytesOut - (before?.bytesOut ?? 0)) / seconds),
              }
            : null,
      }
    }
    const figures = (
      responses: Float64Array,
      failures: number,
      latency: Float64Array,
      baseResponses?: Float64Array,
      baseFailures = 0,
      baseLatency?: Float64Array,
    ): WindowFigures | null => {
      if (!base) return null
      const dResponses = diff(responses, baseResponses)
      const dLatency = diff(latency, baseLatency)
      const answered = sum(dResponses)
      const failed = failures - baseFailures
      const total = answered + failed
      const toMs = (q: number) => {
        const seconds = bucketQuantile(LATENCY_BUCKETS, dLatency, q)
        return seconds === undefined ? null : Math.round(seconds * 1e6) / 1000
      }
      return {
        requestsPerSecond: round(total / seconds),
        errorRate: total === 0 ? 0 : round((dResponses[4]! + failed) / total),
        p50Ms: toMs(0.5),
        p99Ms: toMs(0.99),
      }
    }

    const backendFigures = views.map((view) => {
      const key = backendKey(view.pool, view.id)
      const c = metrics.backend(key)
      const b = base?.backends.get(key)
      return figures(
        c.responses,
        sum(c.failures),
        c.latency.counts,
        b?.responses,
        b ? sum(b.failures) : 0,
        b?.latency,
      )
    })
    const windowTotal = backendFigures.reduce((t, f) => t + (f?.requestsPerSecond ?? 0), 0)
    let inflight = 0
    for (const view of views) if (!tcpPools.has(view.pool)) inflight += view.inflight
    const memory = src.deps.memoryUsage?.()

    return {
      time: new Date(now).toISOString(),
      version: src.version,
      uptimeSeconds: Math.round((now - src.startedAt) / 1000),
      strategy: src.control.config.strategy,
      windowSeconds: round(seconds),
      requests: {
        total: sum(metrics.requests),
        byClass: Object.fromEntries(STATUS_CLASSES.map((k, i) => [k, metrics.requests[i]!])),
        retries: metrics.retries,
        sticky: { ...metrics.sticky },
        window: figures(
          metrics.requests,
          0,
          metrics.duration.counts,
          base?.requests,
          0,
          base?.duration,
        ),
      },
      inflight,
      queueDepth: src.queueDepth?.() ?? 0,
      openConnections: src.deps.openConnections?.() ?? null,
      memory: memory
        ? { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal }
        : null,
      pools: src.control.pools().map(({ name, strategy, routes }) => ({ name, strategy, routes })),
      routes: src.control.routes().map((route) => ({
        name: route.name,
        match: route.match ?? {},
        pools: route.pools ?? [{ pool: route.pool!, weight: 1 }],
      })),
      backends: views.map((view, i) => {
        const c = metrics.backend(backendKey(view.pool, view.id))
        const f = backendFigures[i]!
        return {
          ...view,
          responses: Object.fromEntries(STATUS_CLASSES.map((k, j) => [k, c.responses[j]!])),
          failures: Object.fromEntries(FAILURE_KINDS.map((k, j) => [k, c.failures[j]!])),
          retries: c.retries,
          ejections: c.ejections,
          window: f && {
            ...f,
            share: windowTotal === 0 ? 0 : round(f.requestsPerSecond / windowTotal),
          },
        }
      }),
      transitions: src.transitions().map((t) => ({
        ...(t.pool === undefined ? {} : { pool: t.pool }),
        at: new Date(t.at).toISOString(),
        id: t.id,
        url: t.url,
        to: t.to,
        ...(t.reason ? { reason: t.reason } : {}),
      })),
      ...(src.fleet ? { fleet: src.fleet() } : {}),
      tcp: {
        listeners: listeners.map(({ config }) => {
          const c = metrics.tcp.listener(config.name)
          return {
            name: config.name,
            host: config.listen.host,
            ...(config.listen.port === 0 ? {} : { port: config.listen.port }),
            pool: config.pool,
            maxConnections: config.maxConnections,
            ...tcpFigures(`listener:${config.name}`, c),
            refused: c.refused,
          }
        }),
        backends: tcpViews.map((view) => {
          const key = backendKey(view.pool, view.id)
          return {
            pool: view.pool,
            id: view.id,
            ...tcpFigures(`backend:${key}`, metrics.tcp.backend(key)),
          }
        }),
      },
    }
  }
}

function takeSnapshot(metrics: Metrics, at: number): Snapshot {
  const backends: Snapshot['backends'] = new Map()
  for (const [id, c] of metrics.backends()) {
    backends.set(id, {
      responses: c.responses.slice(),
      failures: c.failures.slice(),
      latency: c.latency.counts.slice(),
    })
  }
  const tcp = new Map<string, TcpMark>()
  const mark = ({ total, bytesIn, bytesOut }: TcpCounters) => ({ total, bytesIn, bytesOut })
  for (const [name, c] of metrics.tcp.listeners()) tcp.set(`listener:${name}`, mark(c))
  for (const [key, c] of metrics.tcp.backends()) tcp.set(`backend:${key}`, mark(c))
  return {
    at,
    requests: metrics.requests.slice(),
    duration: metrics.duration.counts.slice(),
    backends,
    tcp,
  }
}

function diff(now: Float64Array, before: Float64Array | undefined): Float64Array {
  if (!before) return now
  const out = new Float64Array(now.length)
  for (let i = 0; i < now.length; i++) out[i] = now[i]! - before[i]!
  return out
}

function sum(values: ArrayLike<number>): number {
  let total = 0
  for (let i = 0; i < values.length; i++) total += values[i]!
  return total
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000
}
