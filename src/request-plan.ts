/**
 * The one request path shared by HTTP and WebSocket, up to the pick: the request id, the client's
 * address, the header fields for the backend, the hash keys, the sticky session and the order in
 * which backends are tried. The HTTP app and the WebSocket router each take it from here, so
 * that the two never drift apart.
 */
import type { Config } from './config.ts'
import { clientAddressOf } from './edge/client-address.ts'
import { forwardedFields } from './headers.ts'
import { createAddressMatcher } from './net.ts'
import type { StickyVerdict } from './request-record.ts'
import { createPickInput } from './pick-input.ts'
import { requestIdFrom } from './request-id.ts'
import type { BackendPool } from './pool.ts'
import type { PickInput, Selector } from './strategies/strategy.ts'
import { pinnedFirst, type StickyPin, type StickySessions } from './sticky.ts'
import type { Backend } from './types.ts'

/** What the planner reads per request; getters, so that a reload or a new strategy takes effect. */
export interface RequestPlannerOptions {
  config: () => Config
  pool: BackendPool
  selector: () => Selector
  sticky: () => StickySessions | undefined
}

/** What one request needs before, and right after, a backend is picked. */
export interface RequestPlan {
  /** The client's `X-Request-Id` when sane, else a fresh UUID. */
  readonly requestId: string
  /** The connection's peer address. */
  readonly peer: string | undefined
  /** The client's address: the peer, or the one a trusted proxy forwarded (as the edge sees it). */
  readonly client: string | undefined
  /** Whether the peer is a trusted proxy, whose forwarding fields are kept and appended to. */
  readonly trusted: boolean
  /** The Host the client asked for. */
  readonly host: string | undefined
  /**
   * The fields for the backend: the client's end-to-end fields (RFC 9110 §7.6.1) and fulcrum's
   * forwarding fields; without Host unless `forwarding.preserveHost`.
   */
  readonly headers: Headers
  /** The hash keys, computed when a strategy asks for them. */
  readonly input: PickInput
  /** The sticky layer in force when the request came, if any. */
  readonly sticky: StickySessions | undefined
  /** The verified `lb_sid`; a forged, expired or unknown one counts as none. */
  readonly pin: StickyPin | undefined
  /** The backend the cookie pins, when it may still serve it (up and enabled; draining is fine). */
  readonly pinned: Backend | undefined
  /**
   * The backends to try, in order: the pinned one first, then the strategy's choice and its
   * fallbacks (each once). Computed afresh on each call, from the selector in force.
   */
  candidates(): Iterable<Backend>
  /**
   * The `Set-Cookie` for an answer from `backend`: a new pin when the request landed elsewhere,
   * a renewed one when the cookie ages; `undefined` when none is due or sticky sessions are off.
   */
  sessionCookie(backend: Backend): Promise<string> | undefined
  /** The sticky layer's verdict on an answer from `backend` (none when nothing answered). */
  stickyVerdict(backend: Backend | undefined): StickyVerdict
}

/** What the planner derives from one config: rebuilt when the config object is replaced. */
interface Settings {
  readonly config: Config
  readonly proto: 'http' | 'https'
  readonly via: string
  readonly preserveHost: boolean
  readonly isTrustedProxy: (address: string | undefined) => boolean
}

/** Plans requests; one per app (HTTP) or router (WebSocket). */
export interface RequestPlanner {
  /**
   * Plan one request. Synchronous unless a sticky cookie has to be verified, so that a request
   * without one pays no promise for it.
   *
   * @param target the raw path and query, for the hash keys
   * @param peer the connection's peer address
   */
  plan(
    request: Request,
    target: string,
    peer: string | undefined,
  ): RequestPlan | Promise<RequestPlan>
}

/**
 * Build the planner that the HTTP app and the WebSocket router share.
 *
 * @example
 * ```ts
 * const planner = createRequestPlanner({ config: () => ctx.config, pool, selector, sticky })
 * const plan = await planner.plan(request, '/cart?id=7', '192.0.2.1')
 * for (const backend of plan.candidates()) if (pool.tryAcquire(backend) === 'ok') break
 * ```
 */
export function createRequestPlanner(options: RequestPlannerOptions): RequestPlanner {
  let settings: Settings | undefined
  const current = (): Settings => {
    const config = options.config()
    if (settings?.config === config) return settings
    settings = {
      config,
      proto: config.tls.enabled ? 'https' : 'http',
      via: config.forwarding.via,
      preserveHost: config.forwarding.preserveHost,
      isTrustedProxy: createAddressMatcher(config.forwarding.trustedProxies),
    }
    return settings
  }
  return {
    plan(request, target, peer) {
      const s = current()
      const fields = request.headers
      const requestId = requestIdFrom(fields.get('x-request-id'))
      const trusted = s.isTrustedProxy(peer)
      // The edge's rule (X-Forwarded-For, else RFC 7239 `Forwarded`, walked as nginx's
      // `real_ip_recursive`), so that hashing, the access log, the access lists and the rate
      // limit all see one client.
      const client = trusted ? clientAddressOf(peer, fields, s.isTrustedProxy) : peer
      const host = fields.get('host') ?? undefined
      // The one copy of the client's fields, edited in place from here on; stripped first, so
      // that a client can't use `Connection` to strip fulcrum's own fields.
      const headers = forwardedFields(
        fields,
        { clientIp: peer, proto: s.proto, host, trusted, via: s.via, requestId },
        s.preserveHost,
      )
      const input = createPickInput(request, target, client)
      const sticky = options.sticky()
      const plan = new Plan(
        options,
        s.proto === 'https',
        requestId,
        peer,
        client,
        trusted,
        host,
        headers,
        input,
        sticky,
      )
      if (!sticky) return plan
      // Sticky sessions (DESIGN): a valid lb_sid puts its backend first, even while it drains.
      const value = input.cookie(sticky.cookie)
      return value === undefined ? plan : sticky.verify(value).then((pin) => plan.pinTo(pin))
    },
  }
}

class Plan implements RequestPlan {
  pin: StickyPin | undefined = undefined
  pinned: Backend | undefined = undefined

  constructor(
    private readonly options: RequestPlannerOptions,
    private readonly secure: boolean,
    readonly requestId: string,
    readonly peer: string | undefined,
    readonly client: string | undefined,
    readonly trusted: boolean,
    readonly host: string | undefined,
    readonly headers: Headers,
    readonly input: PickInput,
    readonly sticky: StickySessions | undefined,
  ) {}

  /** Take the verdict on the request's cookie. */
  pinTo(pin: StickyPin | undefined): this {
    this.pin = pin
    this.pinned = pin && this.options.pool.sessionTarget(pin.backendId)
    return this
  }

  candidates(): Iterable<Backend> {
    const { pool, selector } = this.options
    const base = selector().candidates(this.input, pool)
    return this.pinned ? pinnedFirst(this.pinned, base) : base
  }

  sessionCookie(backend: Backend): Promise<string> | undefined {
    const sticky = this.sticky
    // Pin (again) when the request landed elsewhere, and renew an ageing cookie.
    if (!sticky || (backend.id === this.pinned?.id && !sticky.shouldRenew(this.pin!))) return
    return sticky.issue(backend.id).then((issued) => sticky.setCookie(issued, this.secure))
  }

  stickyVerdict(backend: Backend | undefined): StickyVerdict {
    if (!this.sticky) return 'none'
    if (!backend || !this.pinned) return 'new'
    return backend.id === this.pinned.id ? 'hit' : 'moved'
  }
}
