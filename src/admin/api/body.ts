/**
 * Reading admin request bodies and preconditions: JSON only, size-limited, validated by the
 * config schema, and `If-Match` compared as RFC 9110 §13.1.1 says.
 */
import type { Context } from 'hono'
import type { z } from 'zod'
import { describeIssues } from '../../config.ts'
import { AdminError, invalid } from '../admin-error.ts'

/** Bodies larger than this are refused (413). */
const MAX_BODY = 1024 * 1024

/** Validate a body with a zod schema; a wrong field is a 400 naming its path. */
export function parse<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  const result = schema.safeParse(body)
  if (result.success) return result.data
  throw invalid(describeIssues(result.error.issues))
}

/**
 * The request's JSON body. Only `application/json` is accepted: a cross-site form cannot send it
 * without a CORS preflight, which this API never grants.
 *
 * @param optional an empty body is `{}`
 */
export async function readJson(c: Context, optional = false): Promise<unknown> {
  if (Number(c.req.header('content-length') ?? 0) > MAX_BODY) {
    throw new AdminError(413, `The body exceeds ${MAX_BODY} bytes`)
  }
  const text = await c.req.text()
  if (text.length > MAX_BODY) throw new AdminError(413, `The body exceeds ${MAX_BODY} bytes`)
  if (text.trim() === '' && optional) return {}
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new AdminError(415, 'Expected Content-Type: application/json')
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    throw new AdminError(400, `Invalid JSON: ${(error as Error).message}`)
  }
}

/** A `true`/`false` query flag (`?dryRun=true`, `?force=true`). @throws {AdminError} 400 */
export function flag(c: Context, name: string): boolean {
  const value = c.req.query(name)
  if (value !== undefined && value !== 'true' && value !== 'false') {
    throw new AdminError(400, `${name}: Expected true or false`)
  }
  return value === 'true'
}

/**
 * Check a write's precondition against the resource's current entity tag (RFC 9110 §13.1.1:
 * strong comparison, or `*`): 428 without `If-Match` (unless a dry run), 412 when stale.
 */
export function requireMatch(c: Context, etag: string, dryRun: boolean, what: string): void {
  const ifMatch = c.req.header('if-match')
  if (ifMatch === undefined) {
    if (dryRun) return
    throw new AdminError(428, `Send If-Match with the ETag of GET ${what} (or *)`)
  }
  const fresh = ifMatch
    .split(',')
    .map((tag) => tag.trim())
    .some((tag) => tag === '*' || tag === etag)
  if (!fresh) {
    c.header('etag', etag)
    throw new AdminError(412, `${what} changed since it was read: GET it again`)
  }
}
