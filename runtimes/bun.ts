/**
 * fulcrum on Bun: `bun run runtimes/bun.ts [options]`.
 * Serves with `Bun.serve` (TLS built in) and forwards with Bun's fetch, decompression off.
 */
import type { Server } from 'bun'
import process from 'node:process'
import { classifyUpstreamError } from './shared/upstream-errors.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const bun: RuntimeAdapter = {
  name: 'bun',
  createFetch: () => async (url, init) => {
    try {
      // Bun's fetch keeps connections alive by default; `decompress: false` passes
      // Content-Encoding through untouched.
      return await fetch(url, { ...init, decompress: false })
    } catch (error) {
      throw classifyUpstreamError(error)
    }
  },
  clientAddress: (request, env) => (env as Server<unknown>).requestIP(request)?.address,
  serve: async ({ handler, host, port, tls, config }) => {
    const server = Bun.serve({
      hostname: host,
      port,
      fetch: (request, server) => handler(request, server),
      idleTimeout: Math.min(255, Math.ceil(config.timeouts.clientKeepAlive / 1000)),
      ...(tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
    })
    return { port: server.port ?? port, close: () => server.stop() }
  },
}

await startFulcrum(bun, process.argv.slice(2))
