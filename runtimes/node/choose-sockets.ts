/**
 * Which sockets fulcrum uses on Node for plain TCP: libuv's handles
 * (runtimes/node/handle-sockets.ts, the default where this Node has the bindings) or `node:net`
 * (runtimes/node/sockets.ts, always for TLS and host names). `FULCRUM_NODE_SOCKETS=net` keeps
 * every socket on `node:net`: the way back should a Node release change its internal bindings.
 */
import { handleSockets } from './handle-sockets.ts'
import * as netSockets from './sockets.ts'

/** The environment variable that picks Node's sockets: `handles` (the default) or `net`. */
export const SOCKETS_ENV = 'FULCRUM_NODE_SOCKETS'

/** Node's `listen` and `connect`, and which sockets they are on. */
export type NodeSockets = Pick<typeof netSockets, 'listen' | 'connect'> & {
  readonly kind: 'libuv handles' | 'node:net'
}

/**
 * The sockets `setting` (the value of {@link SOCKETS_ENV}) asks for: libuv handles when it is
 * unset or `handles` and this Node has them, else `node:net`.
 * @throws an error naming {@link SOCKETS_ENV} for any other value
 */
export function chooseNodeSockets(setting: string | undefined): NodeSockets {
  if (setting !== undefined && setting !== '' && setting !== 'handles' && setting !== 'net') {
    throw new Error(`${SOCKETS_ENV} must be "handles" or "net", not ${JSON.stringify(setting)}`)
  }
  const handles = setting === 'net' ? undefined : handleSockets(netSockets)
  if (handles) return { ...handles, kind: 'libuv handles' }
  return { listen: netSockets.listen, connect: netSockets.connect, kind: 'node:net' }
}
