/**
 * The `routes` section of the config: ordered rules that send a request to a pool, or split it by
 * weight across several (a canary), as nginx `server_name` + `location`, HAProxy `use_backend`,
 * Envoy routes and Traefik routers do. `src/config.ts` composes it into the one config schema;
 * `src/routes/` compiles it.
 */
import * as z from 'zod'
import { primitiveSchemas, type PrimitiveSchemas } from './config-primitives.ts'
import { edgeSchemas, type EdgeSchemas } from './config-edge.ts'

/** The pool the flat config (top-level `backends`, `strategy`, …) describes. */
export const DEFAULT_POOL = 'default'

/** The route schemas, built anew from `primitives` and `edge`. */
export function routeSchemas(
  primitives: PrimitiveSchemas = primitiveSchemas(),
  edge: EdgeSchemas = edgeSchemas(primitives),
) {
  const { duration } = primitives
  const { RateLimitSchema } = edge

  /** A pool's name: what routes, the admin API and the metrics call it. */
  const PoolName = z
    .string()
    .regex(
      /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/,
      'Expected 1 to 64 characters of A-Z, a-z, 0-9, . _ -',
    )

  /** A field name (RFC 9110 §5.1: a token), lower-cased. */
  const fieldName = z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'Expected a header name (a token)')
    .transform((name) => name.toLowerCase())

  /** A field value (RFC 9110 §5.5): visible characters, spaces and tabs, no CR, LF or NUL. */
  const fieldValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'Expected a header value')

  /**
   * A host to match: `api.example.com`, or `*.example.com` for any name under it (one label or
   * more, as nginx's `*.example.com`). Compared case-insensitively, without the port.
   */
  const hostPattern = z
    .string()
    .regex(
      /^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/,
      'Expected a host name such as api.example.com or *.example.com',
    )
    .transform((host) => host.toLowerCase())

  /** A Hono path pattern: exact (`/health`), a prefix (`/v1/*`) or with parameters (`/users/:id`). */
  const pathPattern = z
    .string()
    .startsWith('/', 'Expected a path starting with /')
    .regex(/^[^\s?#]*$/, 'Expected a path without spaces, query or fragment')

  /** A request method (RFC 9110 §9: a token), upper-cased. */
  const method = z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'Expected a method such as GET')
    .transform((m) => m.toUpperCase())

  /** What a request must look like for a route to take it; every given condition must hold. */
  const RouteMatchSchema = z.strictObject({
    host: hostPattern.optional(),
    path: pathPattern.optional(),
    methods: z.array(method).min(1).optional(),
    /** A header name, mapped to the exact value required, or to `true` for "present". */
    headers: z.record(fieldName, z.union([fieldValue, z.literal(true)])).optional(),
  })

  /** Header edits on the way to the backend, or on the way back. `remove` runs before `set`. */
  const HeaderEditsSchema = z.strictObject({
    set: z.record(fieldName, fieldValue).default({}),
    remove: z.array(fieldName).default([]),
  })

  /** One pool of a weighted split. */
  const SplitSchema = z.strictObject({
    pool: PoolName,
    /** A share of the route's traffic, relative to the other pools' weights. */
    weight: z.number().int().min(0).max(1_000_000),
  })

  /** One route. */
  const RouteSchema = z
    .strictObject({
      /** What the admin API, the metrics, `/explain` and the access log call it. @default routeN */
      name: PoolName.optional(),
      /** The conditions; a route without them matches every request. */
      match: RouteMatchSchema.optional(),
      /** The pool that serves it… */
      pool: PoolName.optional(),
      /** …or a weighted split across pools (a canary). */
      pools: z.array(SplitSchema).min(1).optional(),
      /** Removed from the start of the path before forwarding (`/v1/users` → `/users`). */
      stripPrefix: pathPattern.optional(),
      requestHeaders: HeaderEditsSchema.optional(),
      responseHeaders: HeaderEditsSchema.optional(),
      /** gzip identity responses for clients that accept it. @default false */
      compress: z.boolean().default(false),
      /** Upstream timeouts for this route, over its pool's. */
      timeouts: z
        .strictObject({
          connect: duration.optional(),
          responseHeaders: duration.optional(),
          upstreamIdle: duration.refine((ms) => ms > 0, 'Expected a positive duration').optional(),
        })
        .optional(),
      /** Retries for this route, over its pool's. */
      retries: z
        .strictObject({
          attempts: z.number().int().min(1).max(10).optional(),
          statuses: z.array(z.number().int().min(500).max(599)).optional(),
        })
        .optional(),
      /** A per-client rate limit on this route alone, on top of the listener's. */
      rateLimit: RateLimitSchema.optional(),
    })
    .superRefine((route, ctx) => {
      if ((route.pool === undefined) === (route.pools === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['pool'], message: 'Give pool or pools, one of them' })
      }
      if (route.pools && route.pools.reduce((sum, split) => sum + split.weight, 0) === 0) {
        ctx.addIssue({ code: 'custom', path: ['pools'], message: 'The weights sum to 0' })
      }
      const seen = new Set<string>()
      route.pools?.forEach((split, index) => {
        if (seen.has(split.pool)) {
          ctx.addIssue({
            code: 'custom',
            path: ['pools', index, 'pool'],
            message: 'Pool listed twice',
          })
        }
        seen.add(split.pool)
      })
    })

  return { PoolName, RouteSchema, RouteMatchSchema, HeaderEditsSchema }
}

/** What {@link routeSchemas} builds. */
export type RouteSchemas = ReturnType<typeof routeSchemas>
/** A validated route, with its name filled in by the config. */
export type RouteConfig = Omit<z.output<RouteSchemas['RouteSchema']>, 'name'> & { name: string }
/** A route's conditions. */
export type RouteMatch = z.output<RouteSchemas['RouteMatchSchema']>
/** A route's header edits. */
export type HeaderEdits = z.output<RouteSchemas['HeaderEditsSchema']>
