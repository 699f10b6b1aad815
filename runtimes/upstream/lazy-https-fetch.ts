/**
 * The `https:` upstream client of Deno and Bun, loaded at its first request: it runs on their
 * node:http and node:https, which a plain-HTTP config never uses and which cost every process
 * memory to load (~1.5 MB of RSS on Bun, ~5 MB of peak RSS on Deno).
 */
import type { UpstreamFetch } from '../../src/types.ts'

/** `createNodeHttpFetch({ connectTimeout })`, imported when the first request needs it. */
export function lazyHttpsFetch(connectTimeout: number): UpstreamFetch {
  let loaded: Promise<UpstreamFetch> | undefined
  return async (url, init) => {
    loaded ??= import('./http-fetch.ts').then(({ createNodeHttpFetch }) =>
      createNodeHttpFetch({ connectTimeout }),
    )
    return (await loaded)(url, init)
  }
}
