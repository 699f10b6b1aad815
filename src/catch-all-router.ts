/**
 * A Hono router for apps whose every route takes every path (`app.all('*', …)`, as fulcrum's
 * public apps are: the route table decides inside the handler). Matching is then a lookup by
 * method, with no regular expression run on the path: Hono's default RegExpRouter runs its
 * pattern for `/*` on each request and builds the result array anew. Any other path is
 * refused with Hono's `UnsupportedPathError`, so that under {@link catchAllFirst}'s
 * SmartRouter a route with a real path falls back to Hono's own routers.
 */
import { METHOD_NAME_ALL, UnsupportedPathError, type Result, type Router } from 'hono/router'
import { RegExpRouter } from 'hono/router/reg-exp-router'
import { SmartRouter } from 'hono/router/smart-router'
import { TrieRouter } from 'hono/router/trie-router'

/** Routes that take every path, by method; the result of each method made once. */
export class CatchAllRouter<T> implements Router<T> {
  name = 'CatchAllRouter'
  /** The routes in the order added: their method (`ALL` for any) and handler. */
  readonly #routes: [method: string, handler: T][] = []
  /** The methods routes name (rather than `ALL`). */
  readonly #named = new Set<string>()
  /** The result for a method no route names: the `ALL` routes'. */
  #any: Result<T> | undefined
  /** The results of the methods routes name (a bounded set: a request's method never adds). */
  readonly #byMethod = new Map<string, Result<T>>()

  add(method: string, path: string, handler: T): void {
    if (path !== '/*' && path !== '*') throw new UnsupportedPathError()
    this.#routes.push([method, handler])
    if (method !== METHOD_NAME_ALL) this.#named.add(method)
    this.#any = undefined
    this.#byMethod.clear()
  }

  /** The routes `method` takes; every path is the same to them. */
  match(method: string, _path?: string): Result<T> {
    if (!this.#named.has(method)) return (this.#any ??= this.#resultFor(METHOD_NAME_ALL))
    let result = this.#byMethod.get(method)
    if (!result) this.#byMethod.set(method, (result = this.#resultFor(method)))
    return result
  }

  /** The routes `method` takes, in the order added, with no path parameters. */
  #resultFor(method: string): Result<T> {
    const handlers: [T, Record<string, string>][] = []
    for (const [m, handler] of this.#routes) {
      if (m === METHOD_NAME_ALL || m === method) handlers.push([handler, {}])
    }
    return [handlers]
  }
}

/**
 * Hono's default router (a SmartRouter over RegExpRouter and TrieRouter) with a
 * {@link CatchAllRouter} tried first: it stays when every route takes every path.
 *
 * @example
 * ```ts
 * const app = new Hono({ router: catchAllFirst() })
 * app.all('*', (c) => proxy(c.req.raw, c.env))
 * ```
 */
export function catchAllFirst<T>(): Router<T> {
  return new SmartRouter<T>({
    routers: [new CatchAllRouter<T>(), new RegExpRouter<T>(), new TrieRouter<T>()],
  })
}
