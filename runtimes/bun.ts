/**
 * fulcrum on Bun: `bun run runtimes/bun.ts [options]`.
 * Serves with `Bun.serve` (TLS built in) and forwards with Bun's fetch, decompression off.
 */
import type { Server } from 'bun'
import process from 'node:process'
import { bunTls } from './shared/bun-tls.ts'
import type { TlsMaterial } from './shared/certs.ts'
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
    // New certificates take a new listener on the same port (SO_REUSEPORT), and the old one
    // drains: Bun's server.reload() does not take TLS options.
    const listen = (material: TlsMaterial | undefined, at: number) =>
      Bun.serve({
        hostname: host,
        port: at,
        fetch: (request, server) => handler(request, server),
        idleTimeout: Math.min(255, Math.ceil(config.timeouts.clientKeepAlive / 1000)),
        // Bun answers 413 itself beyond 128 MiB by default; fulcrum's limit comes first.
        maxRequestBodySize:
          config.limits.maxBodySize > 0 ? config.limits.maxBodySize + 1 : Number.MAX_SAFE_INTEGER,
        ...(material ? { tls: bunTls(material), reusePort: true } : {}),
      })
    let current = listen(tls, port)
    const actualPort = current.port ?? port
    const draining = new Set<Promise<void>>()
    return {
      port: actualPort,
      setTls: tls
        ? async (material) => {
            const previous = current
            current = listen(material, actualPort)
            const done = previous.stop()
            draining.add(done)
            void done.finally(() => draining.delete(done))
          }
        : undefined,
      close: async () => {
        await Promise.all([current.stop(), ...draining])
      },
    }
  },
}

await startFulcrum(bun, process.argv.slice(2))
