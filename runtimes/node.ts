/**
 * fulcrum on Node: `node dist/node.js [options]` (built by `npm run build`).
 * Serves with @hono/node-server (HTTPS, and HTTP/2 with HTTP/1.1 fallback, through `createServer`
 * injection) and forwards with undici.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http'
import { createSecureServer as createHttp2Server } from 'node:http2'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import process from 'node:process'
import { serve, type ServerType } from '@hono/node-server'
import { hardenNodeServer, nodeClientSignal, nodeRawHead } from './shared/node-edge.ts'
import { watchUpstreamBody } from './shared/upstream-body.ts'
import { createNodeFetch } from './shared/node-fetch.ts'
import { limitNodeHeap } from './shared/node-memory.ts'
import { handleNodeUpgrades } from './shared/node-websocket.ts'
import { nodeTls, trackHttp2Connections, type Http2Connections } from './shared/node-tls.ts'
import { startFulcrum, type RuntimeAdapter } from './shared/start.ts'

const node: RuntimeAdapter = {
  name: 'node',
  createFetch: (config) => createNodeFetch({ connectTimeout: config.timeouts.connect }),
  clientAddress: (_request, env) =>
    (env as { incoming?: IncomingMessage }).incoming?.socket.remoteAddress,
  clientSignal: nodeClientSignal,
  rawHead: nodeRawHead,
  watchBody: watchUpstreamBody,
  serve: ({ handler, host, port, tls, config, websocket }) =>
    new Promise((resolve, reject) => {
      const secure = tls && nodeTls(tls)
      // ALPN h2 with HTTP/1.1 fallback (RFC 7301, RFC 9113 §3.2).
      const h2 = secure && config.tls.http2
      let http2: Http2Connections | undefined
      const server: ServerType = serve(
        {
          fetch: handler,
          hostname: host,
          port,
          // Node answers 431 itself beyond this; fulcrum's own check counts the same bytes.
          serverOptions: {
            maxHeaderSize: config.limits.maxHeaderBytes,
            // headersTimeout is only checked this often (30 s by default): a slowloris would
            // outlive the header deadline by that much.
            connectionsCheckingInterval: Math.min(
              30_000,
              Math.max(100, Math.floor(config.timeouts.clientHeaders / 4)),
            ),
            ...(secure ? secure.options : {}),
            ...(h2 ? { allowHTTP1: true } : {}),
          },
          // One options shape for both: @hono/node-server hands them to the factory as they are.
          ...(secure
            ? {
                createServer: (h2
                  ? createHttp2Server
                  : createHttpsServer) as typeof createHttpsServer,
              }
            : {}),
        },
        (info: AddressInfo) => {
          server.off('error', reject)
          resolve({
            port: info.port,
            connections: () => open,
            setTls: secure
              ? async (material) => {
                  secure.update(material)
                  if ('setSecureContext' in server) server.setSecureContext(secure.defaults())
                }
              : undefined,
            close: () =>
              new Promise<void>((done) => {
                http2?.closeGracefully()
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
      if (h2) http2 = trackHttp2Connections(server)
      // WebSockets: the upgraded socket is tunnelled (HTTP/1.1 only; h2 clients fall back).
      if (websocket) {
        handleNodeUpgrades(server as HttpServer, websocket, {
          scheme: secure ? 'https' : 'http',
          connectTimeout: config.timeouts.connect,
        })
      }
      // Open client connections, for the admin API's metrics.
      let open = 0
      server.on('connection', (socket) => {
        open++
        socket.once('close', () => open--)
      })
      if ('headersTimeout' in server) hardenNodeServer(server, config)
      if ('headersTimeout' in server) {
        server.headersTimeout = config.timeouts.clientHeaders
        server.keepAliveTimeout = config.timeouts.clientKeepAlive
      }
    }),
}

// Peak RSS under wrk (64 connections): 150-180 MB with V8's defaults, ~100 MB bounded.
limitNodeHeap()
await startFulcrum(node, process.argv.slice(2))
