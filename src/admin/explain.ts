/**
 * `GET /explain`: which backend a request would get, and why. It builds a fresh selector for the
 * current backends, so asking never moves the live rotation; for strategies that rotate or draw
 * at random, the order shown is that of a fresh selector.
 */
import ipaddr from 'ipaddr.js'
import type { Config } from '../config.ts'
import { createPickInput } from '../pick-input.ts'
import type { BackendPool, ProbeResult } from '../pool.ts'
import type { RouteTable } from '../routes/table.ts'
import { keyReader } from '../strategies/consistent-hash.ts'
import { strategies } from '../strategies/index.ts'
import type { StickySessions } from '../sticky.ts'
import type { Backend } from '../types.ts'
import { AdminError } from './admin-error.ts'

/** One pool's parts, as `GET /explain` reads them. */
export interface ExplainPool {
  readonly pool: BackendPool
  readonly config: Config
  readonly sticky: StickySessions | undefined
}

/** What `GET /explain` needs: the pool `default`, and the routes and pools when there are any. */
export interface ExplainSource extends ExplainPool {
  readonly routes?: RouteTable
  readonly pools?: (name: string) => ExplainPool | undefined
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

/**
 * Explain the pick for a request described by query parameters: `method`, `path` (with any
 * query), `ip`, `host`, `cookie` (a Cookie header value) and `header` (repeatable, `Name: value`).
 *
 * @throws {AdminError} 400 on a malformed parameter
 */
export async function explain(query: URLSearchParams, src: ExplainSource) {
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
  if (src.routes && src.pools) {
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
  const strategy = strategies[config.strategy]
  const eligible = pool.eligible()
  const selector = strategy.build(eligible, config.strategyOptions)
  const order = [...selector.candidates(input, pool)]

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

  const describe = (backend: Backend): ExplainedBackend => {
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
  const chosen = new Set(candidates.map((b) => b.id))
  const primaryUp = eligible.some((b) => !b.backup)
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
    excluded: [...pool.states()]
      .filter((s) => !chosen.has(s.backend.id))
      .map((s) => ({
        ...describe(s.backend),
        reason:
          stateOf(s) !== 'up'
            ? stateOf(s)
            : s.backend.backup && primaryUp
              ? 'backup: serves only when no primary is up'
              : 'not eligible',
      })),
  }
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

function hashKeyOf(config: Config, input: ReturnType<typeof createPickInput>) {
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
