/**
 * Shadowed routes: a route that can never match, because an earlier one takes every request it
 * would. The check is conservative: it reports only what it can prove, so a config it lets
 * through may still hold a route that some exotic pattern hides. The config schema
 * (src/config.ts) refuses a config with a shadowed route.
 */
import type { RouteMatch } from './config-routes.ts'

/** Whether every host `inner` matches is matched by `outer`. */
function hostCovers(outer: string | undefined, inner: string | undefined): boolean {
  if (outer === undefined) return true
  if (inner === undefined) return false
  if (!outer.startsWith('*.')) return outer === inner
  // `*.example.com` covers `a.example.com` and `*.a.example.com` (and itself), not `example.com`.
  const suffix = outer.slice(1)
  if (inner.startsWith('*.')) return inner.slice(1).endsWith(suffix)
  return inner.endsWith(suffix) && inner.length > suffix.length
}

/** Whether every path `inner` matches is matched by `outer` (Hono patterns). */
function pathCovers(outer: string | undefined, inner: string | undefined): boolean {
  if (outer === undefined || outer === '/*' || outer === '*') return true
  if (inner === undefined) return false
  if (outer === inner) return true
  // `/x/*` matches `/x` and everything under `/x/`; parameters and regexes are not reasoned about.
  if (!outer.endsWith('/*') || /[:*{]/.test(outer.slice(0, -2))) return false
  const base = outer.slice(0, -2)
  // `/x*` or `/x:y` also take `/xy`: only `/x` itself or a pattern under `/x/` is covered.
  return inner === base || inner.startsWith(base + '/')
}

/** Whether every method `inner` allows is allowed by `outer`. */
function methodsCover(outer: readonly string[] | undefined, inner: readonly string[] | undefined) {
  if (outer === undefined) return true
  return inner !== undefined && inner.every((m) => outer.includes(m))
}

/** Whether every request meeting `inner`'s header conditions meets `outer`'s. */
function headersCover(outer: RouteMatch['headers'], inner: RouteMatch['headers']): boolean {
  for (const name in outer ?? {}) {
    const want = outer![name]
    const has = inner?.[name]
    if (has === undefined || (want !== true && has !== want)) return false
  }
  return true
}

/**
 * Whether `earlier` takes every request `later` would match, so that `later` never matches.
 *
 * @example
 * ```ts
 * covers({ path: '/api/*' }, { path: '/api/users' }) // true
 * covers({ path: '/api/*' }, { host: 'a.example.com', path: '/' }) // false
 * ```
 */
export function covers(earlier: RouteMatch | undefined, later: RouteMatch | undefined): boolean {
  return (
    hostCovers(earlier?.host, later?.host) &&
    pathCovers(earlier?.path, later?.path) &&
    methodsCover(earlier?.methods, later?.methods) &&
    headersCover(earlier?.headers, later?.headers)
  )
}

/** For each route an earlier one shadows: its index and the first index that shadows it. */
export function findShadowed(
  matches: readonly (RouteMatch | undefined)[],
): { index: number; by: number }[] {
  const shadowed: { index: number; by: number }[] = []
  matches.forEach((later, index) => {
    const by = matches.findIndex((earlier, at) => at < index && covers(earlier, later))
    if (by !== -1) shadowed.push({ index, by })
  })
  return shadowed
}
