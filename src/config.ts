/**
 * The configuration schema: the one source of truth for the config file, the command line and
 * (later) the admin API. Every default lives here.
 *
 * The zod schemas are built when a config is parsed (`configSchemas`), not when this module is
 * loaded, and are let go afterwards: kept for the whole run, for a config parsed once at start
 * (and on a reload or an admin change), they held 0.8 MB of the live heap on Bun and on Node, and
 * on Bun what stays live is multiplied in the peak under load (see runtimes/bun/memory.ts).
 */
import * as z from 'zod'
import { primitiveSchemas } from './config-primitives.ts'
import { fnv1a64Hex } from './hash.ts'
import { edgeSchemas } from './config-edge.ts'
import { DEFAULT_POOL, routeSchemas, type RouteConfig } from './config-routes.ts'
import { findShadowed } from './shadowed-routes.ts'

/** The strategy names, as typed on the command line. `src/strategies/index.ts` is keyed by it. */
export const STRATEGY_NAMES = [
  'round-robin',
  'weighted-round-robin',
  'random',
  'least-connections',
  'weighted-least-connections',
  'least-time',
  'power-of-two',
  'resource',
  'ip-hash',
  'url-hash',
  'consistent-hash',
  'threshold',
] as const
/** One of {@link STRATEGY_NAMES}. */
export type StrategyName = (typeof STRATEGY_NAMES)[number]

/**
 * Normalise a backend address to its origin (`scheme://host:port`): `http:` and `https:` for HTTP
 * pools, `tcp:` (host and port required) for pools behind TCP listeners. Paths are refused:
 * fulcrum forwards the client's path unchanged.
 */
export function normaliseOrigin(raw: string): string {
  const url = new URL(raw)
  const scheme = url.protocol.slice(0, -1)
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'tcp') {
    throw new Error(`Unsupported scheme ${scheme}, expected http, https or tcp`)
  }
  if (url.username || url.password) throw new Error('Credentials are not allowed in a backend URL')
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new Error('A backend URL has no path, query or fragment')
  }
  if (scheme !== 'tcp') return url.origin
  // A non-special scheme: WHATWG URL keeps its host as written and gives no origin.
  if (!url.hostname || !url.port) throw new Error('A tcp backend needs a host and a port')
  return `tcp://${new URL(`http://${url.host}`).host}`
}

/** The id a backend gets when none is given: stable across instances, derived from its origin. */
export function defaultBackendId(url: string): string {
  return `b${fnv1a64Hex(url).slice(0, 12)}`
}

/** The keys a pool inherits from the top level. */
const INHERITED = [
  'discovery',
  'strategy',
  'strategyOptions',
  'healthCheck',
  'sticky',
  'outlierDetection',
  'circuitBreaker',
  'retries',
  'slowStart',
  'queue',
  'timeouts',
] as const

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** `over` laid on `under`, objects merged key by key, anything else replaced. */
function layer(under: unknown, over: unknown): unknown {
  if (over === undefined) return under
  if (!isObject(under) || !isObject(over)) return over
  const merged: Record<string, unknown> = { ...under }
  for (const [key, value] of Object.entries(over)) merged[key] = layer(under[key], value)
  return merged
}

/**
 * A pool behind a TCP listener is checked with `tcp` unless it says otherwise: an HTTP probe of a
 * database makes no sense.
 */
function defaultTcpChecks(input: Record<string, unknown>): Record<string, unknown> {
  if (!Array.isArray(input.tcp)) return input
  const names = new Set(
    input.tcp.map((listener) => (isObject(listener) ? listener.pool : undefined)),
  )
  const withTcpCheck = (section: Record<string, unknown>) => {
    const check = isObject(section.healthCheck) ? section.healthCheck : {}
    const inherited = section === input || !isObject(input.healthCheck) ? {} : input.healthCheck
    if (check.type !== undefined || inherited.type !== undefined) return section
    return { ...section, healthCheck: { ...check, type: 'tcp' } }
  }
  let next = input
  if (names.has(DEFAULT_POOL)) next = withTcpCheck(next)
  if (isObject(input.pools)) {
    const pools: Record<string, unknown> = { ...input.pools }
    for (const [name, pool] of Object.entries(pools)) {
      if (names.has(name) && isObject(pool)) pools[name] = withTcpCheck(pool)
    }
    next = { ...next, pools }
  }
  return next
}

/**
 * Each pool's settings laid over the top level's (raw input, before defaults), so that a setting a
 * pool leaves out takes the top-level value, then the default. Discovery is inherited only by
 * `default`: a DNS name belongs to one pool.
 */
function inheritPoolSettings(input: unknown): unknown {
  if (!isObject(input)) return input
  input = defaultTcpChecks(input)
  if (!isObject(input) || !isObject(input.pools)) return input
  const pools: Record<string, unknown> = {}
  for (const [name, pool] of Object.entries(input.pools)) {
    if (!isObject(pool)) {
      pools[name] = pool
      continue
    }
    const merged: Record<string, unknown> = { ...pool }
    for (const key of INHERITED) {
      if (key === 'discovery') continue
      let top = input[key]
      if (key === 'timeouts' && isObject(top)) {
        const { connect, responseHeaders, upstreamIdle } = top
        top = Object.fromEntries(
          Object.entries({ connect, responseHeaders, upstreamIdle }).filter(
            ([, v]) => v !== undefined,
          ),
        )
      }
      // A pool's own sticky key (`secret` or `secrets`) replaces the top level's, whichever it is.
      const own = pool[key]
      if (
        key === 'sticky' &&
        isObject(top) &&
        isObject(own) &&
        (own.secret !== undefined || own.secrets !== undefined)
      ) {
        const { secret: _secret, secrets: _secrets, ...rest } = top
        top = rest
      }
      merged[key] = layer(top, own)
    }
    pools[name] = merged
  }
  return { ...input, pools }
}

/**
 * Every schema of the config, built anew: call {@link configSchemas}, which reuses them while
 * something still holds them.
 */
function buildConfigSchemas() {
  const primitives = primitiveSchemas()
  const { cidr, duration, port } = primitives
  const edge = edgeSchemas(primitives)
  const { AccessSchema, CertificateSchema, HstsSchema, LimitsSchema, RateLimitSchema } = edge
  const { PoolName, RouteSchema } = routeSchemas(primitives, edge)
  const StrategyName = z.enum(STRATEGY_NAMES)

  const origin = z.string().transform((value, ctx) => {
    try {
      return normaliseOrigin(value)
    } catch (error) {
      ctx.addIssue({
        code: 'custom',
        message: error instanceof TypeError ? 'Invalid URL' : String((error as Error).message),
      })
      return z.NEVER
    }
  })

  const backendObject = z.strictObject({
    url: origin,
    weight: z.number().int().min(1).max(10_000).default(1),
    id: z
      .string()
      .regex(/^[A-Za-z0-9._~-]{1,64}$/, 'Expected 1 to 64 characters of A-Z, a-z, 0-9, . _ ~ -')
      .optional(),
    backup: z.boolean().default(false),
    /**
     * Requests in flight to this backend at most (HAProxy `maxconn`); beyond it, requests go to
     * another backend or wait in the queue. @default unlimited
     */
    maxConnections: z.number().int().min(1).max(1_000_000).optional(),
  })

  /** `URL` or `URL=WEIGHT`, as given to `--backend`. */
  const backendShorthand = z.string().transform((value, ctx) => {
    const at = value.lastIndexOf('=')
    const hasWeight = at > value.indexOf('://') && /^\d+$/.test(value.slice(at + 1))
    const parsed = backendObject.safeParse(
      hasWeight ? { url: value.slice(0, at), weight: Number(value.slice(at + 1)) } : { url: value },
    )
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' })
      return z.NEVER
    }
    return parsed.data
  })

  /** One backend: `"URL"`, `"URL=WEIGHT"` or `{ url, weight?, id?, backup? }`. */
  const BackendSchema = z.union([backendShorthand, backendObject]).transform((b) => ({
    ...b,
    id: b.id ?? defaultBackendId(b.url),
  }))

  /**
   * `POST /backends` on the admin API: a backend object, plus an optional `ttl` lease that
   * heartbeats renew (the backend is removed when it lapses, as Consul's TTL checks do).
   */
  const RegisterBackendSchema = backendObject
    .extend({
      ttl: duration
        .refine((ms) => ms >= 1000, 'Expected at least 1s')
        .refine((ms) => ms <= 86_400_000, 'Expected at most 1 day')
        .optional(),
      enabled: z.boolean().default(true),
      draining: z.boolean().default(false),
    })
    .transform((b) => ({ ...b, id: b.id ?? defaultBackendId(b.url) }))

  /** `PATCH /backends/:id` on the admin API: any of weight, enabled and draining. */
  const PatchBackendSchema = z
    .strictObject({
      weight: backendObject.shape.weight.unwrap().optional(),
      enabled: z.boolean().optional(),
      draining: z.boolean().optional(),
    })
    .refine((patch) => Object.keys(patch).length > 0, 'Expected weight, enabled or draining')

  /**
   * Service discovery through DNS: the A/AAAA records of `name` (each address one backend on
   * `port`), or its SRV records (their targets and ports; a higher priority makes a backup).
   * Shorthands: `dns:HOST:PORT` and `dns+srv:NAME`.
   */
  const dnsDiscoveryObject = z.strictObject({
    name: z
      .string()
      .regex(
        /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$/,
        'Expected a DNS name',
      ),
    /** The backends' port; SRV records carry their own. */
    port: port.min(1).optional(),
    /** @default A+AAAA */
    type: z.enum(['A', 'AAAA', 'A+AAAA', 'SRV']).default('A+AAAA'),
    scheme: z.enum(['http', 'https']).default('http'),
    weight: backendObject.shape.weight,
    backup: z.boolean().default(false),
    /** How often the name is resolved again. @default 10s */
    interval: duration.default(10_000).refine((ms) => ms >= 100, 'Expected at least 100ms'),
  })

  const dnsShorthand = z.string().transform((value, ctx) => {
    const srv = /^dns\+srv:(.+)$/.exec(value)
    const plain = /^dns:(.+):(\d{1,5})$/.exec(value)
    const input = srv
      ? { name: srv[1], type: 'SRV' }
      : plain
        ? { name: plain[1]!.replace(/^\[(.*)\]$/, '$1'), port: Number(plain[2]) }
        : undefined
    if (!input) {
      ctx.addIssue({ code: 'custom', message: 'Expected dns:HOST:PORT or dns+srv:NAME' })
      return z.NEVER
    }
    const parsed = dnsDiscoveryObject.safeParse(input)
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, code: 'custom' })
      return z.NEVER
    }
    return parsed.data
  })

  /** One DNS discovery entry: `"dns:HOST:PORT"`, `"dns+srv:NAME"` or an object. */
  const DnsDiscoverySchema = z
    .union([dnsShorthand, dnsDiscoveryObject])
    .superRefine((entry, ctx) => {
      if (entry.type !== 'SRV' && entry.port === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['port'],
          message: 'Expected a port (only SRV records carry one)',
        })
      }
    })

  const adminToken = z
    .string()
    .regex(/^[\x21-\x7e]{16,256}$/, 'Expected 16 to 256 visible ASCII characters')

  /** The admin API's own listener (never the public one). */
  const admin = z.strictObject({
    /** @default true */
    enabled: z.boolean().default(true),
    /** @default 127.0.0.1: loopback only */
    host: z.string().min(1).default('127.0.0.1'),
    /** @default 9090; 0 picks a free port */
    port: port.default(9090),
    /**
     * The bearer token. Prefer FULCRUM_ADMIN_TOKEN, which `ps` does not show. Without one, a random
     * token is generated and printed once at start.
     */
    token: adminToken.optional(),
    /**
     * Host names the admin API answers to, besides IP literals and `localhost` (a Host check
     * against DNS rebinding). @default []
     */
    allowedHosts: z.array(z.string().min(1)).default([]),
    /** Persist admin changes to this JSON file, written atomically; restored at start. */
    stateFile: z.string().min(1).optional(),
    /** How long `DELETE /backends/:id` waits for a backend to drain before removing it. @default 30s */
    drainTimeout: duration.default(30_000),
  })

  /** The access log: one line per request, buffered and written off the hot path. */
  const accessLog = z.strictObject({
    /** @default true when a path is given */
    enabled: z.boolean().optional(),
    /** A file to append to, or `-` for standard output. */
    path: z.string().min(1).optional(),
    /** `json` (one object per line) or `combined` (Apache/nginx combined, plus fields). @default json */
    format: z.enum(['json', 'combined']).default('json'),
    /** Buffered lines are written at least this often. @default 1s */
    flushInterval: duration.default(1000),
    /** Buffered bytes that trigger a write at once. @default 64 KiB */
    bufferSize: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .default(65_536),
  })

  const statusRange = z
    .string()
    .regex(/^[1-5]\d\d(-[1-5]\d\d)?$/, 'Expected a status or a range such as 200-399')
    .transform((value) => {
      const [low, high = low] = value.split('-').map(Number) as [number, number?]
      return { low, high }
    })

  const healthCheck = z.strictObject({
    /** Active probing on or off. Passive checks don't depend on it. */
    enabled: z.boolean().default(true),
    /**
     * `http` sends `GET path`; `tcp` only opens a connection; `exec` runs `command` (exit 0 is
     * healthy). @default http, or tcp for a pool behind a TCP listener
     */
    type: z.enum(['http', 'tcp', 'exec']).default('http'),
    /**
     * `exec`: the program and its arguments, run without a shell; `{host}` and `{port}` are filled
     * in with the backend's. Its output is kept (bounded) for `/explain` and the log.
     */
    command: z.array(z.string().min(1)).min(1).optional(),
    path: z.string().startsWith('/', 'Expected a path starting with /').default('/health'),
    /** @default 5s (HAProxy `inter` 2s, nginx plus 5s, Envoy has no default) */
    interval: duration.default(5000),
    /** @default 2s, or the interval when shorter (HAProxy's `timeout check` falls back to `inter`) */
    timeout: duration.optional(),
    /** Consecutive successes that bring a down backend up. @default 2 (as HAProxy) */
    rise: z.number().int().min(1).max(100).default(2),
    /** Consecutive failures that take an up backend down. @default 3 (as HAProxy) */
    fall: z.number().int().min(1).max(100).default(3),
    /** Statuses that count as healthy. @default 200-399 */
    expectStatus: statusRange.default({ low: 200, high: 399 }),
    /** Each interval is randomised by ±jitter × interval. @default 0.1 */
    jitter: z.number().min(0).max(0.5).default(0.1),
  })

  const timeouts = z.strictObject({
    /** Upstream TCP (and TLS) connect. @default 5s */
    connect: duration.default(5000),
    /** From sending the request to the upstream's response headers. @default 30s */
    responseHeaders: duration.default(30_000),
    /** Time a client has to send its request headers. @default 10s */
    clientHeaders: duration.default(10_000),
    /** Idle keep-alive connections from clients are closed after this. @default 5s */
    clientKeepAlive: duration.default(5000),
    /**
     * Longest silence between two chunks of an upstream response body; then the response is
     * aborted, never ended as if complete. @default 60s (nginx `proxy_read_timeout`)
     */
    upstreamIdle: duration.default(60_000).refine((ms) => ms > 0, 'Expected a positive duration'),
    /**
     * Longest silence between two chunks of a client's request body; then the upstream request is
     * cancelled and the client gets 408. @default 60s (nginx `client_body_timeout`)
     */
    clientIdle: duration.default(60_000).refine((ms) => ms > 0, 'Expected a positive duration'),
  })

  /**
   * Passive health (outlier detection) on live traffic, as Envoy's `outlier_detection` and nginx's
   * `max_fails`: consecutive failures eject a backend for a while. Active probes and this section
   * feed one health state per backend.
   */
  const outlierDetection = z.strictObject({
    /** @default true */
    enabled: z.boolean().default(true),
    /** Consecutive 5xx responses that eject a backend; 0 turns it off. @default 5 (Envoy) */
    consecutive5xx: z.number().int().min(0).max(10_000).default(5),
    /**
     * Consecutive connect failures, resets and timeouts that eject a backend; 0 turns it off.
     * @default 5 (Envoy `consecutive_local_origin_failure`)
     */
    consecutiveErrors: z.number().int().min(0).max(10_000).default(5),
    /**
     * An ejection lasts this × the number of times the backend was ejected recently (one fewer for
     * each base time it then stays in). @default 30s (Envoy `base_ejection_time`)
     */
    baseEjectionTime: duration
      .default(30_000)
      .refine((ms) => ms > 0, 'Expected a positive duration'),
    /** The longest ejection. @default 300s (Envoy `max_ejection_time`) */
    maxEjectionTime: duration.default(300_000),
    /**
     * At most this share of the backends is ejected at once, rounded down but at least one when
     * there are two or more; the only backend is never ejected (as nginx). @default 50
     */
    maxEjectionPercent: z.number().min(0).max(100).default(50),
  })

  /**
   * A circuit breaker per backend: closed → open when the failure ratio in the window is too high
   * → half-open after `openTime`, where a few trial requests decide between closed and open again.
   */
  const circuitBreaker = z.strictObject({
    /** @default true */
    enabled: z.boolean().default(true),
    /** Failures (5xx, connect failures, resets, timeouts) per request that open it. @default 0.5 */
    failureRatio: z.number().gt(0).max(1).default(0.5),
    /** Requests in the window before the ratio counts. @default 20 */
    minimumRequests: z.number().int().min(1).max(1_000_000).default(20),
    /** The rolling window the ratio is measured over. @default 10s */
    window: duration.default(10_000).refine((ms) => ms >= 100, 'Expected at least 100ms'),
    /** How long it stays open before trial requests are let through. @default 5s */
    openTime: duration.default(5000).refine((ms) => ms > 0, 'Expected a positive duration'),
    /** Trial requests in half-open; all must succeed to close it. @default 3 */
    halfOpenRequests: z.number().int().min(1).max(1000).default(3),
  })

  /**
   * Retries on another backend. A refused connection is always retried (nothing was sent). After a
   * reset or a `statuses` answer, only a request that may be repeated is: an idempotent method
   * whose body (if any) was kept whole in the replay buffer, or one with `Idempotency-Key`.
   */
  const retries = z.strictObject({
    /** Tries per request, the first included. @default 3 */
    attempts: z.number().int().min(1).max(10).default(3),
    /** Upstream statuses that are retried. @default [502, 503, 504] */
    statuses: z.array(z.number().int().min(500).max(599)).default([502, 503, 504]),
    /**
     * Retries in progress at most, as a percentage of the requests in progress (Envoy
     * `retry_budget`). @default 20
     */
    budgetPercent: z.number().min(0).max(100).default(20),
    /** Retries in progress always allowed, whatever the budget. @default 3 (Envoy) */
    minRetryConcurrency: z.number().int().min(0).max(100_000).default(3),
    /** Request bodies up to this many bytes are kept so that they can be sent again. @default 64 KiB */
    replayBuffer: z
      .number()
      .int()
      .min(0)
      .max(16 * 1024 * 1024)
      .default(65_536),
  })

  /**
   * Slow start: a backend that recovers, or is added at run time, ramps its effective weight from
   * `minWeightPercent` to full over `window` (Envoy `slow_start_config`, HAProxy `slowstart`).
   * Backends present at startup start at full weight.
   */
  const slowStart = z.strictObject({
    /** The ramp's length; 0 turns slow start off. @default 0 (off, as in HAProxy, nginx, Envoy) */
    window: duration.default(0),
    /** The ramp's shape: weight ∝ (elapsed / window)^(1 / aggression). @default 1 (linear) */
    aggression: z.number().gt(0).max(10).default(1),
    /** The weight a ramp starts from, in percent. @default 10 (Envoy `min_weight_percent`) */
    minWeightPercent: z.number().min(1).max(100).default(10),
  })

  /** Where requests wait when every candidate backend is at its `maxConnections`. */
  const queue = z.strictObject({
    /** Requests waiting at most; beyond, 503 at once. 0 turns queueing off. @default 1000 */
    size: z.number().int().min(0).max(1_000_000).default(1000),
    /** How long a request waits before 503. @default 5s (HAProxy `timeout queue`) */
    timeout: duration.default(5000),
  })

  const tls = z.strictObject({
    /** @default true when cert and key are given (never leave a certificate unused), else false */
    enabled: z.boolean().optional(),
    /** PEM certificate chain file. Without cert and key, a self-signed one is generated. */
    cert: z.string().min(1).optional(),
    /** PEM private key file. */
    key: z.string().min(1).optional(),
    /**
     * More certificates, each served to clients that ask for one of its names (SNI); `cert`/`key`
     * (or else the first of these) is the default. @default []
     */
    certificates: z.array(CertificateSchema).default([]),
    /**
     * Offer HTTP/2 by ALPN, with HTTP/1.1 as the fallback, where the runtime can (Node, Deno; Bun
     * serves HTTP/1.1 only). @default true
     */
    http2: z.boolean().default(true),
    /** The oldest TLS version accepted. @default TLSv1.2 (Mozilla "intermediate") */
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    /** Reload the certificates when their files change (SIGHUP always reloads them). @default false */
    watch: z.boolean().default(false),
    /** A plain-HTTP port that redirects every request to HTTPS (301/308). @default none */
    redirectPort: port.optional(),
    /** Send Strict-Transport-Security on HTTPS responses. @default none (not sent) */
    hsts: HstsSchema.optional(),
  })

  const forwarding = z.strictObject({
    /** Send the client's Host upstream (as nginx `proxy_set_header Host $host`). @default true */
    preserveHost: z.boolean().default(true),
    /**
     * Addresses or CIDR ranges whose X-Forwarded-* and Forwarded headers are trusted. From anyone
     * else they are replaced. @default [] (trust nobody)
     */
    trustedProxies: z.array(cidr).default([]),
    /** The pseudonym in `Via` (RFC 9110 §7.6.3). @default fulcrum */
    via: z
      .string()
      .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'Expected a token')
      .default('fulcrum'),
  })

  /** Where `consistent-hash` takes its key from: `ip`, `path`, `header:NAME` or `cookie:NAME`. */
  const hashKey = z
    .string()
    .regex(
      /^(ip|path|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/,
      'Expected ip, path, header:NAME or cookie:NAME',
    )

  /** Options of the strategies that take any. Each section belongs to the strategy it names. */
  const StrategyOptionsSchema = z.strictObject({
    leastTime: z
      .strictObject({
        /** Time constant of the peak-EWMA response time. @default 10s (Finagle, linkerd) */
        decay: duration.default(10_000).refine((ms) => ms > 0, 'Expected a positive duration'),
      })
      .prefault({}),
    consistentHash: z
      .strictObject({
        /** The hash key. A request without it is placed in turn. @default ip */
        key: hashKey.default('ip'),
        /**
         * Bounded loads: a backend takes a key only while it holds at most (1 + epsilon) × the
         * average in-flight load (weighted); else the key spills to the next backend on the ring.
         * `null` turns the bound off. @default 0.25 (HAProxy `hash-balance-factor 125`)
         */
        epsilon: z.number().min(0).max(100).nullable().default(0.25),
        /** Points on the ring per unit of weight. @default 160 (libketama) */
        virtualNodes: z.number().int().min(1).max(10_000).default(160),
      })
      .prefault({}),
    urlHash: z
      .strictObject({
        /** Hash the query too (HAProxy `balance uri whole`). @default false */
        includeQuery: z.boolean().default(false),
      })
      .prefault({}),
    threshold: z
      .strictObject({
        /** In-flight requests a backend of weight 1 takes before the next one fills. @default 10 */
        connections: z.number().int().min(1).max(1_000_000).default(10),
      })
      .prefault({}),
    resource: z
      .strictObject({
        /**
         * Capacity per backend id; capacity × (1 − utilisation) is the backend's effective weight.
         * @default {} (each backend's capacity is its weight)
         */
        capacity: z.record(z.string(), z.number().positive().max(1_000_000)).default({}),
      })
      .prefault({}),
  })

  const stickySecret = z.string().min(16, 'Expected a secret of at least 16 characters')

  /**
   * Sticky sessions (`lb_sid`): a layer over any strategy. Giving the section turns it on. The
   * cookie is signed with `secrets[0]` (or `secret`); every listed key verifies, for rotation.
   */
  const sticky = z
    .strictObject({
      /** @default true when the section is given, false when it is not */
      enabled: z.boolean().default(true),
      /** The cookie name (RFC 6265 §4.1.1 token). @default lb_sid */
      cookie: z
        .string()
        .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'Expected a cookie name (a token)')
        .default('lb_sid'),
      /** One secret (key id `k0`). Without any secret, a random one is generated at start. */
      secret: stickySecret.optional(),
      /** Keys for rotation, newest first: the first signs new cookies, each one verifies. */
      secrets: z
        .array(
          z.strictObject({
            kid: z
              .string()
              .regex(/^[A-Za-z0-9_-]{1,32}$/, 'Expected 1 to 32 characters of A-Z, a-z, 0-9, _ -'),
            secret: stickySecret,
          }),
        )
        .min(1)
        .optional(),
      /** How long a cookie pins its client; renewed once half of it has passed. @default 1h */
      maxAge: duration
        .default(3_600_000)
        .refine((ms) => ms >= 1000, 'Expected at least 1s')
        .refine((ms) => ms <= 400 * 86_400_000, 'Expected at most 400 days (RFC 6265bis)'),
    })
    .superRefine((section, ctx) => {
      if (section.secret !== undefined && section.secrets !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['secret'],
          message: 'Give secret or secrets, not both',
        })
      }
      const kids = new Set<string>()
      section.secrets?.forEach(({ kid }, index) => {
        if (kids.has(kid)) {
          ctx.addIssue({
            code: 'custom',
            path: ['secrets', index, 'kid'],
            message: 'Duplicate key id',
          })
        }
        kids.add(kid)
      })
    })

  /**
   * Accept the PROXY protocol (v1 or v2, detected) from these addresses, to learn the client's
   * address behind another load balancer. A connection from anywhere else is closed unread.
   */
  const acceptProxy = z.strictObject({
    trusted: z.array(cidr).min(1),
  })

  /** A layer-4 listener: each connection is relayed, byte for byte, to a backend of `pool`. */
  const TcpListenerSchema = z.strictObject({
    /** What the metrics, the access log and the admin API call it. */
    name: PoolName,
    listen: z.strictObject({
      /** @default 0.0.0.0 */
      host: z.string().min(1).default('0.0.0.0'),
      port,
    }),
    /** The pool whose backends (`tcp://host:port`) take the connections. */
    pool: PoolName,
    /** Send a PROXY protocol header (HAProxy's spec) first, so that backends see the client. */
    sendProxy: z.enum(['v1', 'v2']).optional(),
    acceptProxy: acceptProxy.optional(),
    /** Terminate TLS with these (or, with `true`, the public listener's) certificates. */
    tls: z
      .union([z.literal(true), z.strictObject({ cert: z.string().min(1), key: z.string().min(1) })])
      .optional(),
    /**
     * A connection with no byte either way for this long is closed. @default 10m (nginx
     * `proxy_timeout`; HAProxy's `timeout client`/`server`)
     */
    idleTimeout: duration.default(600_000).refine((ms) => ms > 0, 'Expected a positive duration'),
    /** Connections open at once at most; beyond, new ones are closed at once. @default 10000 */
    maxConnections: z.number().int().min(1).max(1_000_000).default(10_000),
  })

  /**
   * Fleet mode: several fulcrum instances share their run-time state (pools' backends and flags,
   * routes and split weights, strategies, TTL registrations, sticky keys) through etcd (v3), each
   * watching `prefix` and writing with compare-and-swap.
   */
  const cluster = z.strictObject({
    /** Client URLs of the etcd members, e.g. `http://127.0.0.1:2379`; each is tried in turn. */
    etcd: z.array(z.url({ protocol: /^https?$/ })).min(1),
    /** Where this fleet's keys live. @default /fulcrum */
    prefix: z
      .string()
      .regex(/^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/, 'Expected a path such as /fulcrum/prod')
      .default('/fulcrum'),
    /** This instance's name among the members. @default fulcrum-<random> */
    name: PoolName.optional(),
    /** The membership lease: an instance silent this long is no longer a member. @default 10s */
    memberTtl: duration
      .default(10_000)
      .refine((ms) => ms >= 2000 && ms <= 300_000, 'Expected 2s to 5m'),
  })

  /** Strategies that read HTTP (a URL, a header, a cookie, a load report): not for TCP pools. */
  const HTTP_ONLY_STRATEGIES = new Set(['url-hash', 'resource'])

  /** The upstream timeouts: what a pool (or a route) may set for itself. */
  const upstreamTimeouts = timeouts.pick({
    connect: true,
    responseHeaders: true,
    upstreamIdle: true,
  })

  /** The settings every pool carries. At the top level they describe the pool `default`. */
  const poolFields = {
    backends: z.array(BackendSchema).default([]),
    /** DNS service discovery: backends that follow a name's A/AAAA or SRV records. */
    discovery: z.array(DnsDiscoverySchema).default([]),
    strategy: StrategyName.default('round-robin'),
    strategyOptions: StrategyOptionsSchema.prefault({}),
    healthCheck: healthCheck.prefault({}),
    sticky: sticky.prefault({ enabled: false }),
    outlierDetection: outlierDetection.prefault({}),
    circuitBreaker: circuitBreaker.prefault({}),
    retries: retries.prefault({}),
    slowStart: slowStart.prefault({}),
    queue: queue.prefault({}),
  }

  type PoolFieldsOutput = {
    backends: z.output<typeof poolFields.backends>
    healthCheck: z.output<typeof healthCheck>
  }

  /** Refuse a backend listed twice (by URL or id), and a probe timeout beyond its interval. */
  function checkPoolFields(pool: PoolFieldsOutput, ctx: z.RefinementCtx, at: PropertyKey[]): void {
    const seen = new Map<string, number>()
    pool.backends.forEach((b, index) => {
      // The URL first: a repeated URL also repeats its derived id; report it once.
      for (const key of [`url:${b.url}`, `id:${b.id}`]) {
        const first = seen.get(key)
        if (first !== undefined) {
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'backends', index],
            message: `Duplicate backend ${key.slice(0, key.indexOf(':'))} (same as backends.${first})`,
          })
          break
        }
        seen.set(key, index)
      }
    })
    const { timeout, interval, type, command } = pool.healthCheck
    if (type === 'exec' && command === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'healthCheck', 'command'],
        message:
          'An exec check needs a command, such as ["pg_isready", "-h", "{host}", "-p", "{port}"]',
      })
    }
    if (timeout !== undefined && timeout > interval) {
      ctx.addIssue({
        code: 'custom',
        path: [...at, 'healthCheck', 'timeout'],
        message: 'The probe timeout must not exceed the interval',
      })
    }
  }

  /** The probe timeout filled in: 2 s, or the interval when shorter. */
  function withProbeTimeout<T extends { healthCheck: z.output<typeof healthCheck> }>(pool: T) {
    const probe = pool.healthCheck
    return {
      ...pool,
      healthCheck: { ...probe, timeout: probe.timeout ?? Math.min(2000, probe.interval) },
    }
  }

  /**
   * One named pool: a backend set with its strategy, health checks, sticky sessions, retries, queue
   * and upstream timeouts. A setting it leaves out takes the top-level value, then the default.
   */
  const PoolSchema = z
    .strictObject({ ...poolFields, timeouts: upstreamTimeouts.partial().prefault({}) })
    .superRefine((pool, ctx) => checkPoolFields(pool, ctx, []))
    .transform(withProbeTimeout)

  /**
   * Refuse what would make routing wrong: a pool named `default` (the top level is that pool), a
   * route naming an unknown pool, two routes with one name, and a route an earlier one shadows.
   */
  function checkRoutes(
    config: { pools: Record<string, unknown>; routes?: z.output<typeof RouteSchema>[] },
    ctx: z.RefinementCtx,
  ): void {
    if (DEFAULT_POOL in config.pools) {
      ctx.addIssue({
        code: 'custom',
        path: ['pools', DEFAULT_POOL],
        message: 'The top-level settings are the pool default: give them there',
      })
    }
    const known = (pool: string) => pool === DEFAULT_POOL || pool in config.pools
    const routes = config.routes ?? []
    const names = new Map<string, number>()
    routes.forEach((route, index) => {
      if (route.pool !== undefined && !known(route.pool)) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'pool'],
          message: `Unknown pool ${route.pool}`,
        })
      }
      route.pools?.forEach((split, at) => {
        if (!known(split.pool)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index, 'pools', at, 'pool'],
            message: `Unknown pool ${split.pool}`,
          })
        }
      })
      const name = route.name ?? `route${index}`
      const first = names.get(name)
      if (first !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', index, 'name'],
          message: `Duplicate route name (same as routes.${first})`,
        })
      }
      names.set(name, index)
    })
    for (const { index, by } of findShadowed(routes.map((route) => route.match))) {
      ctx.addIssue({
        code: 'custom',
        path: ['routes', index, 'match'],
        message: `Never matches: routes.${by} (${routes[by]!.name ?? `route${by}`}) takes every request it would`,
      })
    }
  }

  /**
   * Refuse a TCP listener on an unknown pool, or on a pool that holds HTTP backends, speaks HTTP
   * (sticky cookies, HTTP-only strategies and keys, HTTP probes) or is routed to by HTTP routes.
   */
  /** What {@link checkTcp} reads of a pool. */
  interface TcpPoolFields {
    backends: { url: string }[]
    strategy: string
    strategyOptions: { consistentHash: { key: string } }
    sticky: { enabled: boolean }
    healthCheck: { enabled: boolean; type: string }
    discovery: unknown[]
  }

  function checkTcp(
    config: TcpPoolFields & {
      tcp: z.output<typeof TcpListenerSchema>[]
      pools: Record<string, TcpPoolFields>
      routes?: z.output<typeof RouteSchema>[]
    },
    ctx: z.RefinementCtx,
  ): void {
    const names = new Set<string>()
    const ports = new Map<number, number>()
    const poolOf = (name: string) => (name === DEFAULT_POOL ? config : config.pools[name])
    const tcpPools = new Set(config.tcp.map((listener) => listener.pool))
    config.tcp.forEach((listener, index) => {
      const at = ['tcp', index]
      if (names.has(listener.name)) {
        ctx.addIssue({ code: 'custom', path: [...at, 'name'], message: 'Duplicate listener name' })
      }
      names.add(listener.name)
      const port = listener.listen.port
      if (port !== 0 && ports.has(port)) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'listen', 'port'],
          message: `Port taken by tcp.${ports.get(port)}`,
        })
      }
      ports.set(port, index)
      const pool = poolOf(listener.pool)
      if (!pool) {
        ctx.addIssue({
          code: 'custom',
          path: [...at, 'pool'],
          message: `Unknown pool ${listener.pool}`,
        })
      }
    })
    for (const name of tcpPools) {
      const pool = poolOf(name)
      if (!pool) continue
      const base = name === DEFAULT_POOL ? [] : ['pools', name]
      const issue = (path: PropertyKey[], message: string) =>
        ctx.addIssue({ code: 'custom', path: [...base, ...path], message })
      pool.backends.forEach((b, index) => {
        if (!b.url.startsWith('tcp://'))
          issue(['backends', index], 'A pool behind a TCP listener takes tcp://host:port backends')
      })
      if (HTTP_ONLY_STRATEGIES.has(pool.strategy)) {
        issue(['strategy'], `${pool.strategy} reads HTTP: not for a pool behind a TCP listener`)
      }
      const key = pool.strategyOptions.consistentHash.key
      if (pool.strategy === 'consistent-hash' && key !== 'ip') {
        issue(['strategyOptions', 'consistentHash', 'key'], 'A TCP pool hashes on ip only')
      }
      if (pool.sticky.enabled) issue(['sticky'], 'Sticky cookies are HTTP: not for a TCP pool')
      if (pool.healthCheck.enabled && pool.healthCheck.type === 'http') {
        issue(['healthCheck', 'type'], 'A TCP pool is checked with tcp or exec, not http')
      }
      if (pool.discovery.length > 0) {
        issue(['discovery'], 'DNS discovery makes http(s) backends: not for a TCP pool yet')
      }
      config.routes?.forEach((route, index) => {
        if (route.pool === name || route.pools?.some((split) => split.pool === name)) {
          ctx.addIssue({
            code: 'custom',
            path: ['routes', index],
            message: `Pool ${name} is behind a TCP listener: HTTP routes cannot use it`,
          })
        }
      })
    }
  }

  /** The whole configuration file. Every field is optional; the defaults make a working proxy. */
  const ConfigObjectSchema = z
    .strictObject({
      listen: z
        .strictObject({
          host: z.string().min(1).default('0.0.0.0'),
          /** @default 8080, or 8443 with TLS */
          port: port.optional(),
          /** Accept the PROXY protocol from these addresses (behind another load balancer). */
          acceptProxy: acceptProxy.optional(),
        })
        .prefault({}),
      tls: tls.prefault({}),
      ...poolFields,
      timeouts: timeouts.prefault({}),
      forwarding: forwarding.prefault({}),
      /** Time in-flight requests get to finish on SIGTERM/SIGINT. @default 10s */
      shutdownGrace: duration.default(10_000),
      /** Reload the config file whenever it changes (SIGHUP always reloads it). @default false */
      watchConfig: z.boolean().default(false),
      /**
       * Named pools besides `default` (the top-level settings). A pool's settings are laid over the
       * top level's. @default {}
       */
      pools: z.record(PoolName, PoolSchema).default({}),
      /**
       * Tried in order, the first match wins; no match is a 404. @default one catch-all route to
       * the pool `default`
       */
      routes: z.array(RouteSchema).optional(),
      /** Fleet mode over etcd; without it, this instance keeps its state alone. */
      cluster: cluster.optional(),
      /** Layer-4 listeners, each relaying to a pool of `tcp://` backends. @default [] */
      tcp: z.array(TcpListenerSchema).default([]),
      admin: admin.prefault({}),
      accessLog: accessLog.prefault({}),
      /** Start three demo backends on loopback and balance across them. */
      demo: z.boolean().default(false),
      /**
       * Processes serving the public port: node:cluster workers on Node, SO_REUSEPORT processes on
       * Bun; refused on Deno, where it would need --allow-run. Each probes its backends itself; the admin API runs in worker 1, which passes
       * every change it accepts on to the others. @default 1
       */
      workers: z.number().int().min(1).max(64).default(1),
      /** What a client may send: header, URI and body sizes, body deadline, connections. */
      limits: LimitsSchema.prefault({}),
      /** Per-client token buckets; off unless the section is given. */
      rateLimit: RateLimitSchema.optional(),
      /** IP allow and deny lists. */
      access: AccessSchema.prefault({}),
    })
    .superRefine((config, ctx) => {
      if (Boolean(config.tls.cert) !== Boolean(config.tls.key)) {
        ctx.addIssue({
          code: 'custom',
          path: ['tls', config.tls.cert ? 'key' : 'cert'],
          message: 'A certificate and a key go together: give both or neither',
        })
      }
      checkPoolFields(config, ctx, [])
      checkRoutes(config, ctx)
      checkTcp(config, ctx)
      // The PROXY header comes before a TLS handshake, which the runtime's TLS listener does first.
      const tlsOn =
        config.tls.enabled ??
        (Boolean(config.tls.cert && config.tls.key) || config.tls.certificates.length > 0)
      if (config.listen.acceptProxy && tlsOn) {
        ctx.addIssue({
          code: 'custom',
          path: ['listen', 'acceptProxy'],
          message: 'Not supported with TLS: the PROXY header comes before the TLS handshake',
        })
      }
      config.tcp.forEach((listener, index) => {
        if (listener.acceptProxy && listener.tls) {
          ctx.addIssue({
            code: 'custom',
            path: ['tcp', index, 'acceptProxy'],
            message: 'Not supported with tls: the PROXY header comes before the TLS handshake',
          })
        }
      })
    })
    .transform((config) => {
      const tlsEnabled =
        config.tls.enabled ??
        (Boolean(config.tls.cert && config.tls.key) || config.tls.certificates.length > 0)
      return {
        ...config,
        tls: { ...config.tls, enabled: tlsEnabled },
        accessLog: {
          ...config.accessLog,
          enabled: config.accessLog.enabled ?? config.accessLog.path !== undefined,
        },
        listen: { ...config.listen, port: config.listen.port ?? (tlsEnabled ? 8443 : 8080) },
        healthCheck: withProbeTimeout(config).healthCheck,
        routes: (config.routes ?? [{ pool: DEFAULT_POOL, compress: false }]).map(
          (route, index): RouteConfig => ({ ...route, name: route.name ?? `route${index}` }),
        ),
      }
    })

  /** The whole configuration file. Every field is optional; the defaults make a working proxy. */
  const ConfigSchema = z.preprocess(inheritPoolSettings, ConfigObjectSchema)

  return {
    StrategyName,
    BackendSchema,
    RegisterBackendSchema,
    PatchBackendSchema,
    DnsDiscoverySchema,
    StrategyOptionsSchema,
    PoolSchema,
    TcpListenerSchema,
    cluster,
    ConfigObjectSchema,
    ConfigSchema,
    RouteSchema,
  }
}

/** The config's schemas: what {@link configSchemas} returns. */
export type ConfigSchemas = ReturnType<typeof buildConfigSchemas>

/** The schemas last built, as long as something else holds them. */
let lastBuilt: WeakRef<ConfigSchemas> | undefined

/**
 * The config's zod schemas: `ConfigSchema` (the whole file), `PoolSchema`, `RouteSchema`, the
 * admin API's bodies (`RegisterBackendSchema`, `PatchBackendSchema`, `StrategyOptionsSchema`,
 * `StrategyName`) and the one for `--backend` (`BackendSchema`). Built on first use and reused
 * while anything holds them (a parse in progress, the caller); once nothing does, the garbage
 * collector takes them and the next call builds them again (a few ms).
 *
 * @example
 * ```ts
 * configSchemas().BackendSchema.parse('http://127.0.0.1:9001=2') // { url: 'http://127.0.0.1:9001', weight: 2, id: 'b…', backup: false }
 * ```
 */
export function configSchemas(): ConfigSchemas {
  const reused = lastBuilt?.deref()
  if (reused !== undefined) return reused
  const schemas = buildConfigSchemas()
  lastBuilt = new WeakRef(schemas)
  return schemas
}

/** A validated {@link ConfigSchemas} `RegisterBackendSchema` body (`POST /backends`). */
export type RegisterBackend = z.output<ConfigSchemas['RegisterBackendSchema']>
/** One validated discovery entry. */
export type DnsDiscovery = z.output<ConfigSchemas['DnsDiscoverySchema']>
/** Validated strategy options, every default filled in. */
export type StrategyOptions = z.output<ConfigSchemas['StrategyOptionsSchema']>
/** A validated TCP listener. */
export type TcpListenerConfig = z.output<ConfigSchemas['TcpListenerSchema']>
/** A validated `cluster` section. */
export type ClusterConfig = z.output<ConfigSchemas['cluster']>
/** A validated pool. */
export type PoolConfig = z.output<ConfigSchemas['PoolSchema']>
/** A validated configuration, with every default filled in. */
export type Config = z.output<ConfigSchemas['ConfigSchema']>
/** What a config file or the command line may contain. */
export type ConfigInput = z.input<ConfigSchemas['ConfigObjectSchema']>

/** The strategy options with nothing configured. */
export const DEFAULT_STRATEGY_OPTIONS: StrategyOptions =
  configSchemas().StrategyOptionsSchema.parse({})

/** A configuration error. The message names each field and why it is wrong. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Format zod issues as `field.path: reason` lines. */
export function formatIssues(issues: readonly z.core.$ZodIssue[]): string {
  return describeIssues(issues)
    .map(({ path, message }) => `${path || '(config)'}: ${message}`)
    .join('\n')
}

/** Zod issues as `{ path, message }`, the path dotted (`backends.0.url`), for JSON answers. */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
): { path: string; message: string }[] {
  return issues
    .flatMap((issue) => explainIssue(issue, []))
    .map(({ path, message }) => ({ path: path.map(String).join('.'), message }))
}

/**
 * One issue as `{ path, message }` lines. An unknown key is named in the path. A union that failed
 * is explained by the one branch whose type matched (`"ftp://x"` fails as a URL, not as an
 * object), rather than zod's bare "Invalid input".
 */
function explainIssue(
  issue: z.core.$ZodIssue,
  prefix: readonly PropertyKey[],
): { path: PropertyKey[]; message: string }[] {
  const path = [...prefix, ...issue.path]
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...path, key], message: 'Unknown key' }))
  }
  // A record's key that failed (a pool's name, a header name): say why, not "Invalid key".
  if (issue.code === 'invalid_key') return issue.issues.flatMap((i) => explainIssue(i, path))
  if (issue.code === 'invalid_union') {
    const typeMatched = issue.errors.filter(
      (branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0),
    )
    if (typeMatched.length === 1) return typeMatched[0]!.flatMap((i) => explainIssue(i, path))
    if (typeMatched.length === 0) {
      const expected = issue.errors.map((branch) => (branch[0] as { expected?: string }).expected)
      return [{ path, message: `Expected ${expected.join(' or ')}` }]
    }
  }
  return [{ path, message: issue.message }]
}

/**
 * Validate a raw configuration object.
 *
 * @throws {ConfigError} naming every wrong field
 */
export function parseConfig(input: unknown): Config {
  const result = configSchemas().ConfigSchema.safeParse(input)
  if (!result.success) throw new ConfigError(formatIssues(result.error.issues))
  return result.data
}

/**
 * The settings of pool `name` as a whole config: the top-level config with the pool's settings in
 * place of the top level's (the pool `default` is the top level itself). The proxy, the planner
 * and the health checks of a pool read their settings from it.
 *
 * @returns `undefined` when there is no such pool
 */
export function poolConfigOf(config: Config, name: string): Config | undefined {
  if (name === DEFAULT_POOL) return config
  const pool = config.pools[name]
  if (!pool) return undefined
  return { ...config, ...pool, timeouts: { ...config.timeouts, ...pool.timeouts } }
}

/** Every pool's name, `default` first. */
export function poolNames(config: Config): string[] {
  return [DEFAULT_POOL, ...Object.keys(config.pools)]
}

/**
 * Whether the config has anything for an HTTP listener to serve: a pool not behind a TCP listener
 * with backends or discovery, or routes of its own. A config of pools and TCP listeners alone
 * starts no HTTP listener.
 */
export function servesHttp(config: Config): boolean {
  if (config.tcp.length === 0 || config.demo) return true
  const tcpPools = new Set(config.tcp.map((listener) => listener.pool))
  return poolNames(config).some((name) => {
    if (tcpPools.has(name)) return false
    const pool = poolConfigOf(config, name)!
    const routed = config.routes.some(
      (route) => route.pool === name || route.pools?.some((split) => split.pool === name),
    )
    return (
      pool.backends.length > 0 || pool.discovery.length > 0 || (routed && name !== DEFAULT_POOL)
    )
  })
}
