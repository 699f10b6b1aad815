/**
 * Deno's sockets for the HTTP/1.1 engine: `Deno.listen`/`Deno.listenTls` and `Deno.connect`,
 * each connection behind the engine's `Socket` contract with a read loop and a write queue.
 *
 * Over TLS with `http2`, ALPN (RFC 7301) offers h2 first; after the handshake, the connections
 * that chose it go to Deno's own HTTP server, one connection at a time, through
 * `Deno[Deno.internal].serveHttpOnConnection` (ext/http/00_serve.ts: the hyper server behind
 * `Deno.serve`, not in the public API). Where a Deno lacks it, only HTTP/1.1 is offered.
 */
import { copyBytes } from '../../src/http1/bytes.ts'
import type { Accept, Connect, Socket, SocketEvents } from '../../src/socket.ts'
import type { Http2Handler, ListenOptions, Listener } from '../adapter.ts'
import { selectCertificate, type TlsMaterial } from '../tls/certs.ts'

/** The largest read buffer, in bytes. */
const READ_SIZE = 64 * 1024
/**
 * The first read buffer of a connection: most requests and responses are small, and a 64 KiB
 * buffer per connection costs a young-generation collection every few hundred connections when
 * each request comes on a new one (`Connection: close`). A read that fills it doubles it, up to
 * {@link READ_SIZE}.
 */
const FIRST_READ_SIZE = 4 * 1024
/**
 * Read bytes in memory of their own (larger reads, not the shared slab) between two scavenges
 * asked for by {@link collectReadBuffers}.
 */
const SCAVENGE_EVERY = 16 * 1024 * 1024
let readSinceScavenge = 0
/** V8's `gc`, when the start task exposes it (`--expose-gc`). */
const gc = (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc

/**
 * Count `bytes` read into new memory; past {@link SCAVENGE_EVERY}, ask V8 for a scavenge (a
 * young-generation GC, about a millisecond). Each chunk's memory is outside V8's heap, and V8
 * lets up to 64 MB of it pile up before it collects on its own, while the young generation (4 MB
 * semi-spaces, for fewer promotions and full GCs under load) fills slowly when the objects
 * around the chunks are small: streaming 200 MiB raised RSS by 65–71 MB without this.
 */
function collectReadBuffers(bytes: number): void {
  readSinceScavenge += bytes
  if (readSinceScavenge < SCAVENGE_EVERY || gc === undefined) return
  readSinceScavenge = 0
  gc({ type: 'minor' })
}

/** Bytes queued for writing before `write` returns `false`. */
export const HIGH_WATER_MARK = 64 * 1024
/** Queued chunks are joined into one write up to this size (fewer writes, fewer promises). */
const COALESCE_LIMIT = 256 * 1024
/** How long a TLS handshake may take by default before the connection is dropped. */
export const HANDSHAKE_TIMEOUT = 10_000

/** `Deno.listenTls`'s SNI resolver option (denoland/deno#23233, not in the public types). */
const SNI_RESOLVER = Symbol.for('unstableSniResolver')
/**
 * Deno caches each SNI name's certificate until the listener closes (about 5 KB a name in Deno
 * 2.9.6): a new listener takes over after this many names, so that made-up names can't fill the
 * memory.
 */
const MAX_SNI_NAMES = 4096

/** What `serveHttpOnConnection` returns. */
interface Served {
  readonly finished: Promise<void>
  shutdown(): Promise<void>
}

/** `Deno[Deno.internal].serveHttpOnConnection`, where this Deno has it. */
const serveHttpOnConnection = ((): ServeOnConnection | undefined => {
  const deno = Deno as unknown as Record<symbol, Record<string, unknown> | undefined>
  const found = deno[(Deno as unknown as { internal: symbol }).internal]?.serveHttpOnConnection
  return typeof found === 'function' ? (found as ServeOnConnection) : undefined
})()

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal | undefined,
  handler: (
    request: Request,
    info: Deno.ServeHandlerInfo<Deno.NetAddr>,
  ) => Response | Promise<Response>,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => Served

/** Whether this Deno serves h2 by ALPN on the engine's TLS listeners. */
export const DENO_HTTP2 = serveHttpOnConnection !== undefined

/**
 * The ops under `Deno.Conn.read`/`write`, by resource id, where this Deno exposes them
 * (`Deno[Deno.internal].core` and the connection's `Deno.internal.rid` symbol). `conn.read` is an
 * async function around `core.read` that also tracks each pending read in a `Set` (for `unref`):
 * about a kilobyte of garbage per read, and a promise hop. Where they are missing, the public
 * methods serve.
 */
interface CoreIo {
  read(rid: number, buffer: Uint8Array): Promise<number>
  write(rid: number, bytes: Uint8Array): Promise<number>
}

const coreIo = ((): CoreIo | undefined => {
  const deno = Deno as unknown as Record<symbol, { core?: Partial<CoreIo> } | undefined>
  const core = deno[(Deno as unknown as { internal: symbol }).internal]?.core
  return typeof core?.read === 'function' && typeof core.write === 'function'
    ? (core as CoreIo)
    : undefined
})()

/** The symbol under which a `Deno.Conn` keeps its resource id (found on the first one). */
let ridSymbol: symbol | null | undefined

/** `conn`'s resource id, when {@link coreIo} can use it. */
function resourceId(conn: Deno.Conn): number | undefined {
  if (!coreIo) return undefined
  if (ridSymbol === undefined) {
    ridSymbol =
      Object.getOwnPropertySymbols(conn).find(
        (symbol) => symbol.description === 'Deno.internal.rid',
      ) ?? null
  }
  if (ridSymbol === null) return undefined
  const rid = (conn as unknown as Record<symbol, unknown>)[ridSymbol]
  return typeof rid === 'number' ? rid : undefined
}

/**
 * One `Deno.Conn` as the engine's {@link Socket}. Reads go into one buffer and are copied out
 * (the engine may keep the chunk); writes are queued and written one at a time, since a write is
 * asynchronous and may take part of the bytes. Chunks queued while a write is under way leave
 * together in the next one.
 */
class DenoSocket implements Socket {
  readonly #conn: Deno.Conn
  /** The resource id for {@link coreIo}, or `undefined` to go through `#conn`'s methods. */
  readonly #rid: number | undefined
  readonly encrypted: boolean
  #events!: SocketEvents
  #paused: PromiseWithResolvers<void> | undefined
  #queue: Uint8Array[] = []
  #queued = 0
  #writing = false
  #needDrain = false
  #ending = false
  /** {@link endAndClose}: once the queue is written, close instead of half-closing. */
  #closeAfterWrites = false
  #writeEnded = false
  #readEnded = false
  #done = false

  constructor(conn: Deno.Conn, encrypted: boolean) {
    this.#conn = conn
    this.#rid = resourceId(conn)
    this.encrypted = encrypted
  }

  /** Start reading, reporting to `events`. */
  start(events: SocketEvents): this {
    this.#events = events
    void this.#read()
    return this
  }

  async #read(): Promise<void> {
    const conn = this.#conn
    const rid = this.#rid
    let buffer = new Uint8Array(FIRST_READ_SIZE)
    try {
      for (;;) {
        if (this.#paused) await this.#paused.promise
        if (this.#done) return
        // 0 is the end of the stream from the op; `conn.read` says null.
        const read =
          rid === undefined ? ((await conn.read(buffer)) ?? 0) : await coreIo!.read(rid, buffer)
        if (this.#done) return
        if (read === 0) break
        // A copy (small ones share a slab): the buffer is read into again while the engine may
        // keep the chunk.
        const chunk = copyBytes(buffer, 0, read)
        if (read > 4096) collectReadBuffers(read)
        if (read === buffer.byteLength && read < READ_SIZE) buffer = new Uint8Array(read * 2)
        // A read already under way when pause() came: its bytes wait for resume().
        if (this.#paused) await this.#paused.promise
        if (this.#done) return
        this.#events.data(chunk)
      }
    } catch (error) {
      return this.#fail(error)
    }
    this.#readEnded = true
    this.#events.end()
    if (this.#writeEnded) this.#close()
  }

  write(bytes: Uint8Array): boolean {
    if (this.#done || this.#ending) return true
    this.#queue.push(bytes)
    this.#queued += bytes.byteLength
    if (!this.#writing) this.#flush()
    if (this.#queued < HIGH_WATER_MARK) return true
    this.#needDrain = true
    return false
  }

  /**
   * Write the head of the queue (joined with what follows it); {@link #written} goes on. Plain
   * callbacks rather than an async loop: one promise per write, none for the loop.
   */
  #flush(): void {
    const queue = this.#queue
    if (queue.length === 0 || this.#done) return this.#flushed()
    this.#writing = true
    const bytes = queue.length > 1 ? coalesce(queue) : queue[0]!
    let pending: Promise<number>
    try {
      pending = this.#rid === undefined ? this.#conn.write(bytes) : coreIo!.write(this.#rid, bytes)
    } catch (error) {
      this.#writeFailed(error)
      return
    }
    pending.then(this.#written, this.#writeFailed)
  }

  readonly #written = (written: number): void => {
    if (this.#done) {
      this.#writing = false
      return
    }
    const queue = this.#queue
    const bytes = queue[0]!
    this.#queued -= written
    if (written < bytes.byteLength) queue[0] = bytes.subarray(written)
    else queue.shift()
    this.#flush()
  }

  readonly #writeFailed = (error: unknown): void => {
    this.#writing = false
    this.#fail(error)
  }

  /** The queue is empty: a pending end goes out, or the engine hears that it may write again. */
  #flushed(): void {
    // `close(2)`: the FIN follows what the kernel holds; the pending read ends with the close.
    if (this.#ending && this.#closeAfterWrites) return this.#close()
    if (this.#ending && !this.#done && !this.#writeEnded) {
      this.#writing = true
      this.#conn.closeWrite().then(() => {
        this.#writing = false
        this.#writeEnded = true
        if (this.#readEnded) this.#close()
      }, this.#writeFailed)
      return
    }
    this.#writing = false
    if (this.#done || this.#writeEnded) return
    if (this.#needDrain) {
      this.#needDrain = false
      this.#events.drain()
    }
  }

  end(): void {
    if (this.#done || this.#ending) return
    this.#ending = true
    if (!this.#writing) this.#flush()
  }

  endAndClose(): void {
    if (!this.encrypted) this.#closeAfterWrites = true
    this.end()
  }

  destroy(): void {
    if (this.#done) return
    this.#done = true
    this.#release()
  }

  pause(): void {
    this.#paused ??= Promise.withResolvers()
  }

  resume(): void {
    const paused = this.#paused
    this.#paused = undefined
    paused?.resolve()
  }

  get remoteAddress(): string | undefined {
    return (this.#conn.remoteAddr as Deno.NetAddr).hostname
  }

  get remotePort(): number | undefined {
    return (this.#conn.remoteAddr as Deno.NetAddr).port
  }

  get localAddress(): string | undefined {
    return (this.#conn.localAddr as Deno.NetAddr).hostname
  }

  get localPort(): number | undefined {
    return (this.#conn.localAddr as Deno.NetAddr).port
  }

  /** Both directions are done: close, and say so. */
  #close(): void {
    if (this.#done) return
    this.#done = true
    this.#release()
    this.#events.close()
  }

  #fail(error: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#release()
    this.#events.close(error)
  }

  #release(): void {
    this.#queue = []
    this.#queued = 0
    this.resume()
    try {
      this.#conn.close()
    } catch {
      // Already closed.
    }
  }
}

/** Join the queued chunks (up to {@link COALESCE_LIMIT}) into the first place of the queue. */
function coalesce(queue: Uint8Array[]): Uint8Array {
  let size = 0
  let count = 0
  while (count < queue.length && size + queue[count]!.byteLength <= COALESCE_LIMIT) {
    size += queue[count]!.byteLength
    count++
  }
  if (count < 2) return queue[0]!
  const joined = new Uint8Array(size)
  let at = 0
  for (const chunk of queue.splice(0, count, joined)) {
    joined.set(chunk, at)
    at += chunk.byteLength
  }
  return joined
}

/**
 * Listen for TCP (or TLS) connections and hand each to `accept`.
 *
 * @example
 * ```ts
 * const listener = await listen({ host: '127.0.0.1', port: 8080 }, accept)
 * await listener.close()
 * ```
 */
export async function listen(options: ListenOptions, accept: Accept): Promise<Listener> {
  const { host, tls } = options
  if (!tls) {
    const listener = Deno.listen({
      hostname: host,
      port: options.port,
      // SO_REUSEPORT: --unstable-net, not in the stable types.
      ...((options.reusePort ? { reusePort: true } : {}) as object),
    })
    void acceptLoop(listener, (conn) => {
      conn.setNoDelay(true)
      const socket = new DenoSocket(conn, false)
      socket.start(accept(socket))
    })
    return { port: (listener.addr as Deno.NetAddr).port, close: async () => listener.close() }
  }
  return listenTls(options, tls, accept)
}

/**
 * Accept until the listener is closed. Resolves once its socket is: the pending accept ends
 * when Deno drops the listener, which closes it on a later turn than `close()`.
 */
async function acceptLoop<C extends Deno.Conn>(
  listener: Deno.Listener<C>,
  take: (conn: C) => void,
): Promise<void> {
  for (;;) {
    let conn: C
    try {
      conn = await listener.accept()
    } catch (error) {
      if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
        return
      }
      // EMFILE and the like: the next connection may fare better.
      await new Promise((resolve) => setTimeout(resolve, 10))
      continue
    }
    take(conn)
  }
}

/** A TLS listener and its accept loop, which ends when the listener's socket is closed. */
interface Accepting {
  readonly listener: Deno.TlsListener
  readonly closed: Promise<void>
}

/** A TLS listener: SNI, reload by a new listener on the port, h2 to Deno's own server. */
function listenTls(options: ListenOptions, first: TlsMaterial, accept: Accept): Listener {
  const http2 = serveHttpOnConnection && options.http2
  const alpnProtocols = http2 ? ['h2', 'http/1.1'] : ['http/1.1']
  const handshakeTimeout = options.handshakeTimeout ?? HANDSHAKE_TIMEOUT
  const served = new Set<Served>()
  let material = first
  let names = 0
  const open = (certs: TlsMaterial, port: number): Accepting => {
    names = 0
    const { certificates } = certs
    const tlsOptions: unknown = {
      hostname: options.host,
      port,
      // Always: a reload is a new listener on the same port (--unstable-net).
      reusePort: true,
      alpnProtocols,
      ...(certificates.length > 1
        ? { [SNI_RESOLVER]: (serverName: string) => resolve(certs, serverName) }
        : { cert: certs.cert, key: certs.key }),
    }
    const listener = Deno.listenTls(tlsOptions as Deno.ListenTlsOptions & Deno.TlsCertifiedKeyPem)
    return { listener, closed: acceptLoop(listener, (conn) => void handshake(conn)) }
  }
  const resolve = (certs: TlsMaterial, serverName: string) => {
    // Each call is a name (or a name and an ALPN offer) this listener has not cached yet.
    if (++names === MAX_SNI_NAMES) setTimeout(() => void swap(material))
    // No SNI (a client that connects by address) comes as an empty name: the default.
    const { cert, key } = selectCertificate(certs.certificates, serverName || undefined)
    return { cert, key }
  }
  const handshake = async (conn: Deno.TlsConn) => {
    let timer: ReturnType<typeof setTimeout> | undefined
    let protocol: string | null
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('TLS handshake timeout')), handshakeTimeout)
      })
      ;({ alpnProtocol: protocol } = await Promise.race([conn.handshake(), timeout]))
    } catch {
      // A failed handshake (TLS 1.0, no shared cipher, a scan, too slow) only loses its socket.
      try {
        conn.close()
      } catch {
        // Already closed.
      }
      return
    } finally {
      clearTimeout(timer)
    }
    if (http2 && protocol === 'h2') return serveH2(conn, http2.handler)
    const socket = new DenoSocket(conn, true)
    socket.start(accept(socket))
  }
  const serveH2 = (conn: Deno.TlsConn, handler: Http2Handler) => {
    const connection = serveHttpOnConnection!(conn, undefined, handler, onError, () => {})
    served.add(connection)
    void connection.finished.finally(() => served.delete(connection))
  }

  let current = open(first, options.port)
  const port = (current.listener.addr as Deno.NetAddr).port
  /**
   * The new listener opens on the port before the old one closes (`reusePort`), so the port is
   * never without one. Resolves once the old socket is closed: until then, Linux may still queue
   * a new connection on it, and the close resets what it queued (unless
   * `net.ipv4.tcp_migrate_req` is set, which hands those to the new listener).
   */
  const swap = (next: TlsMaterial): Promise<void> => {
    const previous = current
    current = open(next, port)
    material = next
    previous.listener.close()
    return previous.closed
  }
  return {
    port,
    close: async () => current.listener.close(),
    setTls: async (next) => swap(next),
    ...(http2
      ? {
          closeHttp2: async () => {
            await Promise.all([...served].map((connection) => connection.shutdown()))
          },
        }
      : {}),
  }
}

/** As `Deno.serve`'s default: log, and answer 500. */
function onError(error: unknown): Response {
  console.error(error)
  return new Response('Internal Server Error', { status: 500 })
}

/**
 * The upstream side: `Deno.connect`, Nagle off (TCP_NODELAY). Rejects when the connection
 * cannot be made.
 */
export const connect: Connect = async (host, port, events) => {
  const conn = await Deno.connect({ hostname: host, port })
  conn.setNoDelay(true)
  return new DenoSocket(conn, false).start(events)
}
