/**
 * A backend as the admin API shows it (`GET /backends`, `GET /pools`): its configuration, where
 * it came from, and one word for its state.
 */
import type { BackendPool, BackendState } from '../pool.ts'
import type { Lease } from './leases.ts'

/** Where a backend came from. */
export type BackendSource = 'config' | 'admin' | `dns:${string}` | `dns+srv:${string}`

/** A backend as `GET /backends` shows it. */
export interface BackendView {
  id: string
  url: string
  weight: number
  /** The weight strategies use now: 0 when it takes no new requests, less during slow start. */
  effectiveWeight: number
  backup: boolean
  source: BackendSource
  /** One word: `up`, `down`, `ejected`, `draining`, `disabled` (in that order of precedence, reversed). */
  state: 'up' | 'down' | 'ejected' | 'draining' | 'disabled'
  healthy: boolean
  enabled: boolean
  draining: boolean
  ejected: boolean
  /** The circuit breaker, where there is one. */
  circuit?: string
  /** Being removed: it drains, then goes. */
  removing: boolean
  inflight: number
  /** The peak-EWMA time to response headers, in ms. */
  ewmaMs: number
  utilisation?: number
  /** The last active probe; `output` is what an `exec` check printed (bounded). */
  lastProbe: { ok: boolean; at: string; reason?: string; output?: string } | null
  lease: { ttl: number; expiresAt: string } | null
}

/** What a view adds to the pool's state. */
export interface ViewContext {
  source: BackendSource
  removing: boolean
  lease: Lease | undefined
}

/** The view of one backend's state. */
export function viewOf(pool: BackendPool, state: BackendState, context: ViewContext): BackendView {
  const { backend } = state
  // Passive health, breakers and slow start add these to the state where they run.
  const extra = state as Partial<{ ejected: boolean; effectiveWeight: number; circuit: string }>
  const ejected = extra.ejected === true
  const available = state.healthy && state.enabled && !state.draining && !ejected
  const { lease } = context
  return {
    id: backend.id,
    url: backend.url,
    weight: backend.weight,
    effectiveWeight: available ? (extra.effectiveWeight ?? backend.weight) : 0,
    backup: backend.backup === true,
    source: context.source,
    state: !state.enabled
      ? 'disabled'
      : state.draining
        ? 'draining'
        : ejected
          ? 'ejected'
          : state.healthy
            ? 'up'
            : 'down',
    healthy: state.healthy,
    enabled: state.enabled,
    draining: state.draining,
    ejected,
    ...(extra.circuit === undefined ? {} : { circuit: extra.circuit }),
    removing: context.removing,
    inflight: state.inflight,
    ewmaMs: Math.round(pool.latency(backend) * 1000) / 1000,
    ...(state.utilisation === undefined ? {} : { utilisation: state.utilisation }),
    lastProbe: state.lastProbe
      ? {
          ok: state.lastProbe.ok,
          at: new Date(state.lastProbe.at).toISOString(),
          ...(state.lastProbe.reason ? { reason: state.lastProbe.reason } : {}),
          ...(state.lastProbe.output ? { output: state.lastProbe.output } : {}),
        }
      : null,
    lease: lease ? { ttl: lease.ttl, expiresAt: new Date(lease.expiresAt).toISOString() } : null,
  }
}
