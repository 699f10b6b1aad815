/**
 * fulcrum on Bun: `bun run runtimes/bun.ts [options]`.
 * HTTP/1.1 through fulcrum's engine on `Bun.listen` sockets (TLS built in), and upstream through
 * the engine's client on `Bun.connect` (runtimes/bun/sockets.ts). Bun has no HTTP/2 server.
 */
import process from 'node:process'
import type { RuntimeAdapter } from './adapter.ts'
import { boundBunHeap } from './bun/memory.ts'
import { skipZodLocales } from './bun/zod-locales.ts'

// First, before the rest is loaded (static imports would all be read before this line runs):
// JSC's heap bound, which may re-execute the process (runtimes/bun/memory.ts), and zod without
// the translations fulcrum never uses (runtimes/bun/zod-locales.ts).
boundBunHeap(Bun.version)
skipZodLocales()

const [{ connect, listen }, { startFulcrum }, { spawnWorker }, { lazyHttpsFetch }] =
  await Promise.all([
    import('./bun/sockets.ts'),
    import('./start/start.ts'),
    import('./start/workers.ts'),
    import('./upstream/lazy-https-fetch.ts'),
  ])

const bun: RuntimeAdapter = {
  name: 'bun',
  listen,
  connect,
  httpsFetch: lazyHttpsFetch,
  // --workers: `bun run runtimes/bun.ts …` again, each listening with SO_REUSEPORT.
  startWorker: spawnWorker(['run', process.argv[1]!]),
}

await startFulcrum(bun, process.argv.slice(2))
