/**
 * An in-memory socket for the `Socket` contract of src/socket.ts, as the runtime's side
 * of a connection: the test plays the peer (send, FIN, close) and reads what was written. The
 * engine's tests (test/unit/http1/server.test.ts) and the layer-4 ones share it.
 */
import type { Accept, Socket, SocketEvents } from '../../../src/socket.ts'

export class MemorySocket implements Socket {
  /** Everything written, in order. */
  readonly written: Uint8Array[] = []
  ended = false
  /** `endAndClose()` was called: closed after what was written, nothing more read. */
  closedAfterEnd = false
  destroyed = false
  paused = false
  /** What the listener's `accept` answered. */
  events!: SocketEvents
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly encrypted: boolean

  constructor(remoteAddress = '127.0.0.1', remotePort = 40000, encrypted = false) {
    this.remoteAddress = remoteAddress
    this.remotePort = remotePort
    this.encrypted = encrypted
  }

  /** A connection from `remoteAddress`, handed to `accept` as a listener would. */
  static accept(accept: Accept, remoteAddress?: string, remotePort?: number): MemorySocket {
    const socket = new MemorySocket(remoteAddress, remotePort)
    socket.events = accept(socket)
    return socket
  }

  write(bytes: Uint8Array): boolean {
    this.written.push(bytes.slice())
    return true
  }
  end(): void {
    this.ended = true
  }
  endAndClose(): void {
    this.ended = true
    this.closedAfterEnd = true
  }
  destroy(): void {
    this.destroyed = true
  }
  pause(): void {
    this.paused = true
  }
  resume(): void {
    this.paused = false
  }

  /** The peer sends bytes (text is sent as latin1). */
  send(data: string | Uint8Array): void {
    this.events.data(typeof data === 'string' ? latin1(data) : data)
  }
  /** The peer sends its FIN. */
  sendEnd(): void {
    this.events.end()
  }
  /** The connection goes away. */
  sendClose(error?: unknown): void {
    this.events.close(error)
  }
  /** What was written, as latin1 text. */
  output(): string {
    return this.written.map(text).join('')
  }
}

/** Text as bytes, one per char code (latin1). */
export function latin1(data: string): Uint8Array {
  return Uint8Array.from(data, (c) => c.charCodeAt(0))
}

/** Bytes as text, one char per byte. */
export function text(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += String.fromCharCode(byte)
  return out
}

/** Hex (`'0d 0a …'`, spaces ignored) as bytes. */
export function hexBytes(hex: string): Uint8Array {
  const digits = hex.replace(/\s+/g, '')
  return Uint8Array.from({ length: digits.length / 2 }, (_, i) =>
    parseInt(digits.slice(2 * i, 2 * i + 2), 16),
  )
}

/** Bytes side by side. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** A socket whose every call lands in the shared `log`; `writable` is what `write` answers. */
export class LoggedSocket extends MemorySocket {
  writable = true
  constructor(
    readonly name: string,
    readonly log: string[],
    remoteAddress?: string,
    remotePort?: number,
  ) {
    super(remoteAddress, remotePort)
  }
  override write(bytes: Uint8Array): boolean {
    super.write(bytes)
    this.log.push(`${this.name}.write ${text(bytes)}`)
    return this.writable
  }
  override end(): void {
    super.end()
    this.log.push(`${this.name}.end`)
  }
  override destroy(): void {
    super.destroy()
    this.log.push(`${this.name}.destroy`)
  }
  override pause(): void {
    super.pause()
    this.log.push(`${this.name}.pause`)
  }
  override resume(): void {
    super.resume()
    this.log.push(`${this.name}.resume`)
  }
}
