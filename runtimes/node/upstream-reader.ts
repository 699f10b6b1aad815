/**
 * Where Node's sockets read into when they read through their own buffers (`onread` on a
 * `net.Socket`, runtimes/node/sockets.ts; `useUserBuffer` on a handle,
 * runtimes/node/handle-sockets.ts): small reads are copied out of one shared buffer, large ones
 * handed over in memory of the socket's own, reused for a relay that only borrows its chunks.
 */
import { Buffer } from 'node:buffer'
import { copyBytes } from '../../src/http1/bytes.ts'
import type { SocketEvents } from '../../src/socket.ts'

/**
 * The shared read buffer: every upstream socket reads into it while its reads are small, and
 * each read is copied out in its callback, before any other socket reads.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
/** Reads up to this size are copied out (into bytes.ts's shared slab: no memory of their own). */
const COPY_MAX = 4 * 1024
/** The size of a socket's own read buffer. */
const OWN_SIZE = 64 * 1024
/** A socket's own buffer with less room than this after a read is left to its chunks. */
const MIN_ROOM = 16 * 1024

/**
 * The chunk borrowed by a `borrowsChunks` handler (src/socket.ts) while it runs, and whether
 * a write kept some of it queued (each socket's `write` tells, through {@link keptIfLent}).
 */
let lent: Uint8Array | undefined
let lentKept = false

/** A socket's write queued `bytes`, even in part: if they are the borrowed chunk, it is kept. */
export function keptIfLent(bytes: Uint8Array): void {
  if (bytes === lent) lentKept = true
}

/**
 * How an upstream socket reads. Small reads (response heads, small answers) go into the
 * shared {@link READ_BUFFER} and are copied out. A large read moves the socket onto a buffer of
 * its own, whose reads are handed over without a copy, each in memory never read into again:
 * the rest of the buffer, or a new one. A handler that only borrows its chunks (a relay) has
 * the same memory back for the next read when its write took the chunk whole. A small read
 * moves the socket back onto the shared buffer.
 */
export class UpstreamReader {
  readonly #events: SocketEvents
  readonly #borrows: boolean
  /** Where the next read goes. */
  #target: Buffer = READ_BUFFER

  constructor(events: SocketEvents) {
    this.#events = events
    this.#borrows = events.borrowsChunks === true
  }

  /** `onread.buffer`: asked on connect and after each read. */
  readonly buffer = (): Buffer => this.#target

  /** `onread.callback`: `buffer` (the target of the read) holds `size` new bytes. */
  readonly callback = (size: number, buffer: Buffer): boolean => {
    const events = this.#events
    if (size <= COPY_MAX) {
      this.#target = READ_BUFFER
      events.data(copyBytes(buffer, 0, size))
      return true
    }
    if (buffer === READ_BUFFER) {
      // A large read: this one is copied, the next ones go into memory of this socket's own.
      const chunk = Buffer.allocUnsafe(size)
      chunk.set(buffer.subarray(0, size))
      this.#target = Buffer.allocUnsafeSlow(OWN_SIZE)
      events.data(chunk)
      return true
    }
    const chunk = buffer.subarray(0, size)
    if (this.#borrows) {
      const outer = lent
      const outerKept = lentKept
      lent = chunk
      lentKept = false
      events.data(chunk)
      const kept = lentKept
      lent = outer
      lentKept = outerKept
      // Nothing holds the chunk: the next read goes into the same memory.
      if (!kept) return true
    } else {
      events.data(chunk)
    }
    this.#target =
      buffer.byteLength - size >= MIN_ROOM
        ? buffer.subarray(size)
        : Buffer.allocUnsafeSlow(OWN_SIZE)
    return true
  }
}
