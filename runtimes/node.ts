/**
 * fulcrum on Node: `node dist/node.js [options]` (built by `npm run build`).
 * HTTP/1.1 through fulcrum's engine on `node:net`/`node:tls` sockets (runtimes/node/sockets.ts);
 * h2 by ALPN through `node:http2` and @hono/node-server.
 */
import type { IncomingMessage } from 'node:http'
import process from 'node:process'
import type { RuntimeAdapter } from './adapter.ts'
import { connect, listen } from './node/sockets.ts'
import { nodeClientSignal, nodeRawHead } from './shared/node-edge.ts'
import { createNodeHttpFetch } from './shared/node-http-fetch.ts'
import { limitNodeHeap } from './shared/node-memory.ts'
import { startFulcrum } from './shared/start.ts'

const node: RuntimeAdapter = {
  name: 'node',
  listen,
  connect,
  httpsFetch: (connectTimeout) => createNodeHttpFetch({ connectTimeout }),
  http2: {
    clientAddress: (_request, env) =>
      (env as { incoming?: IncomingMessage }).incoming?.socket.remoteAddress,
    rawHead: nodeRawHead,
    clientSignal: nodeClientSignal,
  },
}

// Peak RSS under wrk (64 connections): 150-180 MB with V8's defaults, ~100 MB bounded.
limitNodeHeap()
await startFulcrum(node, process.argv.slice(2))
