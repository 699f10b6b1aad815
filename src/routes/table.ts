/**
 * The route table: the config's routes keyed on host first, then path, so that finding the route
 * costs about the same with one route or a thousand. The host is a map lookup: the exact name,
 * then each `*.suffix` the name falls under (one lookup a dot), then the routes for any host.
 * Each host key holds Hono's TrieRouter over its routes' paths. Methods and header conditions are
 * checked on the few routes whose host and path matched; the first route in config order whose
 * conditions all hold wins.
 *
 * Not one Hono router over `/host/path`: its RegExpRouter returns a capture array as long as the
 * table (one empty group a route) and tries the alternatives one by one, and a wildcard host is a
 * regex parameter that both routers test route by route, so a match cost grew with the table
 * (`npm run bench:routes`: 13x at 1,000 hosts or paths, 1,000x at 1,000 wildcard hosts).
 */
import { METHOD_NAME_ALL, type Router } from 'hono/router'
import { getPath } from 'hono/utils/url'
import { TrieRouter } from 'hono/router/trie-router'
import type { RouteConfig } from '../config-routes.ts'
import { burstOf, TokenBuckets } from '../edge/rate-limit.ts'
import { headersMatch, hostMatches, hostOf, methodMatches } from './match.ts'
import { WeightedSplit, type SplitShare } from './split.ts'

/** One compiled route. */
export class Route {
  /** The split's state, for a route with `pools`. */
  readonly split: WeightedSplit | undefined
  /** The route's own rate-limit buckets, for a route with `rateLimit`. */
  readonly buckets: TokenBuckets | undefined

  constructor(
    /** Its position in the table: 0 is tried first. */
    readonly index: number,
    readonly config: RouteConfig,
    previous?: Route,
  ) {
    this.split = config.pools && new WeightedSplit(config.pools)
    const rate = config.rateLimit?.enabled ? config.rateLimit : undefined
    // The buckets survive a change that leaves the route's limit as it was.
    this.buckets =
      previous?.buckets && JSON.stringify(previous.config.rateLimit) === JSON.stringify(rate)
        ? previous.buckets
        : rate &&
          new TokenBuckets({
            requests: rate.requests,
            per: rate.per,
            burst: burstOf(rate),
            maxClients: rate.maxClients,
          })
  }

  get name(): string {
    return this.config.name
  }

  /** The pool for the next request: the route's pool, or the split's pick. */
  pool(): string {
    return this.split ? this.split.next() : this.config.pool!
  }

  /** Every pool the route may send to. */
  pools(): string[] {
    return this.split ? this.split.shares.map((share) => share.pool) : [this.config.pool!]
  }

  /** Change a split's weights at run time. */
  setWeights(shares: readonly SplitShare[]): void {
    this.split?.setWeights(shares)
  }
}

/** Why a route did not take a request, for `/explain`. */
export interface RouteVerdict {
  readonly route: string
  readonly matched: boolean
  /** The first condition that failed: `host`, `path`, `method` or `headers`. */
  readonly failed?: 'host' | 'path' | 'method' | 'headers'
}

/**
 * The routes in force, compiled once per change.
 *
 * @example
 * ```ts
 * const table = new RouteTable(config.routes)
 * const route = table.match(request) // undefined: answer 404
 * ```
 */
export class RouteTable {
  readonly routes: readonly Route[]
  readonly #byName: Map<string, Route>
  /** The routes by exact host. */
  readonly #hosts = new Map<string, HostRoutes>()
  /** The routes by wildcard suffix: `*.example.com` is `.example.com`. */
  readonly #suffixes = new Map<string, HostRoutes>()
  /** The routes without a host. */
  readonly #anyHost = new HostRoutes()
  /** The whole table is one catch-all route: nothing to look up. */
  readonly #only: Route | undefined

  /** @param previous the table this one replaces: unchanged routes keep their rate buckets */
  constructor(routes: readonly RouteConfig[], previous?: RouteTable) {
    this.routes = routes.map((config, index) => {
      const before = previous?.get(config.name)
      return new Route(index, config, before)
    })
    this.#byName = new Map(this.routes.map((route) => [route.name, route]))
    for (const route of this.routes) {
      const host = route.config.match?.host
      if (host === undefined) this.#anyHost.add(route)
      else if (host.startsWith('*.')) routesOf(this.#suffixes, host.slice(1)).add(route)
      else routesOf(this.#hosts, host).add(route)
    }
    const first = this.routes[0]
    this.#only = this.routes.length === 1 && first!.config.match === undefined ? first : undefined
  }

  /** The route named `name`. */
  get(name: string): Route | undefined {
    return this.#byName.get(name)
  }

  /** The first route that takes `request`, or `undefined` (404). */
  match(request: Request): Route | undefined {
    if (this.#only) return this.#only
    const host = hostOf(request.url)
    const path = getPath(request)
    let best = this.#hosts.get(host)?.first(request, path, undefined)
    if (this.#suffixes.size > 0) {
      // `*.example.com` takes one label or more before `.example.com`: every dot but a first one.
      for (let dot = host.indexOf('.', 1); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        best = this.#suffixes.get(host.slice(dot))?.first(request, path, best) ?? best
      }
    }
    return this.#anyHost.first(request, path, best)
  }

  /**
   * Each route in order up to the one that takes `request`, with the first condition that
   * failed on those that did not.
   */
  explain(request: Request): RouteVerdict[] {
    const host = hostOf(request.url)
    const chosen = this.match(request)
    const verdicts: RouteVerdict[] = []
    for (const route of this.routes) {
      if (route === chosen) {
        verdicts.push({ route: route.name, matched: true })
        break
      }
      const match = route.config.match
      const failed = !hostMatches(match?.host, host)
        ? 'host'
        : !pathMatches(route, request)
          ? 'path'
          : !methodMatches(match?.methods, request.method)
            ? 'method'
            : 'headers'
      verdicts.push({ route: route.name, matched: false, failed })
    }
    return verdicts
  }
}

/**
 * The routes of one host key, in config order: those that take every path, and Hono's TrieRouter
 * over the paths of the others.
 */
class HostRoutes {
  readonly #everyPath: Route[] = []
  #byPath: Router<Route> | undefined

  add(route: Route): void {
    const path = route.config.match?.path
    if (path === undefined || path === '/*') this.#everyPath.push(route)
    else (this.#byPath ??= new TrieRouter()).add(METHOD_NAME_ALL, path, route)
  }

  /**
   * The first route in config order among `best` and these routes that take the request: path,
   * then method and headers.
   */
  first(request: Request, path: string, best: Route | undefined): Route | undefined {
    for (const route of this.#everyPath) {
      if (best && route.index > best.index) break
      if (takes(route, request)) {
        best = route
        break
      }
    }
    if (this.#byPath === undefined) return best
    const [handlers] = this.#byPath.match(request.method, path)
    for (const [route] of handlers) {
      if ((!best || route.index < best.index) && takes(route, request)) best = route
    }
    return best
  }
}

/** The routes under `key`, made on first use. */
function routesOf(routes: Map<string, HostRoutes>, key: string): HostRoutes {
  let found = routes.get(key)
  if (!found) routes.set(key, (found = new HostRoutes()))
  return found
}

/** Whether a route whose host and path took the request takes its method and headers. */
function takes(route: Route, request: Request): boolean {
  const match = route.config.match
  return (
    methodMatches(match?.methods, request.method) && headersMatch(match?.headers, request.headers)
  )
}

/** Whether a route's path pattern alone takes the request (its host taken as matched). */
function pathMatches(route: Route, request: Request): boolean {
  const path = route.config.match?.path
  if (path === undefined) return true
  const router = new TrieRouter<true>()
  router.add(METHOD_NAME_ALL, path, true)
  return router.match(METHOD_NAME_ALL, getPath(request))[0].length > 0
}
