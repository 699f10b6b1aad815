#!/usr/bin/env node
// An experiment beside raw-tcp-relay.mjs: the same relay (round robin, bytes both ways, each FIN
// passed on, nothing else) on Node's libuv handles directly, with no net.Socket: the TCP handles
// of process.binding('tcp_wrap') and the write and shutdown requests of
// process.binding('stream_wrap'), driven as lib/net.js and lib/internal/stream_base_commons.js
// drive them. process.binding is deprecated (DEP0111, documentation-only; a warning only under
// --pending-deprecation). It takes the config file fulcrum is given (`--config FILE`).
import { readFileSync } from 'node:fs'

const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap')
const {
  WriteWrap,
  ShutdownWrap,
  streamBaseState,
  kReadBytesOrError,
  kArrayBufferOffset,
  kLastWriteWasAsync,
} = process.binding('stream_wrap')
const UV_EOF = -4095
const UV_ENOTCONN = -107

const args = process.argv.slice(2)
const config = JSON.parse(readFileSync(args[args.indexOf('--config') + 1], 'utf8'))
const backends = Object.values(config.pools)[0].backends.map((url) => new URL(url))
const { host, port } = config.tcp[0].listen

/** One side of a relayed connection: its handle, its peer, and where each direction stands. */
class Side {
  constructor(handle) {
    this.handle = handle
    this.peer = null
    this.pending = null // bytes read before the peer connected
    this.readEnded = false
    this.writeEnded = false
    this.shutDown = false
    this.closed = false
    this.writesInFlight = 0
    handle.side = this
    handle.onread = onRead
  }
}

function onRead(arrayBuffer) {
  const nread = streamBaseState[kReadBytesOrError]
  const side = this.side
  if (nread > 0) {
    const chunk = new Uint8Array(arrayBuffer, streamBaseState[kArrayBufferOffset], nread)
    const peer = side.peer
    if (!peer || !peer.connected) {
      ;(side.pending ??= []).push(chunk)
      this.readStop()
      return
    }
    write(side, peer, chunk)
    return
  }
  if (nread === 0) return
  if (nread !== UV_EOF) return close(side)
  side.readEnded = true
  if (side.peer?.connected) shutdown(side.peer)
  else side.pending = side.pending ?? []
  maybeClose(side)
}

function write(from, to, chunk) {
  if (to.closed) return
  const req = new WriteWrap()
  req.handle = to.handle
  req.oncomplete = onWriteComplete
  req.from = from
  req.buffer = chunk
  const err = to.handle.writeBuffer(req, chunk)
  if (err !== 0) return close(to)
  if (streamBaseState[kLastWriteWasAsync]) {
    // Backpressure as pipe() has it: stop reading until the kernel took the bytes.
    to.writesInFlight++
    from.handle.readStop()
  }
}

function onWriteComplete(status) {
  const to = this.handle.side
  to.writesInFlight--
  if (status < 0) return close(to)
  const from = this.from
  if (to.writesInFlight === 0 && !from.readEnded && !from.closed) from.handle.readStart()
}

function shutdown(side) {
  if (side.writeEnded || side.closed) return
  side.writeEnded = true
  const req = new ShutdownWrap()
  req.handle = side.handle
  req.oncomplete = onShutdown
  const err = side.handle.shutdown(req)
  if (err === 1 || err === UV_ENOTCONN) {
    side.shutDown = true
    return maybeClose(side)
  }
  if (err !== 0) return close(side)
}

function onShutdown(status) {
  const side = this.handle.side
  if (status < 0) return close(side)
  side.shutDown = true
  maybeClose(side)
}

/** Both directions done: close, as a net.Socket with allowHalfOpen closes when both ended. */
function maybeClose(side) {
  if (side.readEnded && side.shutDown) close(side)
}

function close(side) {
  if (side.closed) return
  side.closed = true
  side.handle.close()
  // raw-tcp-relay.mjs destroys the other side on 'close'.
  if (side.peer && !side.peer.closed) close(side.peer)
}

let next = 0
const server = new TCP(constants.SERVER)
let err = server.bind(host, port)
if (err) throw new Error(`bind: ${err}`)
server.onconnection = (status, clientHandle) => {
  if (status !== 0) return
  const client = new Side(clientHandle)
  client.connected = true
  clientHandle.setNoDelay(true)
  const to = backends[next++ % backends.length]
  const backend = new Side(new TCP(constants.SOCKET))
  client.peer = backend
  backend.peer = client
  const req = new TCPConnectWrap()
  req.oncomplete = afterConnect
  req.side = backend
  const connectErr = backend.handle.connect(req, to.hostname, Number(to.port))
  if (connectErr) return close(client)
  clientHandle.readStart()
}
err = server.listen(4096)
if (err) throw new Error(`listen: ${err}`)

function afterConnect(status, handle, req) {
  const backend = req.side
  const client = backend.peer
  if (client.closed) return close(backend)
  if (status !== 0) return close(client)
  backend.connected = true
  handle.setNoDelay(true)
  handle.readStart()
  if (client.pending) {
    for (const chunk of client.pending) write(client, backend, chunk)
    client.pending = null
    if (client.readEnded) shutdown(backend)
    else client.handle.readStart()
  }
}
