/**
 * The zod primitives the config schema's sections share: durations, byte sizes, ports and address
 * ranges. `src/config.ts`, `src/config-routes.ts` and `src/config-edge.ts` build their fields from
 * them, each time their schemas are built (see `configSchemas` in src/config.ts).
 */
import * as z from 'zod'
import { parseDuration } from './duration.ts'
import { parseByteSize } from './byte-size.ts'
import { createAddressMatcher } from './net.ts'

// Every schema module imports this one first, so this holds before any object schema is built
// (zod reads it then). Without it, zod compiles a parser for each object schema on its first
// parse (`new Function`) and keeps it: ~0.35 MB of heap for a config parsed once at start and on
// a reload or an admin change, with the same results and issues either way.
z.config({ jitless: true })

// zod (4.6) installs some of a schema type's internals as lazy getters on its prototype when it
// builds the first schema of that type, and those getters keep that first schema (and everything
// under it) for good. The config's schemas are built when a config is parsed and let go after
// (`configSchemas` in src/config.ts): so that none of them is a first one, a tiny schema of every
// type and check they use is built here, once, and kept instead.
{
  const text = z.string()
  z.strictObject({ n: z.number().int().min(0).max(1).positive() }).superRefine(() => {})
  z.preprocess((value) => value, text)
  text.transform((value) => value)
  text.optional().default('').prefault('').nullable()
  z.union([text, z.boolean()]).refine(() => true)
  z.array(text).min(1)
  z.record(text, z.literal(true))
  z.enum(['a'])
  z.url({ protocol: /^https?$/ })
  text.regex(/a/).startsWith('a').min(1)
}

/** The primitives, built anew: durations, byte sizes, ports and address ranges. */
export function primitiveSchemas() {
  /** A number, or text that `parse` reads into one; `message` when it can't. */
  const parsed = (parse: (value: number | string) => number | undefined, message: string) =>
    z.union([z.number(), z.string()]).transform((value, ctx) => {
      const result = parse(value)
      if (result === undefined) {
        ctx.addIssue({ code: 'custom', message })
        return z.NEVER
      }
      return result
    })

  /** A duration in milliseconds: a number, or text such as `500ms`, `5s`, `1m`. */
  const duration = parsed(parseDuration, 'Expected a duration such as 500ms, 5s or 1m')

  /** A size in bytes: a whole number, or text such as `16k`, `10MiB`, `1gb`. */
  const byteSize = parsed(parseByteSize, 'Expected a size such as 8192, 16k or 10MiB')

  /** A TCP port, 0 to 65535. */
  const port = z.number().int().min(0).max(65535)

  /** An IP address or CIDR range, IPv4 or IPv6. */
  const cidr = z.string().refine((entry) => {
    try {
      createAddressMatcher([entry])
      return true
    } catch {
      return false
    }
  }, 'Expected an IP address or CIDR range')
  return { duration, byteSize, port, cidr }
}

/** What {@link primitiveSchemas} builds. */
export type PrimitiveSchemas = ReturnType<typeof primitiveSchemas>
