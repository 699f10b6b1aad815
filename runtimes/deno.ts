/**
 * fulcrum on Deno: `deno task start [options]` (explicit permissions, never -A).
 * Serves with `Deno.serve` (TLS built in) and forwards with Deno's `node:http` client.
 */
import process from 'node:process'
import { createNodeHttpFetch } from './shared/node-http-fetch.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const deno: RuntimeAdapter = {
  name: 'deno',
  // Deno's fetch is not byte-transparent (see node-http-fetch.ts): use Deno's node:http.
  createFetch: (config) => createNodeHttpFetch({ connectTimeout: config.timeouts.connect }),
  clientAddress: (_request, env) => {
    const addr = (env as Deno.ServeHandlerInfo<Deno.NetAddr>).remoteAddr
    return addr?.hostname
  },
  serve: ({ handler, host, port, tls }) =>
    new Promise((resolve) => {
      const server = Deno.serve(
        {
          hostname: host,
          port,
          ...(tls ? { cert: tls.cert, key: tls.key } : {}),
          onListen: (addr) => resolve({ port: addr.port, close: () => server.shutdown() }),
        },
        (request, info) => handler(request, info),
      )
    }),
}

await startFulcrum(deno, process.argv.slice(2))
