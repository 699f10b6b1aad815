/**
 * fulcrum on Node: `node dist/node.js [options]` (built by `npm run build`).
 * HTTP/1.1 through fulcrum's engine on `node:net`/`node:tls` sockets (runtimes/node/sockets.ts);
 * h2 by ALPN through `node:http2` and @hono/node-server (runtimes/node/http2.ts).
 */
// First: the heap bound holds while the rest of the bundle is evaluated.
import './node/heap-limit.ts'
import process from 'node:process'
import type { RuntimeAdapter } from './adapter.ts'
import { forkWorker } from './node/cluster.ts'
import { nodeHttp2 } from './node/http2.ts'
import { handleSockets } from './node/handle-sockets.ts'
import * as netSockets from './node/sockets.ts'
import { startFulcrum } from './start/start.ts'
import { createNodeHttpFetch } from './upstream/http-fetch.ts'

// Plain TCP on libuv handles where this Node has the bindings, else node:net.
const { listen, connect } = handleSockets(netSockets) ?? netSockets

const node: RuntimeAdapter = {
  name: 'node',
  listen,
  connect,
  httpsFetch: (connectTimeout) => createNodeHttpFetch({ connectTimeout }),
  http2: nodeHttp2,
  startWorker: forkWorker,
}

await startFulcrum(node, process.argv.slice(2))
