/**
 * The zod primitives the config schema's sections share: durations, byte sizes, ports and address
 * ranges. `src/config.ts`, `src/config-routes.ts` and `src/config-edge.ts` build their fields from
 * them.
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
export const duration = parsed(parseDuration, 'Expected a duration such as 500ms, 5s or 1m')

/** A size in bytes: a whole number, or text such as `16k`, `10MiB`, `1gb`. */
export const byteSize = parsed(parseByteSize, 'Expected a size such as 8192, 16k or 10MiB')

/** A TCP port, 0 to 65535. */
export const port = z.number().int().min(0).max(65535)

/** An IP address or CIDR range, IPv4 or IPv6. */
export const cidr = z.string().refine((entry) => {
  try {
    createAddressMatcher([entry])
    return true
  } catch {
    return false
  }
}, 'Expected an IP address or CIDR range')
