/**
 * `GET /explain`: which backend a request would get, and why. It builds a fresh selector for the
 * current backends, so asking never moves the live rotation; for strategies that rotate or draw
 * at random, the order shown is that of a fresh selector. With `listener` (a TCP listener) or
 * `pool` (a pool behind one), it explains a new layer-4 connection instead: the client's address
 * is its only key.
 */
import ipaddr from 'ipaddr.js'
import type { Config, TcpListenerConfig } from '../config.ts'
import { createPickInput } from '../pick-input.ts'
import type { BackendPool, ProbeResult } from '../pool.ts'
import type { RouteTable } from '../routes/table.ts'
import { keyReader } from '../strategies/consistent-hash.ts'
import { strategies } from '../strategies/index.ts'
import type { PickInput } from '../strategies/strategy.ts'
import type { StickySessions } from '../sticky.ts'
import type { Backend } from '../types.ts'
import { AdminError } from './admin-error.ts'

/** One pool's parts, as `GET /explain` reads them. */
export interface ExplainPool {
  readonly pool: BackendPool
  readonly config: Config
  readonly sticky: StickySessions | undefined
}

/** A TCP listener, as `GET /explain?listener=` reads it (a `TcpService`). */
export interface ExplainListener {
  readonly config: TcpListenerConfig
  /** Connections open now. */
  readonly size: number
}

/** What `GET /explain` needs: the pool `default`, and the routes and pools when there are any. */
export interface ExplainSource extends ExplainPool {
  readonly routes?: RouteTable
  readonly pools?: (name: string) => ExplainPool | undefined
  /** The TCP listeners, for `?listener=` and `?pool=`. @default none */
  readonly tcp?: readonly ExplainListener[]
}

/** Strategies whose answer depends only on the request and the load, not on a turn or a draw. */
const DETERMINISTIC = new Set([
  'ip-hash',
  'url-hash',
  'consistent-hash',
  'least-connections',
  'weighted-least-connections',
  'least-time',
  'threshold',
  'resource',
])

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** One backend in the answer. */
interface ExplainedBackend {
  id: string
  url: string
  weight: number
  backup: boolean
  state: string
  inflight: number
  ewmaMs: number
  utilisation?: number
  /** What the strategy orders by, where it orders by load. */
  score?: number
  /** The last active probe, as `GET /backends` shows it (`output`: what an exec check printed). */
  lastProbe?: { ok: boolean; at: string; reason?: string; output?: string }
}

/** The parameters that describe an HTTP request: a TCP connection has none of them. */
const HTTP_PARAMETERS = ['method', 'path', 'host', 'cookie', 'header'] as const

/**
 * Explain the pick for a request described by query parameters: `method`, `path` (with any
 * query), `ip`, `host`, `cookie` (a Cookie header value) and `header` (repeatable, `Name: value`).
 *
 * @throws {AdminError} 400 on a malformed parameter
 */
export async function explain(query: URLSearchParams, src: ExplainSource) {
  const connection = tcpTarget(query, src)
  if (connection) return explainConnection(query, src, connection)
  const method = (query.get('method') ?? 'GET').toUpperCase()
  if (!TOKEN.test(method)) throw new AdminError(400, 'method: Expected an HTTP method')
  const target = query.get('path') ?? '/'
  if (!target.startsWith('/')) throw new AdminError(400, 'path: Expected a path starting with /')
  const ip = query.get('ip') ?? undefined
  if (ip !== undefined && !ipaddr.isValid(ip)) {
    throw new AdminError(400, 'ip: Expected an IPv4 or IPv6 address')
  }
  const headers = new Headers()
  for (const line of query.getAll('header')) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim()
    if (colon <= 0 || !TOKEN.test(name)) {
      throw new AdminError(400, 'header: Expected "Name: value"')
    }
    headers.append(name, line.slice(colon + 1).trim())
  }
  const cookie = query.get('cookie')
  if (cookie !== null) headers.set('cookie', cookie)
  const host = query.get('host') ?? 'explain.invalid'
  headers.set('host', host)

  let request: Request
  try {
    request = new Request(`http://${host}${target}`, { method, headers })
  } catch (error) {
    throw new AdminError(400, `Cannot build the request: ${(error as Error).message}`)
  }
  const about = { method, path: target, ip: ip ?? null, host }

  // The route first: the one that takes the request, and why each earlier one did not.
  let source: ExplainPool = src
  let routing: Record<string, unknown> = {}
  const asked = query.get('pool')
  if (asked !== null) {
    // A pool named: its own pick, whatever the routes say.
    source = poolNamed(src, asked)
    routing = { pool: asked }
  } else if (src.routes && src.pools) {
    const verdicts = src.routes.explain(request)
    const matched = verdicts.at(-1)?.matched ? src.routes.get(verdicts.at(-1)!.route) : undefined
    if (!matched) {
      return { request: about, routes: verdicts, route: null, verdict: 'No route matches: 404' }
    }
    // A split: explain its heaviest pool, and show the weights.
    const shares = matched.split?.shares
    const poolName = shares
      ? shares.reduce((a, b) => (b.weight > a.weight ? b : a)).pool
      : matched.pools()[0]!
    const picked = src.pools(poolName)
    if (!picked) throw new AdminError(500, `Route ${matched.name} names no pool in service`)
    source = picked
    routing = {
      routes: verdicts,
      route: matched.name,
      pool: poolName,
      ...(shares ? { split: shares } : {}),
    }
  }
  const { pool, config, sticky } = source
  const input = createPickInput(request, target, ip)
  const eligible = pool.eligible()
  const order = freshOrder(config, eligible, input, pool)

  // The sticky layer runs first: a valid cookie's backend wins while it is up (even draining).
  let stickyVerdict: Record<string, unknown> = { enabled: false }
  let pinned: Backend | undefined
  if (sticky) {
    const value = input.cookie(sticky.cookie)
    const pin = value === undefined ? undefined : await sticky.verify(value)
    pinned = pin && pool.sessionTarget(pin.backendId)
    stickyVerdict = {
      enabled: true,
      cookie: sticky.cookie,
      verdict:
        value === undefined
          ? 'no cookie: the chosen backend will be pinned'
          : !pin
            ? 'invalid, forged or expired cookie: treated as none'
            : pinned
              ? 'pinned backend is available: it wins'
              : 'pinned backend is unavailable: falls back, a new cookie is issued',
      ...(pin ? { pinnedTo: pin.backendId } : {}),
    }
  }
  const candidates = pinned ? [pinned, ...order.filter((b) => b.id !== pinned.id)] : order

  const describe = (backend: Backend) => describeBackend(config, pool, backend)
  const chosen = new Set(candidates.map((b) => b.id))
  return {
    request: about,
    ...routing,
    strategy: config.strategy,
    deterministic: DETERMINISTIC.has(config.strategy),
    hashKey: hashKeyOf(config, input),
    sticky: stickyVerdict,
    chosen: candidates[0]?.id ?? null,
    verdict: candidates[0] ? undefined : 'No backend available: the request would get 503',
    candidates: candidates.map((b, rank) => ({ rank: rank + 1, ...describe(b) })),
    excluded: excludedOf(config, pool, eligible, chosen),
  }
}

/** The TCP listener and pool a query asks about, or `undefined` for an HTTP request. */
interface TcpTarget {
  readonly pool: string
  readonly source: ExplainPool
  /** The listener asked about; with `?pool=`, every listener in front of the pool. */
  readonly listeners: readonly ExplainListener[]
  readonly asked: 'listener' | 'pool'
}

/**
 * Whether the query is about a layer-4 connection: `listener` names a TCP listener, or `pool` a
 * pool behind one.
 *
 * @throws {AdminError} 400 naming `listener` or `pool` when it names nothing in service
 */
function tcpTarget(query: URLSearchParams, src: ExplainSource): TcpTarget | undefined {
  const listenerName = query.get('listener')
  const poolName = query.get('pool')
  const tcp = src.tcp ?? []
  if (listenerName !== null) {
    if (poolName !== null) throw new AdminError(400, 'pool: Give listener or pool, not both')
    const listener = tcp.find((l) => l.config.name === listenerName)
    if (!listener) {
      const known = tcp.map((l) => l.config.name).join(', ') || 'none'
      throw new AdminError(400, `listener: Unknown TCP listener ${listenerName} (known: ${known})`)
    }
    const pool = listener.config.pool
    const source = src.pools ? src.pools(pool) : pool === 'default' ? src : undefined
    if (!source) {
      throw new AdminError(400, `listener: The pool of ${listenerName}, ${pool}, is not in service`)
    }
    return { pool, source, listeners: [listener], asked: 'listener' }
  }
  if (poolName === null) return undefined
  const listeners = tcp.filter((l) => l.config.pool === poolName)
  if (listeners.length === 0) return undefined
  return { pool: poolName, source: poolNamed(src, poolName), listeners, asked: 'pool' }
}

/** @throws {AdminError} 400 naming `pool` when no pool of that name is in service */
function poolNamed(src: ExplainSource, name: string): ExplainPool {
  const found = src.pools ? src.pools(name) : name === 'default' ? src : undefined
  if (!found) throw new AdminError(400, `pool: Unknown pool ${name}`)
  return found
}

/**
 * Explain a new connection to a TCP listener from `ip`, as `TcpService` would pick for it: the
 * strategy's candidates in order (a connect that fails goes to the next), then the backups on
 * standby; a candidate at its `maxConnections`, or with its circuit open, is passed over.
 *
 * @throws {AdminError} 400 on an HTTP parameter, or a malformed `ip`
 */
function explainConnection(query: URLSearchParams, src: ExplainSource, target: TcpTarget) {
  for (const name of HTTP_PARAMETERS) {
    if (query.has(name)) {
      throw new AdminError(400, `${name}: Not for a TCP listener: a connection has only its ip`)
    }
  }
  const ip = query.get('ip') ?? undefined
  if (ip !== undefined && !ipaddr.isValid(ip)) {
    throw new AdminError(400, 'ip: Expected an IPv4 or IPv6 address')
  }
  const { pool, config } = target.source
  // What the service gives its selector: the client's address, and no HTTP field.
  const input: PickInput = {
    clientIp: ip,
    header: () => null,
    cookie: () => undefined,
    path: '',
    query: '',
  }
  const eligible = pool.eligible()
  const order = freshOrder(config, eligible, input, pool)
  const ids = new Set(order.map((b) => b.id))
  const standby = pool.standby().filter((b) => !ids.has(b.id))
  const passedOver = (backend: Backend): string | undefined => {
    const state = pool.get(backend.id)
    if (!state) return 'removed'
    if (state.circuit === 'open') return 'circuit open'
    const max = state.backend.maxConnections
    if (max !== undefined && state.inflight >= max) return `at maxConnections (${max})`
    return undefined
  }
  const candidates = [
    ...order.map((backend) => ({ backend, standby: false })),
    ...standby.map((backend) => ({ backend, standby: true })),
  ].map(({ backend, standby }, rank) => {
    const skip = passedOver(backend)
    return {
      rank: rank + 1,
      ...describeBackend(config, pool, backend),
      ...(standby ? { standby: true } : {}),
      ...(skip ? { skipped: skip } : {}),
    }
  })
  const listener = target.asked === 'listener' ? target.listeners[0]! : undefined
  // Only a named listener can be full for the connection (a pool may have others with room).
  const full = listener && listener.size >= listener.config.maxConnections ? listener : undefined
  const chosen = full ? undefined : candidates.find((c) => c.skipped === undefined)
  return {
    connection: {
      ip: ip ?? null,
      ...(listener ? { listener: listener.config.name } : {}),
      pool: target.pool,
    },
    listeners: target.listeners.map((l) => ({
      name: l.config.name,
      listen: l.config.listen,
      open: l.size,
      maxConnections: l.config.maxConnections,
      ...(l.config.sendProxy ? { sendProxy: l.config.sendProxy } : {}),
    })),
    strategy: config.strategy,
    deterministic: DETERMINISTIC.has(config.strategy),
    hashKey: hashKeyOf(config, input),
    chosen: chosen?.id ?? null,
    verdict: full
      ? `Listener ${full.config.name} is at maxConnections (${full.config.maxConnections}): ` +
        'the connection would be closed at once'
      : chosen
        ? undefined
        : 'No backend available: the connection would be closed at once',
    candidates,
    excluded: excludedOf(config, pool, eligible, new Set(candidates.map((c) => c.id))),
  }
}

/** The order a fresh selector gives: the first choice, then the fallbacks. */
function freshOrder(
  config: Config,
  eligible: readonly Backend[],
  input: PickInput,
  pool: BackendPool,
): Backend[] {
  const selector = strategies[config.strategy].build(eligible, config.strategyOptions)
  return [...selector.candidates(input, pool)]
}

/** One backend in the answer: its state, load, score and last probe. */
function describeBackend(config: Config, pool: BackendPool, backend: Backend): ExplainedBackend {
  const state = pool.get(backend.id)
  const score = scoreOf(config, backend, pool)
  const probe = state?.lastProbe
  return {
    id: backend.id,
    url: backend.url,
    weight: backend.weight,
    backup: backend.backup === true,
    state: stateOf(state),
    inflight: state?.inflight ?? 0,
    ewmaMs: Math.round(pool.latency(backend) * 1000) / 1000,
    ...(state?.utilisation === undefined ? {} : { utilisation: state.utilisation }),
    ...(score === undefined ? {} : { score }),
    ...(probe ? { lastProbe: probeView(probe) } : {}),
  }
}

/** The pool's backends outside `chosen`, each with the reason. */
function excludedOf(
  config: Config,
  pool: BackendPool,
  eligible: readonly Backend[],
  chosen: ReadonlySet<string>,
) {
  const primaryUp = eligible.some((b) => !b.backup)
  return [...pool.states()]
    .filter((s) => !chosen.has(s.backend.id))
    .map((s) => ({
      ...describeBackend(config, pool, s.backend),
      reason:
        stateOf(s) !== 'up'
          ? stateOf(s)
          : s.backend.backup && primaryUp
            ? 'backup: serves only when no primary is up'
            : 'not eligible',
    }))
}

/** A probe result for the answer: why a backend is down, and what its check printed. */
function probeView(probe: ProbeResult): NonNullable<ExplainedBackend['lastProbe']> {
  return {
    ok: probe.ok,
    at: new Date(probe.at).toISOString(),
    ...(probe.reason ? { reason: probe.reason } : {}),
    ...(probe.output ? { output: probe.output } : {}),
  }
}

function stateOf(state: ReturnType<BackendPool['get']>): string {
  if (!state) return 'removed'
  const ejected = (state as { ejected?: boolean }).ejected === true
  if (!state.enabled) return 'disabled'
  if (state.draining) return 'draining'
  if (ejected) return 'ejected'
  return state.healthy ? 'up' : 'down'
}

function hashKeyOf(config: Config, input: PickInput) {
  switch (config.strategy) {
    case 'ip-hash':
      return { source: 'ip', value: input.clientIp ?? null }
    case 'url-hash':
      return {
        source: config.strategyOptions.urlHash.includeQuery ? 'path and query' : 'path',
        value:
          config.strategyOptions.urlHash.includeQuery && input.query
            ? `${input.path}?${input.query}`
            : input.path,
      }
    case 'consistent-hash': {
      const source = config.strategyOptions.consistentHash.key
      return { source, value: keyReader(source)(input) ?? null }
    }
    default:
      return null
  }
}

function scoreOf(config: Config, backend: Backend, pool: BackendPool): number | undefined {
  const inflight = pool.inflight(backend)
  switch (config.strategy) {
    case 'least-connections':
      return inflight
    case 'weighted-least-connections':
      return Math.round((inflight / backend.weight) * 1000) / 1000
    case 'least-time':
      return Math.round(pool.latency(backend) * (inflight + 1) * 1000) / 1000
    case 'threshold':
      return inflight / (config.strategyOptions.threshold.connections * backend.weight)
    case 'resource':
      return pool.utilisation(backend)
    default:
      return undefined
  }
}
