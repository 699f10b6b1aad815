/**
 * fulcrum on Deno: `deno task start [options]` (explicit permissions, never -A).
 * Serves with `Deno.serve` (TLS built in) and forwards with Deno's `node:http` client.
 */
import process from 'node:process'
import type { TlsMaterial } from './shared/certs.ts'
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
  serve: async ({ handler, host, port, tls }) => {
    // Deno.serve takes one certificate (no SNI) and negotiates h2 by ALPN on its own. New
    // certificates take a new listener on the same port (SO_REUSEPORT, Linux), and the old one
    // drains: handshakes after the swap get the new certificate, open connections keep theirs.
    const listen = (material: TlsMaterial | undefined, at: number) => {
      const server = Deno.serve(
        {
          hostname: host,
          port: at,
          ...(material ? { cert: material.cert, key: material.key, reusePort: true } : {}),
          onListen: () => {},
        },
        (request, info) => handler(request, info),
      )
      return { server, port: server.addr.port }
    }
    let current = listen(tls, port)
    const draining = new Set<Promise<void>>()
    return {
      port: current.port,
      setTls: tls
        ? async (material) => {
            const previous = current
            current = listen(material, previous.port)
            const done = previous.server.shutdown()
            draining.add(done)
            void done.finally(() => draining.delete(done))
          }
        : undefined,
      close: async () => {
        await Promise.all([current.server.shutdown(), ...draining])
      },
    }
  },
}

await startFulcrum(deno, process.argv.slice(2))
