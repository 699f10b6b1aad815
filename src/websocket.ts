/**
 * WebSocket proxying, the app's half: the handshake checks (RFC 6455 §4.2.1), the backend choice
 * (the same strategy, sticky cookie and health state as HTTP), the handshake fields for the
 * backend, and the registry of open WebSockets that drain and shutdown close with 1001. The
 * engine's tunnel (src/http1/upgrade.ts) relays the bytes on every runtime.
 */
import type { Edge } from './edge/edge.ts'
import { requestTarget } from './edge/validate.ts'
import { errorResponse } from './errors.ts'
import {
  createRequestPlanner,
  type RequestPlanner,
  type RequestPlannerOptions,
} from './request-plan.ts'
import type { Backend, Logger } from './types.ts'

/** A WebSocket handshake that passed the edge, with its backend chosen. */
export interface WebSocketRoute {
  readonly backend: Backend
  /** The backend's `ws:` or `wss:` URL, with the client's path and query. */
  readonly url: string
  /**
   * The fields for the backend's handshake: the client's end-to-end fields (Origin, Cookie,
   * Sec-WebSocket-Protocol, Sec-WebSocket-Extensions, …) and fulcrum's forwarding fields, without
   * hop-by-hop fields and without the client's Sec-WebSocket-Key and -Version.
   */
  readonly headers: Headers
  /** Every subprotocol the client offered, in its order of preference. */
  readonly protocols: string[]
  /** A sticky-session `Set-Cookie` for the 101 answer. */
  readonly setCookie: string | undefined
  readonly requestId: string
  /**
   * The WebSocket is open: it counts until {@link end}, and drain or shutdown may close it
   * through `close`.
   */
  opened(close: (code: number, reason: string) => void): void
  /** The WebSocket ended, or never opened: the backend's slot is given back. Idempotent. */
  end(outcome?: 'success' | 'connect' | 'reset'): void
}

/** What the router needs from the balancer: what the HTTP path plans requests with, and the edge. */
export interface WebSocketRouterOptions extends RequestPlannerOptions {
  edge: Edge
  logger?: Logger
}

/** A request that asks for a WebSocket (RFC 6455 §4.1): `Upgrade: websocket` on a GET. */
export function isWebSocketUpgrade(request: Request): boolean {
  const upgrade = request.headers.get('upgrade')
  return (
    upgrade !== null &&
    upgrade.split(',').some((token) => token.trim().toLowerCase() === 'websocket') &&
    request.method === 'GET'
  )
}

const KEY = /^[A-Za-z0-9+/]{22}==$/
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/

/** The subprotocols a client offered, each a token (RFC 6455 §4.1 point 10). */
export function offeredProtocols(headers: Headers): string[] | undefined {
  const value = headers.get('sec-websocket-protocol')
  if (value === null) return []
  const protocols = value.split(',').map((p) => p.trim())
  return protocols.every((p) => TOKEN.test(p)) ? protocols : undefined
}

/**
 * A close code fit to send on (RFC 6455 §7.4.1, IANA registry): codes a peer may not put in a
 * Close frame (1005, 1006, 1015) and unknown ones become `fallback`; `undefined` means "close
 * without a code" (the peer sent none).
 */
export function relayableCloseCode(code: number | undefined, fallback: number): number | undefined {
  if (code === undefined || code === 1005) return undefined
  if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)) return code
  if (code >= 3000 && code <= 4999) return code
  return fallback
}

/** What the public listener asks of WebSockets: a route for each handshake, and shutdown. */
export interface WebSocketRouting {
  /** Open WebSockets. */
  readonly size: number
  /** Check a handshake and choose its backend: the route, or the answer for the client. */
  open(request: Request, env: unknown): Promise<WebSocketRoute | Response>
  /** Close every open WebSocket (shutdown). Returns how many there were. */
  closeAll(code: number, reason: string): number
}

interface Tracked {
  readonly backendId: string
  readonly close: (code: number, reason: string) => void
}

/**
 * Routes WebSocket handshakes and keeps the open WebSockets: drain closes a backend's after
 * the shutdown grace period, removal closes them at once, and {@link closeAll} serves shutdown.
 */
export class WebSocketRouter implements WebSocketRouting {
  readonly #options: WebSocketRouterOptions
  readonly #open = new Set<Tracked>()
  readonly #planner: RequestPlanner

  constructor(options: WebSocketRouterOptions) {
    this.#options = options
    this.#planner = createRequestPlanner(options)
    options.pool.watchTransitions((transition) => {
      if (transition.to === 'removed') {
        this.closeBackend(transition.id, 1001, 'Backend removed')
      } else if (transition.to === 'draining') {
        const grace = options.config().shutdownGrace
        setTimeout(() => {
          if (options.pool.get(transition.id)?.draining) {
            this.closeBackend(transition.id, 1001, 'Backend draining')
          }
        }, grace)
      }
    })
  }

  /** Open WebSockets. */
  get size(): number {
    return this.#open.size
  }

  /** Close every open WebSocket (shutdown). Returns how many there were. */
  closeAll(code: number, reason: string): number {
    const all = [...this.#open]
    for (const tracked of all) tracked.close(code, reason)
    return all.length
  }

  /** Close the WebSockets relayed to one backend. */
  closeBackend(backendId: string, code: number, reason: string): number {
    let closed = 0
    for (const tracked of [...this.#open]) {
      if (tracked.backendId !== backendId) continue
      tracked.close(code, reason)
      closed++
    }
    return closed
  }

  /**
   * Check a WebSocket handshake at the edge, and choose its backend.
   *
   * @returns the route, or the answer for the client (a refusal, 400/426, 503)
   */
  async open(request: Request, env: unknown): Promise<WebSocketRoute | Response> {
    const { edge, pool } = this.#options
    const screened = await edge.screen(request, env)
    if (screened instanceof Response) return screened
    let target = requestTarget(request, screened.head)
    if (!target.startsWith('/')) {
      const url = new URL(request.url)
      target = url.pathname + url.search
    }
    // The request id, the client, the fields for the backend and the sticky session, as on the
    // HTTP path.
    const plan = await this.#planner.plan(request, target, screened.peer)
    const { requestId } = plan
    const headers = request.headers
    // RFC 6455 §4.2.2: a version the server does not speak is answered 426 with the ones it does.
    if (headers.get('sec-websocket-version') !== '13') {
      return errorResponse(426, 'Unsupported WebSocket version', requestId, {
        'sec-websocket-version': '13',
        ...screened.fields,
      })
    }
    const protocols = offeredProtocols(headers)
    if (!KEY.test(headers.get('sec-websocket-key') ?? '') || protocols === undefined) {
      return errorResponse(400, 'Invalid WebSocket handshake', requestId, screened.fields)
    }

    // The backend's handshake gets its own key and version (RFC 6455 §4.1).
    const forward = plan.headers
    forward.delete('sec-websocket-key')
    forward.delete('sec-websocket-version')
    forward.delete('sec-websocket-accept')

    let backend: Backend | undefined
    for (const candidate of plan.candidates()) {
      if (pool.tryAcquire(candidate) === 'ok') {
        backend = candidate
        break
      }
    }
    if (!backend) {
      return errorResponse(503, 'No backend available', requestId, {
        'retry-after': '1',
        ...screened.fields,
      })
    }
    const setCookie = await plan.sessionCookie(backend)

    const chosen = backend
    const release = edge.hold()
    let tracked: Tracked | undefined
    let ended = false
    return {
      backend: chosen,
      url: chosen.url.replace(/^http/, 'ws') + target,
      headers: forward,
      protocols,
      setCookie,
      requestId,
      opened: (close) => {
        if (ended) return
        tracked = { backendId: chosen.id, close }
        this.#open.add(tracked)
      },
      end: (outcome = 'success') => {
        if (ended) return
        ended = true
        if (tracked) this.#open.delete(tracked)
        release()
        pool.release(chosen)
        pool.recordOutcome(
          chosen,
          outcome === 'connect' ? 'connect' : outcome === 'reset' ? 'reset' : 'success',
        )
      },
    }
  }
}
