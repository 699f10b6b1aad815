/**
 * fulcrum on Bun: `bun run runtimes/bun.ts [options]`.
 * HTTP/1.1 through fulcrum's engine on `Bun.listen` sockets (TLS built in), and upstream through
 * the engine's client on `Bun.connect` (runtimes/bun/sockets.ts). Bun has no HTTP/2 server.
 */
import process from 'node:process'
import type { UpstreamFetch } from '../src/types.ts'
import type { RuntimeAdapter } from './adapter.ts'
import { connect, listen } from './bun/sockets.ts'
import { startFulcrum } from './start/start.ts'
import { spawnWorker } from './start/workers.ts'

const bun: RuntimeAdapter = {
  name: 'bun',
  listen,
  connect,
  // node:http and node:https load with the first https:// upstream request, not at start: most
  // configurations never use them, and loading them costs every Bun process ~1.5 MB of RSS.
  httpsFetch: (connectTimeout) => {
    let fetch: Promise<UpstreamFetch> | undefined
    return async (url, init) => {
      fetch ??= import('./upstream/http-fetch.ts').then(({ createNodeHttpFetch }) =>
        createNodeHttpFetch({ connectTimeout }),
      )
      return (await fetch)(url, init)
    }
  },
  // --workers: `bun run runtimes/bun.ts …` again, each listening with SO_REUSEPORT.
  startWorker: spawnWorker(['run', process.argv[1]!]),
}

await startFulcrum(bun, process.argv.slice(2))
