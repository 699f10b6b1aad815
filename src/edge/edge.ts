/**
 * The edge: what every request meets before the balancer sees it. In order: the connection cap
 * (503), the access lists (403), the rate limit (429), strict input and the head limits
 * (400/405/413/414/417/431/501), then the body guard (413/408). Refusals are answered
 * synchronously, so that runtimes that close a connection only after a synchronous answer (Bun)
 * close it; HSTS and the `RateLimit-*` fields go on every answer. The one exception is a
 * fleet-wide rate limit (`rateLimit.store`): its answer comes from Redis, so from there on the
 * edge answers in a Promise (the local buckets stay synchronous).
 */
import type { Config } from '../config.ts'
import type { RateLimit } from '../config-edge.ts'
import { errorResponse } from '../errors.ts'
import { createAddressMatcher } from '../net.ts'
import { requestIdFrom } from '../request-id.ts'
import type { Logger, RawRequestHead, RuntimeDeps } from '../types.ts'
import { createAccessPolicy } from './access.ts'
import { guardBody } from './body-limit.ts'
import { clientAddressOf } from './client-address.ts'
import {
  bucketKey,
  burstOf,
  decisionFields,
  rateKeyHeader,
  rateLimitPolicy,
  TokenBuckets,
  type RateDecision,
} from './rate-limit.ts'
import { FallbackRateStore, LocalShare, type RateStore } from './rate-store.ts'
import type { RedisLike } from '../redis-client.ts'
import { RedisRateStore } from './redis-rate.ts'
import { validateRequest, type Rejection } from './validate.ts'

/** The handler behind the edge. */
export type NextHandler = (request: Request, env: unknown) => Response | Promise<Response>

/** What {@link createEdge} needs. */
export interface EdgeOptions {
  /** The config in force; read per request, so that a reload takes effect. */
  config: () => Config
  deps: Pick<RuntimeDeps, 'clientAddress' | 'rawHead' | 'redis'>
  logger?: Logger
  /**
   * Live fleet members, in fleet mode: each instance then takes limit ÷ members of the rate
   * limit, when it has no `store` and while its store is down.
   * @default the config's `rateLimit.members` (1 unless set) while the store is down; the whole
   * limit without a store
   */
  members?: () => number
}

/** A request the edge let through, and what it learnt about it. */
export interface Screened {
  /** The head as received, where the runtime keeps it. */
  readonly head: RawRequestHead | undefined
  /** The connection's peer address. */
  readonly peer: string | undefined
  /** The client's address: the peer, or the one a trusted proxy forwarded. */
  readonly client: string | undefined
  /** Fields for the answer: `RateLimit-*`, HSTS. */
  readonly fields: Record<string, string>
}

/** The edge of one listener. */
export interface Edge {
  /** Answer `request` at the edge, or hand it to `next`. */
  handle(request: Request, env: unknown, next: NextHandler): Response | Promise<Response>
  /**
   * The edge's checks alone (connection cap, access lists, rate limit, strict input): the
   * refusal, or what it learnt. For requests that leave the HTTP path, such as WebSocket
   * upgrades. In a Promise only with a fleet-wide rate limit (`rateLimit.store`).
   */
  screen(request: Request, env: unknown): Screening
  /** Stop: close the rate-limit store's connection. */
  close(): void
  /** Count something long-lived (an open WebSocket) against the connection cap until released. */
  hold(): () => void
  /**
   * The peer address of a request, including the requests the edge re-created to guard their
   * body (which the runtime no longer knows): use it as `RuntimeDeps.clientAddress` behind the
   * edge.
   */
  clientAddress(request: Request, env: unknown): string | undefined
  /** Requests in progress behind the edge. */
  readonly inProgress: number
}

/** What {@link Edge.screen} answers. */
export type Screening = Response | Screened | Promise<Response | Screened>

interface Settings {
  readonly config: Config
  readonly isTrustedProxy: (address: string | undefined) => boolean
  readonly allowed: ((address: string | undefined) => boolean) | undefined
  /** The local buckets, or a fleet-wide store (whose answers may come in a Promise). */
  readonly buckets: TokenBuckets | RateStore | undefined
  readonly rateKey: string | undefined
  readonly rateHeaders: Record<string, string>
  readonly hsts: string | undefined
}

function hstsValue(config: Config): string | undefined {
  const hsts = config.tls.hsts
  if (!config.tls.enabled || !hsts) return undefined
  let value = `max-age=${Math.floor(hsts.maxAge / 1000)}`
  if (hsts.includeSubDomains) value += '; includeSubDomains'
  if (hsts.preload) value += '; preload'
  return value
}

/** The edge's fields for an answer that gets none (frozen: it is shared). */
const NO_FIELDS: Record<string, string> = Object.freeze({})

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2); Node's HTTP/2 layer throws on them. */
const CONNECTION_FIELDS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]

function withoutConnectionFields(response: Response): Response {
  if (!CONNECTION_FIELDS.some((name) => response.headers.has(name))) return response
  try {
    for (const name of CONNECTION_FIELDS) response.headers.delete(name)
    return response
  } catch {
    const copy = new Response(response.body, response)
    for (const name of CONNECTION_FIELDS) copy.headers.delete(name)
    return copy
  }
}

/**
 * Build the edge.
 *
 * @example
 * ```ts
 * const edge = createEdge({ config: () => config, deps })
 * serve({ fetch: (request, env) => edge.handle(request, env, app.fetch) })
 * ```
 */
export function createEdge(options: EdgeOptions): Edge {
  const { deps } = options
  const peers = new WeakMap<Request, string | undefined>()
  let inProgress = 0
  let settings: Settings | undefined
  /** The Redis connection of `rateLimit.store`, kept across reloads that keep the URL. */
  let redis: { url: string; client: RedisLike } | undefined

  /** The buckets of `rate`: in this instance, or in its store behind the `onStoreDown` policy. */
  const bucketsOf = (rate: RateLimit, burst: number): TokenBuckets | RateStore => {
    const spec = { requests: rate.requests, per: rate.per, burst }
    if (!rate.store) {
      // In a fleet without a shared store, each instance takes its share.
      return options.members
        ? new LocalShare(spec, options.members, rate.maxClients)
        : new TokenBuckets({ ...spec, maxClients: rate.maxClients })
    }
    const url = new URL(rate.store)
    // Logged without credentials.
    const name = `${url.protocol}//${url.host}${url.pathname.length > 1 ? url.pathname : ''}`
    if (redis?.url !== rate.store) {
      redis?.client.close()
      redis = undefined
      if (deps.redis) {
        redis = { url: rate.store, client: deps.redis(rate.store, { timeout: 100 }) }
      } else {
        options.logger?.warn('rateLimit.store: this runtime has no Redis client', { store: name })
      }
    }
    const remote: RateStore = redis
      ? new RedisRateStore({ redis: redis.client, spec, timeout: 100 })
      : { take: () => Promise.reject(new Error('No Redis client')) }
    return new FallbackRateStore(remote, {
      spec,
      policy: rate.onStoreDown,
      members: options.members ?? (() => rate.members),
      maxClients: rate.maxClients,
      name,
      logger: options.logger,
    })
  }

  const current = (): Settings => {
    const config = options.config()
    if (settings?.config === config) return settings
    const rate = config.rateLimit?.enabled ? config.rateLimit : undefined
    if (!rate?.store && redis) {
      redis.client.close()
      redis = undefined
    }
    // The buckets survive a reload that leaves the rate limit as it was.
    const sameRate = JSON.stringify(settings?.config.rateLimit) === JSON.stringify(rate)
    const burst = rate ? burstOf(rate) : 0
    settings = {
      config,
      isTrustedProxy: createAddressMatcher(config.forwarding.trustedProxies),
      allowed: createAccessPolicy(config.access),
      buckets: sameRate && settings?.buckets ? settings.buckets : rate && bucketsOf(rate, burst),
      rateKey: rate && rateKeyHeader(rate),
      // RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers): the quota and its window.
      rateHeaders: rate ? { 'ratelimit-policy': rateLimitPolicy(rate) } : {},
      hsts: hstsValue(config),
    }
    return settings
  }

  const rateFields = (s: Settings, decision: RateDecision): Record<string, string> => ({
    ...s.rateHeaders,
    ...decisionFields(decision),
  })

  const refuse = (
    s: Settings,
    request: Request,
    head: { version: string } | undefined,
    rejection: Rejection,
    extra: Record<string, string> = {},
  ): Response => {
    const headers: Record<string, string> = { ...rejection.headers, ...extra }
    // HTTP/2 has no Connection field (RFC 9113 §8.2.2); closing is HTTP/1's (RFC 9112 §9.6).
    if (rejection.close && head?.version !== '2.0') headers.connection = 'close'
    if (s.hsts) headers['strict-transport-security'] = s.hsts
    const requestId = requestIdFrom(request.headers.get('x-request-id'))
    return errorResponse(rejection.status, rejection.error, requestId, headers)
  }

  /** The checks after the rate limit, which has decided (or is off). */
  const admit = (
    s: Settings,
    request: Request,
    head: RawRequestHead | undefined,
    peer: string | undefined,
    client: string | undefined,
    decision: RateDecision | undefined,
  ): Response | Screened => {
    // Most requests get no field from the edge: they share one empty record, never written to.
    const fields: Record<string, string> = decision
      ? rateFields(s, decision)
      : s.hsts
        ? {}
        : NO_FIELDS
    if (decision && !decision.allowed) {
      return refuse(
        s,
        request,
        head,
        { status: 429, error: 'Too many requests', close: false },
        { ...fields, 'retry-after': String(decision.retryAfter) },
      )
    }
    const rejection = validateRequest(request, head, s.config.limits)
    if (rejection) return refuse(s, request, head, rejection, fields)
    if (s.hsts) fields['strict-transport-security'] = s.hsts
    return { head, peer, client, fields }
  }

  /** Add the edge's fields to an answer from behind it. */
  const decorate = (response: Response, fields: Record<string, string>): Response => {
    try {
      for (const [name, value] of Object.entries(fields)) response.headers.set(name, value)
      return response
    } catch {
      // Immutable headers (a fetched Response): copy it.
      const copy = new Response(response.body, response)
      for (const [name, value] of Object.entries(fields)) copy.headers.set(name, value)
      return copy
    }
  }

  const edge: Edge = {
    get inProgress() {
      return inProgress
    },
    clientAddress(request, env) {
      return peers.has(request) ? peers.get(request) : deps.clientAddress(request, env)
    },
    screen(request, env) {
      const s = current()
      const { limits } = s.config
      const head = deps.rawHead?.(request, env)
      if (inProgress >= limits.maxConnections) {
        return refuse(s, request, head, {
          status: 503,
          error: 'Too many connections',
          close: true,
          headers: { 'retry-after': '1' },
        })
      }
      const peer = deps.clientAddress(request, env)
      const client = clientAddressOf(peer, request.headers, s.isTrustedProxy)
      if (s.allowed && !s.allowed(client)) {
        return refuse(s, request, head, { status: 403, error: 'Forbidden', close: false })
      }
      if (!s.buckets) return admit(s, request, head, peer, client, undefined)
      const decision = s.buckets.take(bucketKey(s.rateKey, request.headers, client))
      // A fleet-wide store answers later (and never rejects: FallbackRateStore).
      if (decision instanceof Promise) {
        return decision.then((d) => admit(s, request, head, peer, client, d))
      }
      return admit(s, request, head, peer, client, decision)
    },
    close() {
      redis?.client.close()
      redis = undefined
    },
    hold() {
      inProgress++
      let held = true
      return () => {
        if (held) inProgress--
        held = false
      }
    },
    handle(request, env, next) {
      const screened = edge.screen(request, env)
      if (screened instanceof Response) return screened
      if (screened instanceof Promise) {
        return screened.then((it) => (it instanceof Response ? it : pass(request, env, next, it)))
      }
      return pass(request, env, next, screened)
    },
  }

  /** Hand a request the edge let through to `next`, its body guarded. */
  const pass = (
    request: Request,
    env: unknown,
    next: NextHandler,
    screened: Screened,
  ): Response | Promise<Response> => {
    const s = current()
    const { limits } = s.config
    const { head, peer, fields } = screened

    // The body: cut off where it crosses the size limit (a declared length was checked above)
    // or misses the deadline. The runtime already answered `Expect: 100-continue` (RFC 9110
    // §10.1.1), so the expectation is not passed on.
    // GET and HEAD bodies are never forwarded (the app drops them).
    const body = isBodyless(request.method) ? null : request.body
    // Made only for a guarded body (most requests have none): nothing else aborts it.
    const cut =
      body !== null && (limits.maxBodySize > 0 || limits.bodyTimeout > 0)
        ? new AbortController()
        : undefined
    const guard = cut
      ? guardBody(body!, {
          maxBytes: limits.maxBodySize,
          deadline: limits.bodyTimeout,
          onTrip: () => cut.abort(),
          // A body that broke off: whatever carries it upstream must stop too.
          onError: () => cut.abort(),
        })
      : undefined
    let forwarded = request
    if (guard || request.headers.has('expect')) {
      const headers = new Headers(request.headers)
      headers.delete('expect')
      forwarded = new Request(request.url, {
        method: request.method,
        headers,
        body: guard ? guard.stream : body,
        signal: cut ? AbortSignal.any([request.signal, cut.signal]) : request.signal,
        ...(body ? { duplex: 'half' } : {}),
      } as RequestInit)
      peers.set(forwarded, peer)
    }

    // Most requests need nothing of the edge after their answer but the count (no body guard, no
    // fields to add, HTTP/1): they share a callback made once, not a closure over the request.
    const plain = !guard && !hasAny(fields) && head?.version !== '2.0'
    /** The answer from behind the edge, refused after all when its body crossed a limit. */
    const answered = plain
      ? answeredPlain
      : (response: Response): Response => {
          inProgress--
          if (guard?.tripped) {
            response.body?.cancel().catch(() => {})
            const size = guard.tripped === 'size'
            return refuse(s, request, head, {
              status: size ? 413 : 408,
              error: size ? 'Request body too large' : 'Request body timed out',
              close: true,
            })
          }
          // A body nobody started to read will not be read: stop its deadline. One being read
          // keeps it, so that a slow upload behind an early answer is still cut off.
          if (guard && !guard.started) guard.dispose()
          if (head?.version === '2.0') response = withoutConnectionFields(response)
          return hasAny(fields) ? decorate(response, fields) : response
        }
    inProgress++
    // No Promise of the edge's own: an answer from behind it in one is followed, one without
    // is decorated at once.
    let response: Response | Promise<Response>
    try {
      response = next(forwarded, env)
    } catch (error) {
      return Promise.reject(error).catch(failed)
    }
    return response instanceof Promise ? response.then(answered, failed) : answered(response)
  }
  /** A plain request's answer (see `pass`): one request fewer in progress. */
  const answeredPlain = (response: Response): Response => {
    inProgress--
    return response
  }
  /** No answer from behind the edge. */
  const failed = (error: unknown): never => {
    inProgress--
    throw error
  }
  return edge
}

/**
 * Whether `method` is GET or HEAD, in any case (a body is never forwarded for them). The exact
 * names, as clients send them, are told without a regular expression.
 */
function isBodyless(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || /^(GET|HEAD)$/i.test(method)
}

/** Whether `fields` has any field (without the array `Object.keys` makes, on every request). */
function hasAny(fields: Record<string, string>): boolean {
  for (const _ in fields) return true
  return false
}
