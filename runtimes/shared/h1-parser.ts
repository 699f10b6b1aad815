/**
 * The response side of the HTTP/1.1 upstream client (h1-client.ts): the status line and fields
 * (RFC 9112 §4, §5) and the body's framing (RFC 9112 §6.3): none, Content-Length, chunked
 * (§7.1), or until the connection closes. Strict: anything malformed is an error, and the
 * connection it came on is not used again.
 */
import { Buffer } from 'node:buffer'

/** The longest response head accepted, as nginx's `proxy_buffer_size` bounds it. */
const MAX_HEAD_BYTES = 64 * 1024
/** The longest chunk-size line (with extensions) or trailer field accepted. */
const MAX_LINE_BYTES = 4096

const HEAD_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')
/** RFC 9110 §5.6.2 token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
/** RFC 9112 §4 status-line (RFC 9110 §15: 100–599); the reason phrase may be empty. */
const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: ([^\r\n]*))?$/
const DIGITS = /^\d{1,15}$/
const HEX = /^[0-9A-Fa-f]{1,13}$/
/** RFC 9110 §5.6.3: optional whitespace at either end of a field value. */
const OWS = /^[\t ]+|[\t ]+$/g

/** A response that breaks HTTP/1.1: answered 502 and its connection closed. */
export class UpstreamProtocolError extends Error {
  override name = 'UpstreamProtocolError'
}

/** A parsed response head. */
export interface ResponseHead {
  status: number
  statusText: string
  headers: Headers
  /** Whether the connection may carry another request once this response has ended. */
  keepAlive: boolean
  /** Whether the response has a body at all (RFC 9110 §6.4.1). */
  hasBody: boolean
}

/** What the parser reports, in order: one head, its body's bytes, then its end. */
export interface ResponseEvents {
  head(head: ResponseHead): void
  data(chunk: Uint8Array): void
  end(): void
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  UntilClose,
  Done,
}

/** Parses one response, fed with the bytes as they come off the connection. */
export class ResponseParser {
  #state = State.Head
  /** Bytes of an incomplete head or line, kept until the rest arrives. */
  #partial: Buffer | undefined
  /** Body bytes still due: of the Content-Length, or of the current chunk. */
  #remaining = 0
  #noBody: boolean
  #reported = false
  /** Bytes of trailer fields so far, bounded as a head is. */
  #trailerBytes = 0
  #events: ResponseEvents
  /** Bytes that came after the end of the response (the connection cannot be reused). */
  extra = false

  /** `method` decides whether the response can have a body (HEAD never has one). */
  constructor(method: string, events: ResponseEvents) {
    this.#noBody = method === 'HEAD'
    this.#events = events
  }

  /** Whether the response has ended. */
  get done(): boolean {
    return this.#state === State.Done
  }

  /**
   * Feed bytes from the connection. The end is reported after the bytes are taken, so that
   * {@link extra} is known by then. @throws {UpstreamProtocolError} on a malformed response
   */
  feed(input: Uint8Array): void {
    this.#take(input)
    if (this.#state === State.Done) this.#reportEnd()
  }

  #take(input: Uint8Array): void {
    let chunk = toBuffer(input)
    let at = 0
    if (this.#partial) {
      chunk = Buffer.concat([this.#partial, chunk])
      this.#partial = undefined
    }
    while (at < chunk.length) {
      switch (this.#state) {
        case State.Head: {
          const end = chunk.indexOf(HEAD_END, at)
          if (end === -1) return this.#keep(chunk, at, MAX_HEAD_BYTES, 'Response head too large')
          if (end - at > MAX_HEAD_BYTES) throw new UpstreamProtocolError('Response head too large')
          this.#head(chunk.toString('latin1', at, end))
          at = end + 4
          break
        }
        case State.Length:
          at = this.#body(chunk, at)
          if (this.#remaining === 0) this.#state = State.Done
          break
        case State.ChunkSize: {
          const end = chunk.indexOf(CRLF, at)
          if (end === -1) return this.#keep(chunk, at, MAX_LINE_BYTES, 'Chunk size line too long')
          this.#chunkSize(chunk.toString('latin1', at, end))
          at = end + 2
          break
        }
        case State.ChunkData:
          at = this.#body(chunk, at)
          if (this.#remaining === 0) this.#state = State.ChunkDataEnd
          break
        case State.ChunkDataEnd: {
          // RFC 9112 §7.1: chunk-data is followed by CRLF.
          if (chunk.length - at < 2) return this.#keep(chunk, at, 2, '')
          if (chunk[at] !== 13 || chunk[at + 1] !== 10) {
            throw new UpstreamProtocolError('Missing CRLF after chunk data')
          }
          at += 2
          this.#state = State.ChunkSize
          break
        }
        case State.Trailers: {
          // RFC 9112 §7.1.2: trailer fields are not forwarded (the client side is re-framed).
          const end = chunk.indexOf(CRLF, at)
          if (end === -1) return this.#keep(chunk, at, MAX_LINE_BYTES, 'Trailer field too long')
          const last = end === at
          this.#trailerBytes += end + 2 - at
          if (this.#trailerBytes > MAX_HEAD_BYTES)
            throw new UpstreamProtocolError('Trailers too large')
          at = end + 2
          if (last) this.#state = State.Done
          break
        }
        case State.UntilClose:
          this.#events.data(chunk.subarray(at))
          at = chunk.length
          break
        case State.Done:
          this.extra = true
          return
      }
    }
  }

  /**
   * The connection closed. A body delimited by the close ends here (RFC 9112 §6.3 rule 8);
   * anywhere else the response is incomplete. @throws {UpstreamProtocolError} when incomplete
   */
  close(): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done
      return this.#reportEnd()
    }
    if (this.#state !== State.Done) {
      throw new UpstreamProtocolError(
        this.#state === State.Head && !this.#partial
          ? 'Upstream closed the connection before answering'
          : 'Upstream closed the connection in the middle of the response',
      )
    }
  }

  /** Pass on the body bytes due from `at` (of the length, or of the chunk); where they end. */
  #body(chunk: Buffer, at: number): number {
    const take = Math.min(this.#remaining, chunk.length - at)
    this.#events.data(chunk.subarray(at, at + take))
    this.#remaining -= take
    return at + take
  }

  #keep(chunk: Buffer, at: number, limit: number, tooLong: string): void {
    if (chunk.length - at > limit) throw new UpstreamProtocolError(tooLong)
    // A copy: the connection may reuse the memory of what it read.
    this.#partial = Buffer.from(chunk.subarray(at))
  }

  #reportEnd(): void {
    if (this.#reported) return
    this.#reported = true
    this.#events.end()
  }

  #head(text: string): void {
    const lines = text.split('\r\n')
    const status = STATUS_LINE.exec(lines[0]!)
    if (!status) throw new UpstreamProtocolError('Invalid status line')
    const code = Number(status[2])
    const headers = new Headers()
    let length: string | undefined
    let codings: string | undefined
    let connection = ''
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!
      const colon = line.indexOf(':')
      const name = colon > 0 ? line.slice(0, colon) : ''
      // RFC 9112 §5.2: obs-fold is refused here, as a malformed field.
      if (!TOKEN.test(name)) throw new UpstreamProtocolError('Invalid response header field')
      // RFC 9112 §5.1: the OWS around a value is SP and HTAB, which `Headers` strips itself;
      // String#trim() would also strip obs-text (0xA0, a byte of the value).
      let value = line.slice(colon + 1)
      try {
        headers.append(name, value)
      } catch {
        throw new UpstreamProtocolError('Invalid response header value')
      }
      // Only the framing fields matter here: content-length, transfer-encoding, connection.
      if (name.length !== 14 && name.length !== 17 && name.length !== 10) continue
      value = value.replace(OWS, '')
      const key = name.toLowerCase()
      if (key === 'content-length') {
        if (length !== undefined && length !== value) {
          throw new UpstreamProtocolError('Conflicting Content-Length')
        }
        length = value
      } else if (key === 'transfer-encoding') codings = codings ? `${codings}, ${value}` : value
      else if (key === 'connection') connection += `,${value.toLowerCase()}`
    }
    // RFC 9110 §15.2: interim responses are read and dropped; the final one follows.
    if (code < 200) {
      if (code === 101) throw new UpstreamProtocolError('Unexpected 101 Switching Protocols')
      return
    }
    const http10 = status[1] === '0'
    let keepAlive = http10
      ? /(^|,)\s*keep-alive\s*(,|$)/.test(connection)
      : !/(^|,)\s*close\s*(,|$)/.test(connection)
    const hasBody = !this.#noBody && code !== 204 && code !== 304
    if (!hasBody) this.#state = State.Done
    else if (codings !== undefined) {
      // RFC 9112 §6.3 rule 4: chunked last means chunked; anything else reads until the close.
      // With a Content-Length as well, the connection must not be reused (rule 3).
      if (length !== undefined) keepAlive = false
      if (/(^|,)\s*chunked\s*$/i.test(codings)) this.#state = State.ChunkSize
      else {
        this.#state = State.UntilClose
        keepAlive = false
      }
    } else if (length !== undefined) {
      this.#remaining = parseLength(length)
      this.#state = this.#remaining === 0 ? State.Done : State.Length
    } else {
      this.#state = State.UntilClose
      keepAlive = false
    }
    this.#events.head({ status: code, statusText: status[3] ?? '', headers, keepAlive, hasBody })
  }

  #chunkSize(line: string): void {
    // RFC 9112 §7.1.1: chunk extensions are ignored.
    const semicolon = line.indexOf(';')
    const size = (semicolon === -1 ? line : line.slice(0, semicolon)).trim()
    if (!HEX.test(size)) throw new UpstreamProtocolError('Invalid chunk size')
    this.#remaining = parseInt(size, 16)
    this.#state = this.#remaining === 0 ? State.Trailers : State.ChunkData
  }
}

/** RFC 9110 §8.6: one length, or a list of the same length repeated. */
function parseLength(value: string): number {
  if (DIGITS.test(value)) return Number(value)
  const values = value.split(',').map((part) => part.trim())
  if (values.every((part) => part === values[0]) && DIGITS.test(values[0]!)) {
    return Number(values[0])
  }
  throw new UpstreamProtocolError('Invalid Content-Length')
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}
