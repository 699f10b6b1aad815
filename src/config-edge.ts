/**
 * The config sections of the edge (src/edge/): client limits, rate limiting, access control, and
 * the hardened-TLS fields. `src/config.ts` composes them into the one config schema, and
 * `src/config-routes.ts` gives a route its own rate limit.
 */
import * as z from 'zod'
import { primitiveSchemas, type PrimitiveSchemas } from './config-primitives.ts'

/** Defaults of the `limits` section ({@link edgeSchemas}). */
export const DEFAULT_LIMITS = {
  maxHeaderBytes: 16_384,
  maxHeaderCount: 100,
  maxUriLength: 8192,
  maxBodySize: 100 * 1_048_576,
  bodyTimeout: 300_000,
  maxConnections: 10_000,
} as const

/** The edge's config sections, built anew from `primitives`. */
export function edgeSchemas(primitives: PrimitiveSchemas = primitiveSchemas()) {
  const { byteSize, cidr, duration } = primitives

  /**
   * What a client may send. Every runtime's own parser enforces some of these first (see the
   * README's Security section); fulcrum enforces all of them, the same way on every runtime.
   */
  const LimitsSchema = z.strictObject({
    /**
     * The request line and header fields together, in bytes; beyond, 431 (RFC 6585 §5).
     * @default 16 KiB (Node's `--max-http-header-size`, HAProxy's `tune.bufsize`)
     */
    maxHeaderBytes: byteSize
      .refine((n) => n >= 1024 && n <= 1_048_576, 'Expected 1k to 1MiB')
      .default(DEFAULT_LIMITS.maxHeaderBytes),
    /** Header fields at most; beyond, 431. @default 100 (Apache `LimitRequestFields`, hyper) */
    maxHeaderCount: z.number().int().min(8).max(10_000).default(DEFAULT_LIMITS.maxHeaderCount),
    /**
     * The request target's length in bytes; beyond, 414 (RFC 9110 §15.5.15).
     * @default 8 KiB (nginx `large_client_header_buffers`, Apache `LimitRequestLine` 8190)
     */
    maxUriLength: byteSize
      .refine((n) => n >= 256 && n <= 1_048_576, 'Expected 256 to 1MiB')
      .default(DEFAULT_LIMITS.maxUriLength),
    /**
     * Request body bytes at most; beyond, 413 (RFC 9110 §15.5.14): before anything is sent
     * upstream when Content-Length says so, else the upstream request is cut off where the body
     * crosses the limit. 0 turns the limit off. @default 100 MiB (nginx `client_max_body_size`
     * is 1 MiB; HAProxy and Envoy have none)
     */
    maxBodySize: byteSize.default(DEFAULT_LIMITS.maxBodySize),
    /**
     * Time a client has to send its whole request body, once the headers are in; beyond, 408 and
     * the connection is closed (against slow POST). 0 turns it off. @default 5m (Node's
     * `requestTimeout`)
     */
    bodyTimeout: duration.default(DEFAULT_LIMITS.bodyTimeout),
    /**
     * Client connections at most. Node refuses connections beyond it; on every runtime, requests
     * in progress beyond it get 503 with Retry-After. @default 10000
     */
    maxConnections: z.number().int().min(1).max(10_000_000).default(DEFAULT_LIMITS.maxConnections),
  })

  /** The rate-limit key: the client address, or a request header (an API key, a tenant id). */
  const rateLimitKey = z
    .string()
    .regex(/^(ip|header:[!#$%&'*+.^_`|~0-9A-Za-z-]+)$/, 'Expected ip or header:NAME')

  /** A Redis URL: `redis://[user:password@]host[:port][/db]` (`rediss:` for TLS). */
  const redisUrl = z.string().refine((text) => {
    try {
      const url = new URL(text)
      return (
        (url.protocol === 'redis:' || url.protocol === 'rediss:') &&
        url.hostname !== '' &&
        /^\/?(\d{1,2})?$/.test(url.pathname) &&
        url.search === '' &&
        url.hash === ''
      )
    } catch {
      return false
    }
  }, 'Expected redis://host[:port][/db]')

  /**
   * Per-client token buckets: each client may send `burst` requests at once and `requests` per
   * `per` on average; beyond, 429 with Retry-After and `RateLimit-*` fields. Giving the section
   * turns it on. Without `store`, the buckets live in this instance: N instances allow N times the
   * rate; with it, they live in Redis and the limit is fleet-wide.
   */
  const RateLimitSchema = z.strictObject({
    /** @default true when the section is given */
    enabled: z.boolean().default(true),
    /** Requests allowed per period, on average. */
    requests: z.number().positive().max(1_000_000_000),
    /** The period. @default 1s */
    per: duration.default(1000).refine((ms) => ms >= 1, 'Expected a positive duration'),
    /** Requests allowed at once, on top of the average. @default requests */
    burst: z.number().int().min(1).max(1_000_000_000).optional(),
    /** What identifies a client. Requests without the header fall back to the address. @default ip */
    key: rateLimitKey.default('ip'),
    /** Buckets kept at most; the longest idle is dropped first. @default 100000 */
    maxClients: z.number().int().min(1).max(10_000_000).default(100_000),
    /**
     * Where the buckets live: `redis://host[:port][/db]` (`redis://user:password@…`, `rediss:` for
     * TLS) makes the limit fleet-wide: every instance using that Redis shares one bucket per
     * client, through one atomic Lua script (GCRA), keys under `fulcrum:rl:`. The top-level
     * `rateLimit` only; a route's own limit stays per instance.
     * @default none: the buckets live in this instance
     */
    store: redisUrl.optional(),
    /**
     * What a fleet-wide limit does while its store cannot be reached (refused, or no answer within
     * 100 ms; tried again with a backoff): `local`, a bucket in each instance of the limit ÷
     * `members`; `allow`, every request; `deny`, 429 for every request. Never a 500.
     * @default local
     */
    onStoreDown: z.enum(['local', 'allow', 'deny']).default('local'),
    /**
     * Instances sharing a fleet-wide limit, for the `local` share while the store is down. A live
     * member count passed to the edge (`EdgeOptions.members`: fleet membership) takes precedence.
     * @default 1
     */
    members: z.number().int().min(1).max(100_000).default(1),
  })

  /**
   * IP allow and deny lists (CIDR, IPv4 and IPv6), checked against the client address: the
   * socket's peer, or the address a trusted proxy forwarded. A denied client gets 403.
   */
  const AccessSchema = z.strictObject({
    /** When not empty, only these clients are served. @default [] (everyone) */
    allow: z.array(cidr).default([]),
    /** These clients are refused, even when allowed. @default [] */
    deny: z.array(cidr).default([]),
  })

  /** One more certificate, picked by SNI when a client asks for one of its names. */
  const CertificateSchema = z.strictObject({
    /** PEM certificate chain file. */
    cert: z.string().min(1),
    /** PEM private key file. */
    key: z.string().min(1),
  })

  /** HTTP Strict Transport Security (RFC 6797), sent on HTTPS responses only. */
  const HstsSchema = z.strictObject({
    /** How long browsers keep to HTTPS. @default 1 year (Mozilla's recommendation) */
    maxAge: duration.default(31_536_000_000),
    /** @default false */
    includeSubDomains: z.boolean().default(false),
    /** @default false */
    preload: z.boolean().default(false),
  })

  return { LimitsSchema, RateLimitSchema, AccessSchema, CertificateSchema, HstsSchema }
}

/** What {@link edgeSchemas} builds. */
export type EdgeSchemas = ReturnType<typeof edgeSchemas>
/** A validated rate limit. */
export type RateLimit = z.output<EdgeSchemas['RateLimitSchema']>
