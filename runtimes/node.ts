/**
 * fulcrum on Node: `node dist/node.js [options]` (built by `npm run build`).
 * HTTP/1.1 through fulcrum's engine, on libuv's TCP handles for plain TCP
 * (runtimes/node/handle-sockets.ts; `FULCRUM_NODE_SOCKETS=net` keeps `node:net`) and on
 * `node:net`/`node:tls` for TLS (runtimes/node/sockets.ts);
 * h2 by ALPN through `node:http2` and @hono/node-server (runtimes/node/http2.ts).
 */
// First: the heap bound holds while the rest of the bundle is evaluated.
import './node/heap-limit.ts'
import process from 'node:process'
import type { RuntimeAdapter } from './adapter.ts'
import { forkWorker } from './node/cluster.ts'
import { nodeHttp2 } from './node/http2.ts'
import { chooseNodeSockets, SOCKETS_ENV, type NodeSockets } from './node/choose-sockets.ts'
import { startFulcrum } from './start/start.ts'
import { createNodeHttpFetch } from './upstream/http-fetch.ts'

let sockets: NodeSockets
try {
  sockets = chooseNodeSockets(process.env[SOCKETS_ENV])
} catch (error) {
  process.stderr.write(`fulcrum: ${(error as Error).message}\n`)
  process.exit(2)
}
const { listen, connect } = sockets

const node: RuntimeAdapter = {
  name: 'node',
  listen,
  connect,
  httpsFetch: (connectTimeout) => createNodeHttpFetch({ connectTimeout }),
  http2: nodeHttp2,
  startWorker: forkWorker,
}

await startFulcrum(node, process.argv.slice(2))
