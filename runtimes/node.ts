/**
 * fulcrum on Node: `node dist/node.js [options]` (built by `npm run build`).
 * Serves with @hono/node-server (HTTPS through `createServer` injection) and forwards with undici.
 */
import type { IncomingMessage } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import process from 'node:process'
import { serve, type ServerType } from '@hono/node-server'
import { hardenNodeServer, nodeRawHead } from './shared/node-edge.ts'
import { createNodeFetch } from './shared/node-fetch.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const node: RuntimeAdapter = {
  name: 'node',
  createFetch: (config) => createNodeFetch({ connectTimeout: config.timeouts.connect }),
  clientAddress: (_request, env) =>
    (env as { incoming?: IncomingMessage }).incoming?.socket.remoteAddress,
  rawHead: nodeRawHead,
  serve: ({ handler, host, port, tls, config }) =>
    new Promise((resolve, reject) => {
      const server: ServerType = serve(
        {
          fetch: handler,
          hostname: host,
          port,
          // Node answers 431 itself beyond this; fulcrum's own check counts the same bytes.
          serverOptions: {
            maxHeaderSize: config.limits.maxHeaderBytes,
            ...(tls ? { cert: tls.cert, key: tls.key } : {}),
          },
          ...(tls ? { createServer: createHttpsServer } : {}),
        },
        (info: AddressInfo) => {
          server.off('error', reject)
          resolve({
            port: info.port,
            close: () =>
              new Promise<void>((done) => {
                // Node closes only the connections idle at close(); sweep the keep-alive ones
                // as their last response ends, so a drain lasts as long as the slowest
                // in-flight request rather than the keep-alive timeout.
                const sweep =
                  'closeIdleConnections' in server
                    ? setInterval(() => server.closeIdleConnections(), 50)
                    : undefined
                server.close(() => {
                  clearInterval(sweep)
                  done()
                })
                if ('closeIdleConnections' in server) server.closeIdleConnections()
              }),
          })
        },
      )
      server.once('error', reject)
      if ('headersTimeout' in server) hardenNodeServer(server, config)
      if ('headersTimeout' in server) {
        server.headersTimeout = config.timeouts.clientHeaders
        server.keepAliveTimeout = config.timeouts.clientKeepAlive
      }
    }),
}

await startFulcrum(node, process.argv.slice(2))
