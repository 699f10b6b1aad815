/**
 * fulcrum on Deno: `deno task start [options]` (explicit permissions, never -A).
 * HTTP/1.1 through fulcrum's engine on `Deno.listen`/`Deno.listenTls` connections, h2 by ALPN
 * through Deno's own server, and upstream through the engine's client on `Deno.connect`
 * (runtimes/deno/sockets.ts).
 */
import process from 'node:process'
import type { RuntimeAdapter } from './adapter.ts'
import { connect, DENO_HTTP2, listen } from './deno/sockets.ts'
import { startFulcrum } from './start/start.ts'
import { lazyHttpsFetch } from './upstream/lazy-https-fetch.ts'

const deno: RuntimeAdapter = {
  name: 'deno',
  listen,
  connect,
  httpsFetch: lazyHttpsFetch,
  http2: DENO_HTTP2
    ? {
        clientAddress: (_request, env) =>
          (env as Deno.ServeHandlerInfo<Deno.NetAddr>).remoteAddr?.hostname,
      }
    : undefined,
  // rustls takes TLS 1.2 and 1.3 and Deno offers no way to narrow it.
  tls13Only: false,
  // No startWorker: --workers would need --allow-run, which `deno task start` does not grant.
}

await startFulcrum(deno, process.argv.slice(2))
