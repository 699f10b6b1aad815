/**
 * Where the admin API's writes go: the local control plane (one instance), or etcd (a fleet, see
 * src/admin/cluster/fleet.ts). Both answer with strong ETags (RFC 9110 §8.8.3) on every resource
 * a client can change (a backend, a pool's strategy, the routes), and both refuse a write whose
 * `If-Match` is stale with 412, so that read-modify-write clients never lose an update.
 */
import type { Fleet } from '../cluster/fleet.ts'
import type { Config, RegisterBackend, StrategyName, StrategyOptions } from '../../config.ts'
import { fnv1a64Hex } from '../../hash.ts'
import { AdminError } from '../admin-error.ts'
import type { BackendView } from '../backend-view.ts'
import { canonicalJson, type ControlPlane } from '../control.ts'

/** The admin API's writes. */
export interface AdminStore {
  /** A backend's ETag, or `undefined` when there is no such backend. */
  backendTag(pool: string, id: string): string | undefined
  /** A pool's ETag (its strategy, the part a client changes). */
  poolTag(pool: string): string
  /** The routes' ETag. */
  routesTag(): string
  register(
    pool: string,
    input: RegisterBackend,
  ): Promise<{ created: boolean; backend: BackendView }>
  patch(
    pool: string,
    id: string,
    patch: { weight?: number; enabled?: boolean; draining?: boolean },
    ifMatch?: string,
  ): Promise<BackendView>
  remove(
    pool: string,
    id: string,
    force: boolean,
    ifMatch?: string,
  ): Promise<'removed' | 'draining'>
  heartbeat(pool: string, id: string): Promise<{ ttl: number; expiresAt: string }>
  setStrategy(
    pool: string,
    strategy: StrategyName,
    options: StrategyOptions | undefined,
    ifMatch?: string,
  ): Promise<void>
  setRoutes(routes: unknown[], dryRun: boolean, ifMatch?: string): Promise<Config['routes']>
  patchRoute(name: string, patch: unknown, ifMatch?: string): Promise<Config['routes'][number]>
}

/** A strong ETag over a value's canonical JSON. */
const tagOf = (value: unknown) => `"${fnv1a64Hex(canonicalJson(value))}"`

/** Whether `ifMatch` (absent, `*`, or a list) admits `etag`. */
function admits(ifMatch: string | undefined, etag: string | undefined): boolean {
  if (ifMatch === undefined) return true
  const tags = ifMatch.split(',').map((tag) => tag.trim())
  return tags.includes('*') ? etag !== undefined : etag !== undefined && tags.includes(etag)
}

function stale(what: string): never {
  throw new AdminError(412, `${what} changed since it was read: GET it again`)
}

/** The writes of a single instance: the control plane, with content ETags. */
export function localStore(control: ControlPlane): AdminStore {
  const backendTag = (pool: string, id: string) => {
    const view = control.members(pool).backend(id)
    if (!view) return undefined
    const { url, weight, backup, enabled, draining, lease } = view
    return tagOf({ url, weight, backup, enabled, draining, ttl: lease?.ttl ?? null })
  }
  const poolTag = (pool: string) => {
    const view = control.pool(pool)
    if (!view) throw new AdminError(404, `No pool ${pool}`)
    return tagOf({ strategy: view.strategy, options: control.strategyOptions(pool) })
  }
  const check = (ifMatch: string | undefined, tag: string | undefined, what: string) => {
    if (!admits(ifMatch, tag)) stale(what)
  }
  return {
    backendTag,
    poolTag,
    routesTag: () => control.routesEtag(),
    register: async (pool, input) => control.members(pool).register(input),
    patch: async (pool, id, patch, ifMatch) => {
      const members = control.members(pool)
      if (!members.backend(id)) throw new AdminError(404, `No backend ${id}`)
      check(ifMatch, backendTag(pool, id), 'The backend')
      return members.patch(id, patch)
    },
    remove: async (pool, id, force, ifMatch) => {
      const members = control.members(pool)
      if (!members.backend(id)) throw new AdminError(404, `No backend ${id}`)
      check(ifMatch, backendTag(pool, id), 'The backend')
      return members.remove(id, force)
    },
    heartbeat: async (pool, id) => control.members(pool).heartbeat(id),
    setStrategy: async (pool, strategy, options, ifMatch) => {
      check(ifMatch, poolTag(pool), 'The pool')
      control.setStrategy(strategy, options, pool)
    },
    setRoutes: async (routes, dryRun, ifMatch) => {
      check(ifMatch, control.routesEtag(), 'The routes')
      return control.replaceRoutes(routes, dryRun)
    },
    patchRoute: async (name, patch, ifMatch) => {
      check(ifMatch, control.routesEtag(), 'The routes')
      return control.patchRoute(name, patch)
    },
  }
}

/** The writes of a fleet member: etcd, with revision ETags. */
export function fleetStore(fleet: Fleet, control: ControlPlane): AdminStore {
  return {
    backendTag: (pool, id) => fleet.backendTag(pool, id),
    poolTag: (pool) => fleet.poolTag(pool),
    routesTag: () => fleet.routesTag(),
    register: (pool, input) => fleet.register(pool, input),
    patch: (pool, id, patch, ifMatch) => fleet.patch(pool, id, patch, ifMatch),
    remove: async (pool, id, _force, ifMatch) => {
      await fleet.remove(pool, id, ifMatch)
      return control.members(pool).backend(id) ? 'draining' : 'removed'
    },
    heartbeat: (pool, id) => fleet.heartbeat(pool, id),
    setStrategy: (pool, strategy, options, ifMatch) =>
      fleet.setStrategy(pool, strategy, options, ifMatch),
    setRoutes: async (routes, dryRun, ifMatch) => {
      if (dryRun) return control.replaceRoutes(routes, true)
      return fleet.setRoutes(routes, ifMatch)
    },
    patchRoute: async (name, patch, ifMatch) => {
      // A read-modify-write of the route list: compared against what was read, and read again
      // when someone else wrote meanwhile (unless the client named its own If-Match).
      for (let attempt = 0; ; attempt++) {
        try {
          await fleet.setRoutes(control.patchedRoutes(name, patch), ifMatch ?? fleet.routesTag())
          return control.routes().find((route) => route.name === name)!
        } catch (error) {
          const retry = ifMatch === undefined && attempt < 5
          if (!(error instanceof AdminError && error.status === 412 && retry)) throw error
          await new Promise((resolve) => setTimeout(resolve, 20 * (attempt + 1)))
        }
      }
    },
  }
}
