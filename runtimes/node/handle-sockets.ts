/**
 * Plain TCP on Node's libuv handles, without `net.Socket`: the `TCP` handles of
 * `process.binding('tcp_wrap')` and the write and shutdown requests of
 * `process.binding('stream_wrap')`, driven as Node's own lib/net.js and
 * lib/internal/stream_base_commons.js drive them. A `net.Socket` is a Duplex stream (its state,
 * its event emitter, its destroy machinery) around the same handle; a connection here is one
 * object, which is most of what a connection costs a relay (scripts/lib/raw-handle-relay.mjs
 * relays 2.1× the connections a second of scripts/lib/raw-tcp-relay.mjs's `pipe()`).
 *
 * `process.binding` is deprecated (DEP0111): a documentation-only deprecation on Node 20 (a
 * warning only under `--pending-deprecation`), and these bindings are internal. So
 * {@link handleSockets} checks that every piece it uses is there with the expected shape, and
 * returns `undefined` otherwise: the caller then stays on `node:net` (runtimes/node/sockets.ts).
 * Hosts that are not IP addresses (a name to resolve), TLS and the listeners of `--workers`
 * (node:cluster shares the primary's) also stay on `node:net`.
 */
import type { Buffer } from 'node:buffer'
import cluster from 'node:cluster'
import { isIP } from 'node:net'
import process from 'node:process'
import { getSystemErrorName } from 'node:util'
import type { Accept, Connect, Socket, SocketEvents } from '../../src/socket.ts'
import type { ListenOptions, Listener } from '../adapter.ts'
import { HIGH_WATER_MARK } from './sockets.ts'
import { keptIfLent, UpstreamReader } from './upstream-reader.ts'

/** A libuv TCP handle as `tcp_wrap` makes it (the members used here). */
interface TcpHandle {
  onread: (this: TcpHandle) => Uint8Array | undefined
  onconnection: (status: number, handle: TcpHandle | undefined) => void
  readonly writeQueueSize: number
  bind(address: string, port: number): number
  bind6(address: string, port: number, flags: number): number
  listen(backlog: number): number
  connect(req: object, address: string, port: number): number
  connect6(req: object, address: string, port: number): number
  getsockname(out: AddressOut): number
  getpeername(out: AddressOut): number
  setNoDelay(on: boolean): number
  readStart(): number
  readStop(): number
  writeBuffer(req: object, bytes: Uint8Array): number
  /** Read into `buffer` from now on; `onread` may return the next buffer. */
  useUserBuffer(buffer: Uint8Array): void
  shutdown(req: object): number
  close(callback?: () => void): void
  /** Which socket this handle is (set here). */
  owner?: HandleSocket
}

interface AddressOut {
  address?: string
  port?: number
}

/** A write or shutdown request: `oncomplete` is called with `this` the request. */
interface Request {
  oncomplete: (this: Request, status: number) => void
  handle?: TcpHandle
  /** What a write keeps alive until it completes. */
  buffer?: Uint8Array | undefined
}

/** The pieces of the two bindings used here. */
interface Bindings {
  TCP: new (type: number) => TcpHandle
  TCPConnectWrap: new () => {
    oncomplete: (status: number, handle: TcpHandle) => void
  }
  SOCKET: number
  SERVER: number
  WriteWrap: new () => Request
  ShutdownWrap: new () => Request
  /** `streamBaseState[kReadBytesOrError]`: a read's size, or its error (UV_EOF at the FIN). */
  state: Int32Array
  kReadBytesOrError: number
  kLastWriteWasAsync: number
  UV_EOF: number
  UV_ENOTCONN: number
}

/** The bindings, or `undefined` when any piece is missing or not what it should be. */
function loadBindings(): Bindings | undefined {
  const binding = (process as { binding?: (name: string) => Record<string, unknown> }).binding
  if (typeof binding !== 'function') return undefined
  try {
    const tcp = binding('tcp_wrap')
    const stream = binding('stream_wrap')
    const uv = binding('uv')
    const constants = tcp.constants as Record<string, unknown> | undefined
    const TCP = tcp.TCP as Bindings['TCP'] | undefined
    const methods = ['bind', 'bind6', 'listen', 'connect', 'connect6', 'getsockname']
      .concat(['getpeername', 'setNoDelay', 'readStart', 'readStop', 'writeBuffer', 'shutdown'])
      .concat(['useUserBuffer', 'close'])
    const ok =
      typeof TCP === 'function' &&
      methods.every(
        (name) => typeof (TCP.prototype as Record<string, unknown>)[name] === 'function',
      ) &&
      typeof tcp.TCPConnectWrap === 'function' &&
      typeof stream.WriteWrap === 'function' &&
      typeof stream.ShutdownWrap === 'function' &&
      stream.streamBaseState instanceof Int32Array &&
      typeof constants?.SOCKET === 'number' &&
      typeof constants.SERVER === 'number' &&
      ['kReadBytesOrError', 'kLastWriteWasAsync'].every((key) => typeof stream[key] === 'number') &&
      typeof uv.UV_EOF === 'number' &&
      typeof uv.UV_ENOTCONN === 'number'
    if (!ok) return undefined
    return {
      TCP,
      TCPConnectWrap: tcp.TCPConnectWrap as Bindings['TCPConnectWrap'],
      SOCKET: constants.SOCKET as number,
      SERVER: constants.SERVER as number,
      WriteWrap: stream.WriteWrap as Bindings['WriteWrap'],
      ShutdownWrap: stream.ShutdownWrap as Bindings['ShutdownWrap'],
      state: stream.streamBaseState as Int32Array,
      kReadBytesOrError: stream.kReadBytesOrError as number,
      kLastWriteWasAsync: stream.kLastWriteWasAsync as number,
      UV_EOF: uv.UV_EOF as number,
      UV_ENOTCONN: uv.UV_ENOTCONN as number,
    }
  } catch {
    return undefined
  }
}

/** A libuv error as Node reports it: `connect ECONNREFUSED`, with `code`, `errno`, `syscall`. */
function uvError(status: number, syscall: string): Error {
  const code = getSystemErrorName(status)
  return Object.assign(new Error(`${syscall} ${code}`), { code, errno: status, syscall })
}

let b: Bindings

/**
 * The write request for the next write. A write the kernel takes at once leaves its request
 * unused (libuv's `uv_try_write`), so the next write has it again; one that is queued keeps it.
 */
let spareWrite: Request | undefined

/** One TCP handle as the engine's {@link Socket}. */
class HandleSocket implements Socket {
  readonly #handle: TcpHandle
  #events: SocketEvents | undefined
  #paused = false
  #reading = false
  /** The peer's FIN came (and was reported). */
  #readEnded = false
  /** `end()` or `endAndClose()` was called. */
  #ending = false
  /** Our FIN went (the shutdown request completed). */
  #shutDown = false
  #closeAfterShutdown = false
  /** Writes the kernel did not take at once, still in flight. */
  #writes = 0
  #needDrain = false
  #closed = false
  #destroyed = false
  #peer: AddressOut | undefined
  #local: AddressOut | undefined
  #reader: UpstreamReader | undefined
  /** The memory the handle reads into: held here, since libuv holds only its address. */
  #target: Buffer | undefined

  constructor(handle: TcpHandle) {
    this.#handle = handle
    handle.owner = this
    handle.onread = onRead
  }

  /** Report events to `events` and start reading (unless paused meanwhile). */
  bind(events: SocketEvents): this {
    this.#events = events
    const reader = (this.#reader = new UpstreamReader(events))
    this.#target = reader.buffer()
    this.#handle.useUserBuffer(this.#target)
    if (!this.#paused && !this.#closed) this.#startReading()
    return this
  }

  #startReading(): void {
    if (this.#reading || this.#readEnded) return
    this.#reading = true
    const status = this.#handle.readStart()
    if (status < 0) this.#finish(uvError(status, 'read'))
  }

  /**
   * A read: `size` bytes at the start of the read buffer, or the FIN, or an error. Returns the
   * buffer for the next read when it is another (`useUserBuffer`'s `onread` protocol).
   */
  read(): Uint8Array | undefined {
    const size = b.state[b.kReadBytesOrError]!
    if (this.#closed) return
    if (size > 0) {
      const reader = this.#reader!
      reader.callback(size, this.#target!)
      const next = reader.buffer()
      if (next === this.#target) return
      this.#target = next
      return next
    }
    if (size === 0) return
    this.#reading = false
    if (size !== b.UV_EOF) {
      this.#finish(uvError(size, 'read'))
      return
    }
    this.#readEnded = true
    this.#events!.end()
    if (this.#shutDown && !this.#closed) this.#finish()
    return
  }

  write(bytes: Uint8Array): boolean {
    if (this.#closed || this.#ending) return true
    const handle = this.#handle
    const request = spareWrite ?? newWrite()
    request.handle = handle
    const status = handle.writeBuffer(request, bytes)
    if (status !== 0) {
      this.#finish(uvError(status, 'write'))
      return true
    }
    if (b.state[b.kLastWriteWasAsync] === 0) return true
    // Queued: the request is libuv's until it completes, with the bytes it still has to send.
    keptIfLent(bytes)
    spareWrite = undefined
    request.buffer = bytes
    this.#writes++
    if (handle.writeQueueSize < HIGH_WATER_MARK) return true
    this.#needDrain = true
    return false
  }

  /** A queued write completed. */
  written(status: number): void {
    this.#writes--
    if (this.#closed) return
    if (status < 0) return this.#finish(uvError(status, 'write'))
    if (this.#writes === 0 && this.#needDrain) {
      this.#needDrain = false
      this.#events!.drain()
    }
  }

  end(): void {
    if (this.#ending || this.#closed) return
    this.#ending = true
    // The peer's FIN came and nothing is queued here: nothing more can be read or sent, so
    // close(2) at once, which sends the FIN after what the kernel holds (nothing is left unread,
    // so no reset), as HAProxy closes such a connection and runtimes/bun/sockets.ts does. A
    // shutdown costs a request, an `epoll_ctl` for libuv to wait until it may write, a wakeup,
    // the `shutdown(2)` and a callback, all before the same close.
    if (this.#readEnded && this.#writes === 0) return this.#finish()
    // libuv's shutdown waits for the queued writes: the FIN follows the last byte.
    const request = new b.ShutdownWrap()
    request.oncomplete = onShutdown
    request.handle = this.#handle
    const status = this.#handle.shutdown(request)
    // 1: done at once (lib/net.js); ENOTCONN: the peer is gone already.
    if (status === 1 || status === b.UV_ENOTCONN) this.shutDown(0)
    else if (status !== 0) this.#finish(uvError(status, 'shutdown'))
  }

  /** Our FIN went: with the peer's come too (or on endAndClose), the connection is done. */
  shutDown(status: number): void {
    if (this.#closed) return
    if (status < 0 && status !== b.UV_ENOTCONN) return this.#finish(uvError(status, 'shutdown'))
    this.#shutDown = true
    if (this.#readEnded || this.#closeAfterShutdown) this.#finish()
  }

  /** With nothing queued, `close(2)` at once (the kernel sends what it holds, then the FIN). */
  endAndClose(): void {
    if (this.#closed) return
    if (this.#writes === 0) return this.#finish()
    this.#closeAfterShutdown = true
    this.pause()
    this.end()
  }

  destroy(): void {
    this.#destroyed = true
    this.#finish()
  }

  /** Close the handle; `close` is reported once it is closed (unless destroyed). */
  #finish(error?: unknown): void {
    if (this.#closed) return
    this.#closed = true
    this.#handle.close(() => {
      if (!this.#destroyed) this.#events?.close(error)
    })
  }

  pause(): void {
    this.#paused = true
    if (!this.#reading) return
    this.#reading = false
    this.#handle.readStop()
  }

  resume(): void {
    this.#paused = false
    if (this.#events && !this.#closed) this.#startReading()
  }

  #peerAddress(): AddressOut {
    return (this.#peer ??= addressOf(this.#handle, 'getpeername'))
  }

  #localAddress(): AddressOut {
    return (this.#local ??= addressOf(this.#handle, 'getsockname'))
  }

  get remoteAddress(): string | undefined {
    return this.#peerAddress().address
  }

  get remotePort(): number | undefined {
    return this.#peerAddress().port
  }

  get localAddress(): string | undefined {
    return this.#localAddress().address
  }

  get localPort(): number | undefined {
    return this.#localAddress().port
  }

  get encrypted(): boolean {
    return false
  }
}

/** The handle's peer or own address (asked once: a system call). */
function addressOf(handle: TcpHandle, which: 'getpeername' | 'getsockname'): AddressOut {
  const out: AddressOut = {}
  handle[which](out)
  return out
}

function onRead(this: TcpHandle): Uint8Array | undefined {
  return this.owner?.read()
}

function onWritten(this: Request, status: number): void {
  this.buffer = undefined
  this.handle?.owner?.written(status)
}

function onShutdown(this: Request, status: number): void {
  this.handle?.owner?.shutDown(status)
}

function newWrite(): Request {
  const request = new b.WriteWrap()
  request.oncomplete = onWritten
  spareWrite = request
  return request
}

/** Listen on a plain TCP handle; `accept` gets each connection. */
function listenOnHandle(options: ListenOptions, accept: Accept): Promise<Listener> {
  const server = new b.TCP(b.SERVER)
  const { host, port } = options
  const bound = isIP(host) === 6 ? server.bind6(host, port, 0) : server.bind(host, port)
  const listening = bound === 0 ? server.listen(options.backlog ?? 511) : bound
  if (listening !== 0) {
    server.close()
    return Promise.reject(uvError(listening, bound === 0 ? 'listen' : 'bind'))
  }
  // An accept failure (EMFILE) only loses that connection, as on `net.Server`.
  server.onconnection = (status, handle) => {
    if (status !== 0 || !handle) return
    handle.setNoDelay(true)
    const socket = new HandleSocket(handle)
    socket.bind(accept(socket))
  }
  let open = true
  return Promise.resolve({
    port: addressOf(server, 'getsockname').port ?? port,
    close: async () => {
      if (open) server.close()
      open = false
    },
  })
}

/** Connect a plain TCP handle to an IP address, Nagle off. */
const connectHandle: Connect = (host, port, events) =>
  new Promise((resolve, reject) => {
    const handle = new b.TCP(b.SOCKET)
    const request = new b.TCPConnectWrap()
    request.oncomplete = (status) => {
      if (status < 0) {
        handle.close()
        return reject(Object.assign(uvError(status, 'connect'), { address: host, port }))
      }
      handle.setNoDelay(true)
      resolve(new HandleSocket(handle).bind(events))
    }
    const status =
      isIP(host) === 6 ? handle.connect6(request, host, port) : handle.connect(request, host, port)
    if (status !== 0) {
      handle.close()
      reject(Object.assign(uvError(status, 'connect'), { address: host, port }))
    }
  })

/** `listen` and `connect` over `node:net`, to fall back on. */
interface NetSockets {
  listen(options: ListenOptions, accept: Accept): Promise<Listener>
  connect: Connect
}

/**
 * `listen` and `connect` on libuv handles for plain TCP to and on IP addresses, `fallback`'s
 * for TLS and host names; `undefined` when this Node's bindings are not what this file expects.
 */
export function handleSockets(fallback: NetSockets): NetSockets | undefined {
  const bindings = loadBindings()
  if (!bindings) return undefined
  b = bindings
  return {
    // A node:cluster worker's listeners are the primary's handle (runtimes/node/cluster.ts).
    listen: (options, accept) =>
      options.tls || isIP(options.host) === 0 || cluster.isWorker
        ? fallback.listen(options, accept)
        : listenOnHandle(options, accept),
    connect: (host, port, events) =>
      isIP(host) === 0 ? fallback.connect(host, port, events) : connectHandle(host, port, events),
  }
}
