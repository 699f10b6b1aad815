/**
 * The HTTP/1.1 parsers of the engine, on `Uint8Array` only (src/ is runtime-neutral):
 *
 * - {@link RequestParser}: the strict server-side parser every runtime's listeners go through, so
 *   that Node, Deno and Bun accept and refuse exactly the same bytes. It refuses whatever RFC 9112
 *   forbids (and the ambiguous framings request smuggling is made of) with the status to answer.
 * - {@link ResponseParser}: the upstream client's parser for the backends' responses.
 *
 * The edge's semantic checks (`src/edge/validate.ts`: target forms, Host syntax, configured
 * limits, method allow-lists) still run on the parsed head; this module owns the syntax and the
 * framing.
 */
import { FieldList } from './fields.ts'
import type { HeadMemo } from './head-memo.ts'
import {
  concatBytes,
  copySmall,
  CR,
  decodeLatin1,
  HTAB,
  indexOfCrlf,
  indexOfHeadEnd,
  LF,
  SP,
} from './bytes.ts'

// ---------------------------------------------------------------------------------------------
// Character classes (RFC 9110 §5.6.2 token, §5.5 field values; RFC 9112 §3.2 request-target)
// ---------------------------------------------------------------------------------------------

/**
 * Decodes a request head that is all ASCII (UTF-8 reads ASCII as latin1 does): for a head that is
 * a whole read (see RequestParser's `#head`).
 */
const ASCII_HEAD = new TextDecoder()

/** `tchar` (RFC 9110 §5.6.2): 1 for the bytes a token is made of. */
const TCHAR = new Uint8Array(256)
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1
for (let b = 0x30; b <= 0x39; b++) TCHAR[b] = 1
for (let b = 0x41; b <= 0x5a; b++) TCHAR[b] = 1
for (let b = 0x61; b <= 0x7a; b++) TCHAR[b] = 1

/**
 * Bytes of a field value (RFC 9110 §5.5): HTAB, SP, VCHAR and obs-text. No other control (NUL,
 * bare CR or LF included) and no DEL.
 */
const VALUE = new Uint8Array(256)
VALUE[HTAB] = 1
for (let b = 0x20; b <= 0x7e; b++) VALUE[b] = 1
for (let b = 0x80; b <= 0xff; b++) VALUE[b] = 1

/** `qdtext` (RFC 9110 §5.6.4) and the bytes a quoted-pair may escape. */
const QDTEXT = new Uint8Array(256)
QDTEXT[HTAB] = 1
QDTEXT[SP] = 1
QDTEXT[0x21] = 1
for (let b = 0x23; b <= 0x5b; b++) QDTEXT[b] = 1
for (let b = 0x5d; b <= 0x7e; b++) QDTEXT[b] = 1
for (let b = 0x80; b <= 0xff; b++) QDTEXT[b] = 1
const QUOTE = 0x22
const BACKSLASH = 0x5c
const SLASH = 0x2f
const STAR = 0x2a
const QUESTION = 0x3f
const HASH = 0x23
const COLON = 0x3a
const SEMICOLON = 0x3b
const EQUALS = 0x3d

/** Hex digit values (RFC 9112 §7.1 chunk-size), -1 for any other byte. */
const HEX_VALUE = new Int8Array(256).fill(-1)
for (let d = 0; d < 10; d++) HEX_VALUE[0x30 + d] = d
for (let d = 0; d < 6; d++) {
  HEX_VALUE[0x41 + d] = 10 + d
  HEX_VALUE[0x61 + d] = 10 + d
}

/** The longest chunk-size line (chunk-size and extensions, RFC 9112 §7.1.1) accepted. */
const MAX_CHUNK_LINE = 4096
/** Sizes beyond this are refused: 2^53 keeps every count exact in a JavaScript number. */
const MAX_SIZE = Number.MAX_SAFE_INTEGER

const EMPTY = new Uint8Array(0)

/** Lower-case field names, as bytes, for the case-insensitive matches of the framing fields. */
const HOST = bytesOf('host')
const CONTENT_LENGTH = bytesOf('content-length')
const TRANSFER_ENCODING = bytesOf('transfer-encoding')
const CONNECTION = bytesOf('connection')
const UPGRADE = bytesOf('upgrade')
const EXPECT = bytesOf('expect')

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0))
}

/**
 * Whether `bytes[start, start + lower.length)` is `lower`, ASCII case-insensitively. The bytes are
 * tchars and `lower` holds letters and `-` only, so `| 0x20` cannot make another tchar match.
 */
function isName(bytes: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) if ((bytes[start + i]! | 0x20) !== lower[i]) return false
  return true
}

/**
 * Lower-case names that most response heads carry, by length: a name among them is given as
 * this very string, with no slice and no `toLowerCase` made for it.
 */
const COMMON_RESPONSE_NAMES: string[][] = []
for (const name of [
  'age',
  'date',
  'etag',
  'vary',
  'server',
  'expires',
  'location',
  'connection',
  'keep-alive',
  'set-cookie',
  'content-type',
  'accept-ranges',
  'cache-control',
  'last-modified',
  'content-length',
  'content-encoding',
  'transfer-encoding',
]) {
  ;(COMMON_RESPONSE_NAMES[name.length] ??= []).push(name)
}

/**
 * The common name that the tchars `bytes[start, end)` spell in any case (see {@link isName}), or
 * `undefined`.
 */
function commonResponseName(bytes: Uint8Array, start: number, end: number): string | undefined {
  const names = COMMON_RESPONSE_NAMES[end - start]
  if (names === undefined) return undefined
  next: for (const name of names) {
    for (let i = 0; i < name.length; i++) {
      if ((bytes[start + i]! | 0x20) !== name.charCodeAt(i)) continue next
    }
    return name
  }
  return undefined
}

/**
 * The offsets of the field lines of the head being parsed, four a line: name start, colon, value
 * start, value end. Shared: a parser fills and reads them within one synchronous call.
 */
let fieldMarks: Int32Array = new Int32Array(256)

/** {@link fieldMarks} with room for `size` offsets, those already there kept. */
function growMarks(size: number): Int32Array {
  const grown = new Int32Array(Math.max(size, fieldMarks.length * 2))
  grown.set(fieldMarks)
  return (fieldMarks = grown)
}

// ---------------------------------------------------------------------------------------------
// The request parser
// ---------------------------------------------------------------------------------------------

/** A parsed request head (RFC 9112 §2–§5). */
export interface RequestHead {
  readonly method: string
  /** The request-target exactly as sent (RFC 9112 §3.2). */
  readonly target: string
  /** The minor version: 1 for HTTP/1.1, 0 for HTTP/1.0. */
  readonly minor: 0 | 1
  /**
   * Field lines in order, duplicates kept: [name, value, name, value, …]; names as sent, values
   * without surrounding OWS.
   */
  readonly fields: string[]
  /** Body framing (RFC 9112 §6.3): none, Content-Length, or chunked. */
  readonly framing: 'none' | 'length' | 'chunked'
  /** The Content-Length when framing is 'length' (0 otherwise). */
  readonly length: number
  /**
   * Whether the connection may carry another request after this one (RFC 9112 §9.3: 1.1 unless
   * `close`, 1.0 only with `keep-alive`).
   */
  readonly keepAlive: boolean
  /** The Upgrade field's value when Connection lists `upgrade` (RFC 9110 §7.8); undefined otherwise. */
  readonly upgrade: string | undefined
  /** `Expect: 100-continue` (RFC 9110 §10.1.1), case-insensitive; never in HTTP/1.0. */
  readonly expectContinue: boolean
  /** The Host field value, or undefined (lowercase lookup done once here). */
  readonly host: string | undefined
  /** Bytes of the head, request line and final CRLF included. */
  readonly size: number
}

/** What the request parser reports, in order: a head, its body's bytes, then its end. */
export interface RequestParserEvents {
  head(head: RequestHead): void
  /**
   * Body bytes (de-chunked). The chunk may be a view of the input: copy is not required, input
   * buffers are not reused by the sockets.
   */
  data(chunk: Uint8Array): void
  /**
   * The message ended. The parser then STOPS and keeps any further bytes until next() is called
   * (pipelining: the connection answers in order).
   */
  end(): void
}

/**
 * Bytes that break HTTP/1.1: `status` is what the server answers (400, 413, 414, 431, 501, 505)
 * before closing.
 */
export class HttpParseError extends Error {
  override name = 'HttpParseError'
  /** The status to answer with. */
  readonly status: number

  constructor(status: number, message: string) {
    super(message)
    this.status = status
  }
}

/** Options of {@link RequestParser}. */
export interface RequestParserOptions {
  /** The longest head accepted, request line and fields (RFC 6585 §5: 431 beyond). */
  maxHeadBytes: number
}

/**
 * The value of the first field named `lowerName` (ASCII case-insensitive), or undefined.
 *
 * @example
 * ```ts
 * fieldValue(head.fields, 'user-agent')
 * ```
 */
export function fieldValue(fields: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) return fields[i + 1]
  }
  return undefined
}

const HEAD = 0
const LENGTH = 1
const CHUNK_SIZE = 2
const CHUNK_DATA = 3
const CHUNK_DATA_END = 4
const TRAILERS = 5
const STOPPED = 6
const FAILED = 7

/** The parts of an incomplete head, as {@link RequestParser}'s check of its bytes is in them. */
const PART_METHOD = 0
const PART_TARGET = 1
const PART_VERSION = 2
/** At the start of a field line, or of the final empty line. */
const PART_LINE = 3
const PART_NAME = 4
const PART_OWS = 5
const PART_VALUE = 6
const PART_VALUE_CR = 7
/** After the CR of the final empty line. */
const PART_END = 8

/**
 * The strict HTTP/1.1 request parser (RFC 9112), fed with the bytes of one connection. It reports
 * one message at a time and stops at its end, keeping what follows (a pipelined request, or an
 * upgraded connection's first bytes) until {@link next} or {@link takeRest}.
 *
 * Refusals throw {@link HttpParseError}; the connection is then answered and closed, since its
 * framing can no longer be trusted (RFC 9112 §6.3). The parser then throws the same error again.
 *
 * @example
 * ```ts
 * const parser = new RequestParser({ head, data, end }, { maxHeadBytes: 16384 })
 * socket.on('data', (bytes) => parser.feed(bytes))
 * ```
 */
export class RequestParser {
  readonly #events: RequestParserEvents
  readonly #maxHead: number
  #state = HEAD
  /** The bytes being parsed: an input as received, or an accumulator (`#owned`). */
  #buf: Uint8Array = EMPTY
  #pos = 0
  #len = 0
  /** Whether `#buf` is ours: free room past `#len` may be written (never bytes before it). */
  #owned = false
  /** Inputs not in `#buf` yet, in order, and their total size. */
  #queue: Uint8Array[] = []
  #queued = 0
  /** Bytes from `#pos` already searched for the end of the line, or checked ({@link #scan}). */
  #scanned = 0
  /**
   * Where {@link #scan} is in an incomplete head (a `PART_` constant), and its offsets from
   * `#pos`: the start of the current part (target, version or field name), the colon and the
   * value of a field line. `#codings`: a Transfer-Encoding line was seen.
   */
  #part = PART_METHOD
  #start = 0
  #colon = 0
  #value = 0
  #codings = false
  /** Whether a byte of the current message (not a leading CRLF) arrived. */
  #started = false
  /** Body bytes still due: of the Content-Length, or of the current chunk. */
  #remaining = 0
  #trailerBytes = 0
  #error: HttpParseError | undefined

  constructor(events: RequestParserEvents, options: RequestParserOptions) {
    this.#events = events
    this.#maxHead = options.maxHeadBytes
  }

  /** Bytes received and not parsed yet (kept while stopped, or an incomplete head/line). */
  get buffered(): number {
    return this.#len - this.#pos + this.#queued
  }

  /**
   * Whether a message has begun (any byte of it arrived, leading empty lines aside) and not
   * ended. While stopped after an end, this is false until {@link next}.
   */
  get inMessage(): boolean {
    const state = this.#state
    return (state === HEAD && this.#started) || (state >= LENGTH && state <= TRAILERS)
  }

  /** Whether the head of the current message is complete (body phase). */
  get inBody(): boolean {
    return this.#state >= LENGTH && this.#state <= TRAILERS
  }

  /**
   * Take bytes from the connection and parse until a message ends (then stop and keep the rest).
   * @throws {HttpParseError}
   */
  feed(input: Uint8Array): void {
    if (this.#error) throw this.#error
    if (input.length === 0) return
    if (this.#len === this.#pos && this.#queued === 0) {
      this.#buf = input
      this.#pos = 0
      this.#len = input.length
      this.#owned = false
    } else {
      this.#queue.push(input)
      this.#queued += input.length
    }
    if (this.#state !== STOPPED) this.#run()
  }

  /**
   * Go on with the bytes kept, after `end()` was reported (the next pipelined request).
   * @throws {HttpParseError}
   */
  next(): void {
    if (this.#error) throw this.#error
    if (this.#state !== STOPPED) return
    this.#state = HEAD
    this.#run()
  }

  /** Take the unparsed bytes kept (after an Upgrade request's end: they belong to the tunnel). */
  takeRest(): Uint8Array {
    let rest = this.#buf.subarray(this.#pos, this.#len)
    for (const input of this.#queue) rest = rest.length === 0 ? input : concatBytes(rest, input)
    this.#buf = EMPTY
    this.#pos = this.#len = this.#queued = this.#scanned = 0
    this.#queue = []
    this.#owned = false
    return rest
  }

  /** Parse what is buffered until more bytes are needed, or the message ends. */
  #run(): void {
    try {
      for (;;) {
        if (this.#pos === this.#len) {
          const input = this.#queue.shift()
          if (input === undefined) return
          this.#queued -= input.length
          this.#buf = input
          this.#pos = 0
          this.#len = input.length
          this.#owned = false
          this.#scanned = 0
        }
        const budget = this.#step()
        if (budget === 0) {
          if (this.#state === STOPPED) return
          continue
        }
        // Stuck: more bytes are needed, at most `budget` from `#pos` for this head or line.
        if (this.#queued === 0) return
        this.#pull(budget)
      }
    } catch (error) {
      if (error instanceof HttpParseError) {
        this.#state = FAILED
        this.#error = error
      }
      throw error
    }
  }

  /**
   * Move bytes of the queued inputs into an accumulator after the unparsed ones, enough for a
   * construct of at most `budget` bytes. Bytes before `#len` are never overwritten: body chunks
   * already handed out may be views of them.
   */
  #pull(budget: number): void {
    const rest = this.#len - this.#pos
    let take = Math.min(Math.max(1, budget - rest), this.#queued)
    let room = this.#owned ? this.#buf.length - this.#len : 0
    if (room < take) {
      const size = rest + take
      // Grow geometrically, so that a head sent byte by byte is copied O(log n) times.
      const buf = new Uint8Array(Math.min(Math.max(256, size * 2), Math.max(size, budget + 8)))
      buf.set(this.#buf.subarray(this.#pos, this.#len))
      this.#buf = buf
      this.#pos = 0
      this.#len = rest
      this.#owned = true
      room = buf.length - rest
    }
    take = Math.min(take, room)
    while (take > 0) {
      const input = this.#queue[0]!
      const part = input.length <= take ? input : input.subarray(0, take)
      this.#buf.set(part, this.#len)
      this.#len += part.length
      this.#queued -= part.length
      take -= part.length
      if (part === input) this.#queue.shift()
      else this.#queue[0] = input.subarray(part.length)
    }
  }

  /**
   * One step of the state machine on `#buf[#pos, #len)` (never empty). Returns 0 after progress,
   * or how many bytes from `#pos` the current construct may need when it needs more.
   */
  #step(): number {
    switch (this.#state) {
      case HEAD:
        return this.#headStep()
      case LENGTH: {
        this.#body()
        if (this.#remaining === 0) this.#finish()
        return 0
      }
      case CHUNK_SIZE:
        return this.#chunkSizeStep()
      case CHUNK_DATA:
        this.#body()
        if (this.#remaining === 0) this.#state = CHUNK_DATA_END
        return 0
      case CHUNK_DATA_END: {
        // RFC 9112 §7.1: chunk-data is followed by CRLF.
        const buf = this.#buf
        const pos = this.#pos
        if (buf[pos] !== CR) throw new HttpParseError(400, 'Missing CRLF after chunk data')
        if (this.#len - pos < 2) return 2
        if (buf[pos + 1] !== LF) throw new HttpParseError(400, 'Missing CRLF after chunk data')
        this.#pos = pos + 2
        this.#state = CHUNK_SIZE
        return 0
      }
      case TRAILERS:
        return this.#trailerStep()
      default:
        // STOPPED: nothing is parsed until next(). (FAILED never runs.)
        return 0
    }
  }

  /** Hand on the body bytes due (of the length, or of the chunk) that are here. */
  #body(): void {
    const pos = this.#pos
    const take = Math.min(this.#remaining, this.#len - pos)
    this.#pos = pos + take
    this.#remaining -= take
    this.#events.data(this.#buf.subarray(pos, pos + take))
  }

  /** The message ended: stop, and report it. */
  #finish(): void {
    this.#state = STOPPED
    this.#started = false
    this.#scanned = 0
    this.#events.end()
  }

  #headStep(): number {
    const buf = this.#buf
    const len = this.#len
    let pos = this.#pos
    if (!this.#started) {
      // RFC 9112 §2.2: empty lines before the request line are ignored. As llhttp does, any CR
      // or LF there is skipped (they frame nothing).
      while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++
      this.#pos = pos
      if (pos === len) return 0
      this.#started = true
    }
    const max = this.#maxHead
    const limit = Math.min(len, pos + max)
    // The common case, a whole head in one read, is parsed in one pass at the first try. After
    // that, the bytes are checked as they arrive (#scan: each once, so that a head sent in many
    // pieces costs linear time), and the head is parsed again as soon as a byte that #head
    // refuses, or the end of the head, is here. #head alone gives the verdict, refusing bytes in
    // the order they come: it does not depend on the pieces.
    if (this.#scanned === 0) {
      if (this.#head(buf, pos, limit) !== -1) return 0
      // (#head refused nothing here: the check only catches up, for the bytes to come.)
      this.#scan(buf, pos, limit)
    } else if (this.#scan(buf, pos, limit) && this.#head(buf, pos, limit) !== -1) return 0
    if (limit - pos >= max) {
      const lf = buf.indexOf(LF, pos)
      throw lf !== -1 && lf < limit
        ? new HttpParseError(431, 'Request header fields too large')
        : new HttpParseError(414, 'Request line too long')
    }
    return max
  }

  /**
   * Check the bytes of an incomplete head that arrived since the last call, byte by byte, as
   * #head reads them (the same rules, in the same order). Returns true at the first byte #head
   * refuses (it then names the problem), or at the end of the head; false when all is well so
   * far and the head goes on (the place is kept for the next bytes).
   */
  #scan(buf: Uint8Array, pos: number, limit: number): boolean {
    if (this.#scanned === 0) {
      this.#part = PART_METHOD
      this.#codings = false
    }
    let part = this.#part
    let start = pos + this.#start
    let colon = pos + this.#colon
    let value = pos + this.#value
    let at = pos + this.#scanned
    // One byte at a time, the runs of a method, target, name or value in a tight loop.
    scan: for (; at < limit; at++) {
      let b = buf[at]!
      switch (part) {
        case PART_METHOD:
          // RFC 9112 §3: method = token, then one SP.
          while (TCHAR[b]) {
            if (++at === limit) break scan
            b = buf[at]!
          }
          if (b !== SP || at === pos) return true
          part = PART_TARGET
          start = at + 1
          break
        case PART_TARGET:
          // RFC 9112 §3.2: visible ASCII, then one SP.
          while (b > 0x20 && b < 0x7f) {
            if (++at === limit) break scan
            b = buf[at]!
          }
          if (b !== SP || at === start || backslashBeforePath(buf, start, at)) return true
          part = PART_VERSION
          start = at + 1
          break
        case PART_VERSION: {
          // RFC 9112 §2.3: HTTP/1.0 or HTTP/1.1 (505 for another major version), then CRLF.
          const want = VERSION[at - start]!
          if (want === -1 ? b < 0x30 || b > 0x39 : b !== want) return true
          if (b === LF) {
            if (buf[start + 5] !== 0x31 || buf[start + 7]! > 0x31) return true
            part = PART_LINE
          }
          break
        }
        case PART_LINE:
          // RFC 9112 §5: a field name, or the empty line that ends the head.
          if (b === CR) part = PART_END
          else if (TCHAR[b]) {
            part = PART_NAME
            start = at
          } else return true // obs-fold (RFC 9112 §5.2), or not a field name
          break
        case PART_END:
          // The end of the head (then parsed whole), or a bare CR (refused).
          return true
        case PART_NAME:
          while (TCHAR[b]) {
            if (++at === limit) break scan
            b = buf[at]!
          }
          if (b !== COLON) return true // whitespace before the colon too (RFC 9112 §5.1)
          part = PART_OWS
          colon = at
          break
        case PART_OWS:
          if (b === SP || b === HTAB) break
          part = PART_VALUE
          value = at
          at-- // the value's first byte, next
          break
        case PART_VALUE:
          // RFC 9110 §5.5: HTAB, SP, VCHAR, obs-text; then CRLF.
          while ((b >= 0x20 && b !== 0x7f) || b === HTAB) {
            if (++at === limit) break scan
            b = buf[at]!
          }
          if (b !== CR) return true
          part = PART_VALUE_CR
          break
        default: {
          // PART_VALUE_CR: the end of a field line, where #head checks the framing fields.
          if (b !== LF) return true
          part = PART_LINE
          const length = colon - start
          if (length === 14 && isName(buf, start, CONTENT_LENGTH)) {
            let end = at - 1
            while (end > value && (buf[end - 1] === SP || buf[end - 1] === HTAB)) end--
            try {
              contentLength(buf, value, end)
            } catch {
              return true
            }
          } else if (length === 17 && isName(buf, start, TRANSFER_ENCODING)) {
            if (this.#codings) return true
            this.#codings = true
          }
        }
      }
    }
    this.#part = part
    this.#start = start - pos
    this.#colon = colon - pos
    this.#value = value - pos
    this.#scanned = limit - pos
    return false
  }

  /**
   * Parse the head that starts at `start`, if it ends before `limit`: report it and return where
   * it ends. Returns -1 when `limit` comes first; throws at the first byte that is not allowed.
   */
  #head(buf: Uint8Array, start: number, limit: number): number {
    // RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF
    let at = start
    while (TCHAR[buf[at]!]) at++
    if (at >= limit) return -1
    if (at === start || buf[at] !== SP) throw new HttpParseError(400, 'Invalid method')
    const methodEnd = at
    const targetStart = ++at
    // RFC 9112 §3.2: the target is visible ASCII; exactly one SP separates the parts.
    for (let b = buf[at]!; b > 0x20 && b < 0x7f; b = buf[++at]!);
    if (at >= limit) return -1
    if (
      at === targetStart ||
      buf[at] !== SP ||
      (buf[targetStart] !== SLASH && backslashBeforePath(buf, targetStart, at))
    ) {
      throw new HttpParseError(400, 'Invalid request target')
    }
    const targetEnd = at++
    if (at + 10 > limit) {
      // Refuse a version already wrong, so that a complete but malformed head does not wait.
      versionPrefix(buf, at, limit)
      return -1
    }
    const minor = this.#version(buf, at)
    at += 10

    // RFC 9112 §5: field-line = field-name ":" OWS field-value OWS, then CRLF. Field lines
    // are counted, and their offsets kept in the shared marks (`index`: the line's number).
    let marks = fieldMarks
    let count = 0
    /** The bytes of the values OR-ed together: obs-text when 0x80 is set. */
    let high = 0
    let host = -1
    let hosts = 0
    let lengths = 0
    let length = 0
    let codings = -1
    let connection: number[] | undefined
    let upgrade: number[] | undefined
    let expect: number[] | undefined
    let end: number
    for (;;) {
      if (at >= limit) return -1
      if (buf[at] === CR) {
        if (at + 1 >= limit) return -1
        if (buf[at + 1] !== LF) throw new HttpParseError(400, 'Invalid field name')
        end = at + 2
        break
      }
      const nameStart = at
      while (TCHAR[buf[at]!]) at++
      if (at >= limit) return -1
      const colon = at
      if (buf[colon] !== COLON || colon === nameStart) {
        const b = buf[nameStart]
        throw new HttpParseError(
          400,
          b === SP || b === HTAB
            ? 'Obsolete line folding' // RFC 9112 §5.2
            : b === COLON
              ? 'Empty field name'
              : 'Invalid field name', // whitespace before the colon too (RFC 9112 §5.1)
        )
      }
      at++
      while (buf[at] === SP || buf[at] === HTAB) at++
      const valueStart = at
      // VCHAR, SP, HTAB and obs-text (the VALUE table, as comparisons: faster here).
      for (let b = buf[at]!; (b >= 0x20 && b !== 0x7f) || b === HTAB; b = buf[++at]!) high |= b
      if (at >= limit) return -1
      if (buf[at] !== CR) throw new HttpParseError(400, 'Invalid character in a field value')
      if (at + 1 >= limit) return -1
      if (buf[at + 1] !== LF) throw new HttpParseError(400, 'Invalid character in a field value')
      let valueEnd = at
      while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) {
        valueEnd--
      }
      at += 2
      const index = count++
      if (count * 4 > marks.length) marks = growMarks(count * 4)
      marks[index * 4] = nameStart
      marks[index * 4 + 1] = colon
      marks[index * 4 + 2] = valueStart
      marks[index * 4 + 3] = valueEnd
      switch (colon - nameStart) {
        case 4:
          if (isName(buf, nameStart, HOST)) {
            hosts++
            host = index
          }
          break
        case 14:
          if (isName(buf, nameStart, CONTENT_LENGTH)) {
            lengths++
            length = contentLength(buf, valueStart, valueEnd)
          }
          break
        case 17:
          if (isName(buf, nameStart, TRANSFER_ENCODING)) {
            // RFC 9112 §6.1: refused rather than combined, as the edge corpus expects.
            if (codings !== -1) throw new HttpParseError(400, 'Duplicate Transfer-Encoding')
            codings = index
          }
          break
        case 10:
          if (isName(buf, nameStart, CONNECTION)) (connection ??= []).push(index)
          break
        case 7:
          if (isName(buf, nameStart, UPGRADE)) (upgrade ??= []).push(index)
          break
        case 6:
          if (isName(buf, nameStart, EXPECT)) (expect ??= []).push(index)
          break
      }
    }

    // Framing (RFC 9112 §6.1, §6.3): anything ambiguous is refused, never guessed.
    if (lengths > 1) throw new HttpParseError(400, 'Duplicate Content-Length')
    if (codings !== -1 && lengths > 0) {
      throw new HttpParseError(400, 'Both Content-Length and Transfer-Encoding')
    }
    if (codings !== -1 && minor === 0)
      throw new HttpParseError(400, 'Transfer-Encoding in HTTP/1.0')
    // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
    if (hosts > 1) throw new HttpParseError(400, 'Duplicate Host')
    if (hosts === 0 && minor === 1) throw new HttpParseError(400, 'Missing Host')

    // One decoding of the whole head: byte offsets are string offsets (latin1). A read that holds
    // this head and nothing else (most do) is decoded whole, as it is: a view of a part of it
    // costs a typed array of its own (on Bun, more than the decoding). Its last CRLF is then in
    // the text too, which nothing reads.
    const text =
      start === 0 && end === buf.length && high < 0x80
        ? ASCII_HEAD.decode(buf)
        : decodeLatin1(buf, start, end - 2, high < 0x80)
    const fields = new Array<string>(count * 2)
    for (let i = 0; i < count; i++) {
      fields[i * 2] = text.slice(marks[i * 4]! - start, marks[i * 4 + 1]! - start)
      fields[i * 2 + 1] = text.slice(marks[i * 4 + 2]! - start, marks[i * 4 + 3]! - start)
    }

    let framing: RequestHead['framing'] = lengths > 0 ? 'length' : 'none'
    if (codings !== -1) {
      checkCodings(fields[codings * 2 + 1]!)
      framing = 'chunked'
    }
    let close = false
    let keepAlive = false
    let upgrading = false
    if (connection) {
      for (const index of connection) {
        const options = fields[index * 2 + 1]!.toLowerCase()
        // The usual single option first, then a list (RFC 9110 §7.6.1).
        if (options === 'keep-alive') keepAlive = true
        else if (options === 'close') close = true
        else
          for (const option of options.split(',')) {
            const token = trimOws(option)
            if (token === 'close') close = true
            else if (token === 'keep-alive') keepAlive = true
            else if (token === 'upgrade') upgrading = true
          }
      }
    }
    let expectContinue = false
    // RFC 9110 §10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
    if (expect && minor === 1) {
      for (const index of expect) {
        if (fields[index * 2 + 1]!.toLowerCase() === '100-continue') expectContinue = true
      }
    }
    const head: RequestHead = {
      method: text.slice(0, methodEnd - start),
      target: text.slice(targetStart - start, targetEnd - start),
      minor,
      fields,
      framing,
      length: framing === 'length' ? length : 0,
      // RFC 9112 §9.3: persistent by default in 1.1; in 1.0 only with keep-alive.
      keepAlive: !close && (minor === 1 || keepAlive),
      upgrade:
        upgrading && upgrade
          ? upgrade.map((index) => fields[index * 2 + 1]!).join(', ')
          : undefined,
      expectContinue,
      host: host === -1 ? undefined : fields[host * 2 + 1],
      size: end - start,
    }
    this.#pos = end
    this.#scanned = 0
    if (framing === 'chunked') {
      this.#state = CHUNK_SIZE
    } else if (framing === 'length' && length > 0) {
      this.#state = LENGTH
      this.#remaining = length
    } else {
      // RFC 9112 §6.3 rule 7: a request with neither field has no body.
      this.#events.head(head)
      this.#finish()
      return end
    }
    this.#events.head(head)
    return end
  }

  /** `HTTP-version = "HTTP/" DIGIT "." DIGIT` then CRLF, at `at` (RFC 9112 §2.3). */
  #version(buf: Uint8Array, at: number): 0 | 1 {
    const major = buf[at + 5]! - 0x30
    const minor = buf[at + 7]! - 0x30
    if (
      buf[at] !== 0x48 || // H
      buf[at + 1] !== 0x54 || // T
      buf[at + 2] !== 0x54 || // T
      buf[at + 3] !== 0x50 || // P
      buf[at + 4] !== 0x2f || // /
      !(major >= 0 && major <= 9) ||
      buf[at + 6] !== 0x2e || // .
      !(minor >= 0 && minor <= 9) ||
      buf[at + 8] !== CR ||
      buf[at + 9] !== LF
    ) {
      throw new HttpParseError(400, 'Invalid request line')
    }
    // RFC 9110 §15.6.6: 505 for another major version. Another 1.x is refused as llhttp does.
    if (major !== 1) throw new HttpParseError(505, 'HTTP version not supported')
    if (minor > 1) throw new HttpParseError(400, 'Invalid HTTP version')
    return minor as 0 | 1
  }

  /** The chunk-size line (RFC 9112 §7.1), when it is complete. */
  #chunkSizeStep(): number {
    const buf = this.#buf
    const pos = this.#pos
    const limit = Math.min(this.#len, pos + MAX_CHUNK_LINE)
    const lf = buf.indexOf(LF, pos + this.#scanned)
    if (lf === -1 || lf >= limit) {
      if (limit - pos >= MAX_CHUNK_LINE) throw new HttpParseError(400, 'Chunk size line too long')
      this.#scanned = limit - pos
      return MAX_CHUNK_LINE
    }
    const cr = lf - 1
    if (cr < pos || buf[cr] !== CR) throw new HttpParseError(400, 'Bare LF in a chunk size line')
    // chunk-size = 1*HEXDIG
    let at = pos
    let size = 0
    for (let digit = HEX_VALUE[buf[at]!]!; digit !== -1; digit = HEX_VALUE[buf[++at]!]!) {
      size = size * 16 + digit
      if (size > MAX_SIZE) throw new HttpParseError(400, 'Chunk size too large')
    }
    if (at === pos) throw new HttpParseError(400, 'Invalid chunk size')
    chunkExtensions(buf, at, cr)
    this.#scanned = 0
    this.#pos = lf + 1
    if (size === 0) {
      this.#state = TRAILERS
      this.#trailerBytes = 0
    } else {
      this.#state = CHUNK_DATA
      this.#remaining = size
    }
    return 0
  }

  /** One trailer field line, or the empty line that ends the message (RFC 9112 §7.1.2). */
  #trailerStep(): number {
    const buf = this.#buf
    const pos = this.#pos
    const budget = this.#maxHead - this.#trailerBytes
    const limit = Math.min(this.#len, pos + budget)
    const lf = buf.indexOf(LF, pos + this.#scanned)
    if (lf === -1 || lf >= limit) {
      if (limit - pos >= budget) throw new HttpParseError(431, 'Trailer section too large')
      this.#scanned = limit - pos
      return budget
    }
    const cr = lf - 1
    if (cr < pos || buf[cr] !== CR) throw new HttpParseError(400, 'Bare LF in the trailers')
    this.#scanned = 0
    this.#pos = lf + 1
    this.#trailerBytes += lf + 1 - pos
    if (cr === pos) {
      this.#finish()
      return 0
    }
    // The same rules as the head's fields; trailers are then dropped (not forwarded).
    let at = pos
    while (TCHAR[buf[at]!]) at++
    if (at === pos || buf[at] !== COLON) throw new HttpParseError(400, 'Invalid trailer field')
    for (at++; at < cr; at++) {
      if (!VALUE[buf[at]!]) throw new HttpParseError(400, 'Invalid character in a trailer field')
    }
    return 0
  }
}

/**
 * Whether the request-target `buf[start, end)` has a backslash before its path: in the scheme or
 * the authority of an absolute-form, or anywhere in an authority-form. RFC 3986 §2 allows no `\`
 * in a URI, and WHATWG URL (which the edge parses an absolute-form with) reads it as `/`, so that
 * `http://examp\le.com/a` would be host `examp`. In a path or a query (origin-form, or after the
 * authority) llhttp in strict mode accepts it, and so does fulcrum; as llhttp, it leaves the
 * asterisk-form (the edge takes `*` alone).
 */
function backslashBeforePath(buf: Uint8Array, start: number, end: number): boolean {
  const first = buf[start]
  if (first === SLASH || first === STAR) return false
  const backslash = buf.indexOf(BACKSLASH, start)
  if (backslash === -1 || backslash >= end) return false
  // The authority follows `scheme://` (RFC 3986 §3) and ends at the path, query or fragment.
  let authority = -1
  for (let at = start; at + 2 < backslash; at++) {
    if (buf[at] === COLON && buf[at + 1] === SLASH && buf[at + 2] === SLASH) {
      authority = at + 3
      break
    }
  }
  if (authority === -1) return true
  for (let at = authority; at < backslash; at++) {
    const b = buf[at]
    if (b === SLASH || b === QUESTION || b === HASH) return false
  }
  return true
}

/** `HTTP/` DIGIT `.` DIGIT CR LF, as a pattern: a byte, or -1 for a digit. */
const VERSION = [0x48, 0x54, 0x54, 0x50, 0x2f, -1, 0x2e, -1, CR, LF]

/** Throw when the bytes of an incomplete HTTP-version (RFC 9112 §2.3) already cannot match. */
function versionPrefix(buf: Uint8Array, at: number, limit: number): void {
  for (let i = 0; at + i < limit; i++) {
    const b = buf[at + i]!
    const want = VERSION[i]!
    if (want === -1 ? b < 0x30 || b > 0x39 : b !== want) {
      throw new HttpParseError(400, 'Invalid request line')
    }
  }
}

/** `text` without OWS (SP, HTAB) at either end (RFC 9110 §5.6.3); `trim()` would take obs-text. */
function trimOws(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && (text.charCodeAt(start) === SP || text.charCodeAt(start) === HTAB)) start++
  while (end > start && (text.charCodeAt(end - 1) === SP || text.charCodeAt(end - 1) === HTAB))
    end--
  return start === 0 && end === text.length ? text : text.slice(start, end)
}

/** `Content-Length = 1*DIGIT` (RFC 9110 §8.6): one value, no list, no sign. */
function contentLength(buf: Uint8Array, start: number, end: number): number {
  if (start === end) throw new HttpParseError(400, 'Invalid Content-Length')
  let length = 0
  for (let at = start; at < end; at++) {
    const digit = buf[at]! - 0x30
    if (digit < 0 || digit > 9) throw new HttpParseError(400, 'Invalid Content-Length')
    length = length * 10 + digit
  }
  // Exact as far as 2^53; beyond, no body limit could allow it anyway.
  if (length > MAX_SIZE) throw new HttpParseError(413, 'Content-Length too large')
  return length
}

/**
 * `Transfer-Encoding` (RFC 9112 §6.1): chunked must be the final coding (else 400, §6.3), and
 * fulcrum decodes no other coding (501).
 */
function checkCodings(value: string): void {
  const codings = value
    .split(',')
    .map((coding) => trimOws(coding).toLowerCase())
    .filter((coding) => coding !== '')
  const chunked = codings.indexOf('chunked')
  if (chunked === -1 || chunked !== codings.length - 1) {
    throw new HttpParseError(400, 'Transfer-Encoding must end in chunked')
  }
  if (codings.length > 1) throw new HttpParseError(501, 'Unsupported transfer coding')
}

/**
 * `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )` (RFC 9112 §7.1.1)
 * over `buf[at, end)`; the extensions are checked and ignored.
 */
function chunkExtensions(buf: Uint8Array, at: number, end: number): void {
  const invalid = () => new HttpParseError(400, 'Invalid chunk extension')
  const bws = () => {
    while (at < end && (buf[at] === SP || buf[at] === HTAB)) at++
  }
  const token = () => {
    const start = at
    while (at < end && TCHAR[buf[at]!]) at++
    if (at === start) throw invalid()
  }
  while (at < end) {
    bws()
    if (buf[at] !== SEMICOLON || at >= end) throw invalid()
    at++
    bws()
    token()
    bws()
    if (at < end && buf[at] === EQUALS) {
      at++
      bws()
      if (buf[at] === QUOTE) {
        // quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4)
        for (at++; ; at++) {
          if (at >= end) throw invalid()
          const b = buf[at]!
          if (b === QUOTE) break
          if (b === BACKSLASH) {
            at++
            if (at >= end || !(QDTEXT[buf[at]!] || buf[at] === QUOTE || buf[at] === BACKSLASH)) {
              throw invalid()
            }
          } else if (!QDTEXT[b]) throw invalid()
        }
        at++
      } else token()
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The response parser (the upstream client's side)
// ---------------------------------------------------------------------------------------------

/** The longest response head accepted, as nginx's `proxy_buffer_size` bounds it. */
const MAX_RESPONSE_HEAD_BYTES = 64 * 1024
/** The longest chunk-size line (with extensions) or trailer field accepted. */
const MAX_LINE_BYTES = 4096

/** Body bytes up to this many, in a chunk with other bytes, are copied rather than viewed. */
const SMALL_BODY = 512

const DIGITS = /^\d{1,15}$/
const HEX = /^[0-9A-Fa-f]{1,13}$/

/** The start of a status line (RFC 9112 §2.3, §4), case-sensitive: the minor version follows. */
const HTTP_1 = bytesOf('HTTP/1.')

/** Whether `buf` holds exactly `prefix` at `at` (case-sensitive). */
function startsWith(buf: Uint8Array, at: number, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (buf[at + i] !== prefix[i]) return false
  return true
}

/** Whether `b` is an ASCII digit (RFC 5234 DIGIT). */
function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39
}

/** Whether `buf[aStart, aEnd)` and `buf[bStart, bEnd)` are the same bytes. */
function sameBytes(
  buf: Uint8Array,
  aStart: number,
  aEnd: number,
  bStart: number,
  bEnd: number,
): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false
  for (let i = 0; i < aEnd - aStart; i++) if (buf[aStart + i] !== buf[bStart + i]) return false
  return true
}

/**
 * `buf[start, end)` as a number when it is 1 to 15 digits (RFC 9110 §8.6, exact in a double):
 * the usual Content-Length, read without a string. Undefined for anything else.
 */
function digitsValue(buf: Uint8Array, start: number, end: number): number | undefined {
  if (end - start < 1 || end - start > 15) return undefined
  let value = 0
  for (let at = start; at < end; at++) {
    const b = buf[at]!
    if (!isDigit(b)) return undefined
    value = value * 10 + b - 0x30
  }
  return value
}

/**
 * Whether the connection persists after a response (RFC 9112 §9.3): `options` is its
 * Connection field values, lower case and joined with `,` (undefined without any). HTTP/1.1
 * persists unless `close`, HTTP/1.0 only with `keep-alive`.
 */
function persistent(options: string | undefined, http10: boolean): boolean {
  if (options === undefined) return !http10
  // The usual single option, without a regular expression.
  if (options === 'keep-alive') return true
  if (options === 'close') return false
  return http10
    ? /(^|,)\s*keep-alive\s*(,|$)/.test(`,${options}`)
    : !/(^|,)\s*close\s*(,|$)/.test(`,${options}`)
}

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

const R_HEAD = 0
const R_LENGTH = 1
const R_CHUNK_SIZE = 2
const R_CHUNK_DATA = 3
const R_CHUNK_DATA_END = 4
const R_TRAILERS = 5
const R_UNTIL_CLOSE = 6
const R_DONE = 7

/**
 * Parses one response, fed with the bytes as they come off the connection: the status line and
 * fields (RFC 9112 §4, §5) and the body's framing (RFC 9112 §6.3): none, Content-Length, chunked
 * (§7.1), or until the connection closes. Strict: anything malformed is an error, and the
 * connection it came on is not used again.
 */
export class ResponseParser {
  #state = R_HEAD
  /** Bytes of an incomplete head or line, kept (copied) until the rest arrives. */
  #partial: Uint8Array | undefined
  /** Body bytes still due: of the Content-Length, or of the current chunk. */
  #remaining = 0
  #noBody: boolean
  #reported = false
  /** Bytes of trailer fields so far, bounded as a head is. */
  #trailerBytes = 0
  #events: ResponseEvents
  /** Bytes that came after the end of the response (the connection cannot be reused). */
  extra = false

  /** The strings of the connection's last head, to reuse where the bytes repeat. */
  #memo: HeadMemo | undefined

  /**
   * `method` decides whether the response can have a body (HEAD never has one). `memo`, the
   * connection's own, gives the strings of its last head where this one repeats its bytes.
   */
  constructor(method: string, events: ResponseEvents, memo?: HeadMemo) {
    this.#noBody = method === 'HEAD'
    this.#events = events
    this.#memo = memo
  }

  /** Take the connection's memo (see the constructor), once the connection is known. */
  set memo(memo: HeadMemo) {
    this.#memo = memo
  }

  /** Whether the response has ended. */
  get done(): boolean {
    return this.#state === R_DONE
  }

  /**
   * Feed bytes from the connection. The end is reported after the bytes are taken, so that
   * {@link extra} is known by then. @throws {UpstreamProtocolError} on a malformed response
   */
  feed(input: Uint8Array): void {
    this.#take(input)
    if (this.#state === R_DONE) this.#reportEnd()
  }

  #take(input: Uint8Array): void {
    let chunk = input
    let at = 0
    if (this.#partial) {
      chunk = concatBytes(this.#partial, chunk)
      this.#partial = undefined
    }
    while (at < chunk.length) {
      switch (this.#state) {
        case R_HEAD: {
          const end = indexOfHeadEnd(chunk, at)
          if (end === -1) {
            return this.#keep(chunk, at, MAX_RESPONSE_HEAD_BYTES, 'Response head too large')
          }
          if (end - at > MAX_RESPONSE_HEAD_BYTES) {
            throw new UpstreamProtocolError('Response head too large')
          }
          this.#head(chunk, at, end)
          at = end + 4
          break
        }
        case R_LENGTH:
          at = this.#body(chunk, at)
          if (this.#remaining === 0) this.#state = R_DONE
          break
        case R_CHUNK_SIZE: {
          const end = indexOfCrlf(chunk, at)
          if (end === -1) return this.#keep(chunk, at, MAX_LINE_BYTES, 'Chunk size line too long')
          this.#chunkSize(decodeLatin1(chunk, at, end))
          at = end + 2
          break
        }
        case R_CHUNK_DATA:
          at = this.#body(chunk, at)
          if (this.#remaining === 0) this.#state = R_CHUNK_DATA_END
          break
        case R_CHUNK_DATA_END: {
          // RFC 9112 §7.1: chunk-data is followed by CRLF.
          if (chunk.length - at < 2) return this.#keep(chunk, at, 2, '')
          if (chunk[at] !== CR || chunk[at + 1] !== LF) {
            throw new UpstreamProtocolError('Missing CRLF after chunk data')
          }
          at += 2
          this.#state = R_CHUNK_SIZE
          break
        }
        case R_TRAILERS: {
          // RFC 9112 §7.1.2: trailer fields are not forwarded (the client side is re-framed).
          const end = indexOfCrlf(chunk, at)
          if (end === -1) return this.#keep(chunk, at, MAX_LINE_BYTES, 'Trailer field too long')
          const last = end === at
          this.#trailerBytes += end + 2 - at
          if (this.#trailerBytes > MAX_RESPONSE_HEAD_BYTES) {
            throw new UpstreamProtocolError('Trailers too large')
          }
          at = end + 2
          if (last) this.#state = R_DONE
          break
        }
        case R_UNTIL_CLOSE:
          this.#events.data(chunk.subarray(at))
          at = chunk.length
          break
        case R_DONE:
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
    if (this.#state === R_UNTIL_CLOSE) {
      this.#state = R_DONE
      return this.#reportEnd()
    }
    if (this.#state !== R_DONE) {
      throw new UpstreamProtocolError(
        this.#state === R_HEAD && !this.#partial
          ? 'Upstream closed the connection before answering'
          : 'Upstream closed the connection in the middle of the response',
      )
    }
  }

  /** Pass on the body bytes due from `at` (of the length, or of the chunk); where they end. */
  #body(chunk: Uint8Array, at: number): number {
    const end = Math.min(at + this.#remaining, chunk.length)
    // A chunk of body alone goes as it is; a small body after its head, copied (see copySmall).
    this.#events.data(
      at === 0 && end === chunk.length
        ? chunk
        : end - at <= SMALL_BODY
          ? copySmall(chunk, at, end)
          : chunk.subarray(at, end),
    )
    this.#remaining -= end - at
    return end
  }

  #keep(chunk: Uint8Array, at: number, limit: number, tooLong: string): void {
    if (chunk.length - at > limit) throw new UpstreamProtocolError(tooLong)
    // A copy: the connection may reuse the memory of what it read. (Not `slice`: on a Node
    // Buffer that is a view.)
    this.#partial = new Uint8Array(chunk.length - at)
    this.#partial.set(chunk.subarray(at))
  }

  #reportEnd(): void {
    if (this.#reported) return
    this.#reported = true
    this.#events.end()
  }

  /** The head in `buf[start, end)`: the status line and the fields, without the final CRLFs. */
  #head(buf: Uint8Array, start: number, end: number): void {
    const memo = this.#memo
    if (memo !== undefined && this.#repeated(memo, buf, start, end)) return
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]; the status is
    // 100–599 (RFC 9110 §15). The reason phrase may be empty, or left out with its SP.
    let at = start
    const minor = buf[at + 7]
    const code = (buf[at + 9]! - 0x30) * 100 + (buf[at + 10]! - 0x30) * 10 + buf[at + 11]! - 0x30
    if (
      end - start < 12 ||
      !startsWith(buf, at, HTTP_1) ||
      (minor !== 0x30 && minor !== 0x31) ||
      buf[at + 8] !== SP ||
      !isDigit(buf[at + 9]!) ||
      !isDigit(buf[at + 10]!) ||
      !isDigit(buf[at + 11]!) ||
      code < 100 ||
      code > 599
    ) {
      throw new UpstreamProtocolError('Invalid status line')
    }
    at += 12
    let reasonStart = at
    /** The bytes of the reason phrase and of the values OR-ed together: obs-text when 0x80 is set. */
    let high = 0
    if (at < end && buf[at] === SP) {
      reasonStart = ++at
      for (let b = buf[at]!; at < end && b !== CR && b !== LF; b = buf[++at]!) high |= b
    }
    const reasonEnd = at
    if (at !== end && (buf[at] !== CR || buf[at + 1] !== LF)) {
      throw new UpstreamProtocolError('Invalid status line')
    }

    // RFC 9112 §5.1: field-line = field-name ":" OWS field-value OWS, each line then CRLF. The
    // bytes are checked in place first (their offsets kept in the shared marks); the names and
    // values are then slices of one decoding of the head.
    let count = 0
    let marks = fieldMarks
    let lengthAt = -1
    let lengthEnd = -1
    for (at += 2; at < end; at += 2) {
      // RFC 9112 §5.2: obs-fold is refused here, as a malformed field (a name of tchar only).
      const nameStart = at
      while (TCHAR[buf[at]!] === 1) at++
      if (at === nameStart || buf[at] !== COLON) {
        throw new UpstreamProtocolError('Invalid response header field')
      }
      const colon = at
      // RFC 9112 §5.1: the OWS around a value is SP and HTAB; obs-text (0xA0 too) is content.
      // RFC 9110 §5.5: no NUL, CR or LF inside; the line ends at the first CRLF.
      at++
      while (buf[at] === SP || buf[at] === HTAB) at++
      const valueStart = at
      for (let b = buf[at]!; b !== CR || buf[at + 1] !== LF; b = buf[++at]!) {
        if (b === 0 || b === CR || b === LF) {
          throw new UpstreamProtocolError('Invalid response header value')
        }
        high |= b
      }
      let valueEnd = at
      while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) {
        valueEnd--
      }
      if (count * 4 + 4 > marks.length) marks = growMarks(count * 4 + 4)
      marks[count * 4] = nameStart
      marks[count * 4 + 1] = colon
      marks[count * 4 + 2] = valueStart
      marks[count * 4 + 3] = valueEnd
      count++
      // RFC 9110 §8.6: several Content-Length lines must agree (checked here, in line order).
      if (colon - nameStart === 14 && isName(buf, nameStart, CONTENT_LENGTH)) {
        if (lengthAt !== -1 && !sameBytes(buf, lengthAt, lengthEnd, valueStart, valueEnd)) {
          throw new UpstreamProtocolError('Conflicting Content-Length')
        }
        lengthAt = valueStart
        lengthEnd = valueEnd
      }
    }
    // RFC 9110 §15.2: interim responses are read and dropped; the final one follows.
    if (code < 200) {
      if (code === 101) throw new UpstreamProtocolError('Unexpected 101 Switching Protocols')
      return
    }

    // The strings: those of the connection's last head where its bytes repeat (HeadMemo), the
    // rest slices of one decoding of the head (latin1: byte offsets are string offsets), made
    // only when some line is new.
    let text: string | undefined
    const names = new Array<string>(count)
    const values = new Array<string>(count)
    let codings: string | undefined
    let connection: string | undefined
    for (let i = 0; i < count; i++) {
      const nameStart = marks[i * 4]!
      const colon = marks[i * 4 + 1]!
      const valueStart = marks[i * 4 + 2]!
      const valueEnd = marks[i * 4 + 3]!
      const key =
        memo?.name(i, buf, nameStart, colon) ??
        commonResponseName(buf, nameStart, colon) ??
        (text ??= decodeLatin1(buf, start, end, high < 0x80))
          .slice(nameStart - start, colon - start)
          .toLowerCase()
      let value = memo?.value(i, buf, valueStart, valueEnd)
      const known = value !== undefined
      value ??= (text ??= decodeLatin1(buf, start, end, high < 0x80)).slice(
        valueStart - start,
        valueEnd - start,
      )
      names[i] = key
      values[i] = value
      // Only the framing fields matter here: transfer-encoding, connection (and the length).
      if (key === 'transfer-encoding') codings = codings ? `${codings}, ${value}` : value
      else if (key === 'connection') {
        const options = (known ? memo!.lowered(i) : undefined) ?? value.toLowerCase()
        connection = connection === undefined ? options : `${connection},${options}`
      }
    }
    const statusText =
      memo?.reason(buf, reasonStart, reasonEnd) ??
      (text ??= decodeLatin1(buf, start, end, high < 0x80)).slice(
        reasonStart - start,
        reasonEnd - start,
      )
    const http10 = minor === 0x30
    let keepAlive = persistent(connection, http10)
    const hasBody = !this.#noBody && code !== 204 && code !== 304
    if (!hasBody) this.#state = R_DONE
    else if (codings !== undefined) {
      // RFC 9112 §6.3 rule 4: chunked last means chunked; anything else reads until the close.
      // With a Content-Length as well, the connection must not be reused (rule 3).
      if (lengthAt !== -1) keepAlive = false
      if (codings === 'chunked' || /(^|,)\s*chunked\s*$/i.test(codings)) {
        this.#state = R_CHUNK_SIZE
      } else {
        this.#state = R_UNTIL_CLOSE
        keepAlive = false
      }
    } else if (lengthAt !== -1) {
      this.#remaining =
        digitsValue(buf, lengthAt, lengthEnd) ?? parseLength(decodeLatin1(buf, lengthAt, lengthEnd))
      this.#state = this.#remaining === 0 ? R_DONE : R_LENGTH
    } else {
      this.#state = R_UNTIL_CLOSE
      keepAlive = false
    }
    memo?.remember(buf, start, end, marks, count, names, values, reasonStart, reasonEnd, {
      noBody: this.#noBody,
      status: code,
      statusText,
      keepAlive,
      hasBody,
      state: this.#state,
      remaining: this.#remaining,
    })
    const headers = FieldList.ofLowerCase(names, values, memo?.encoded).asHeaders()
    this.#events.head({ status: code, statusText, headers, keepAlive, hasBody })
  }

  /**
   * The head in `buf[start, end)` when it is the connection's last head again, byte for byte
   * (and asked with the same method): the same answer, read from the memo without a scan.
   * Those bytes passed every check when they came; nothing about them can differ now.
   */
  #repeated(memo: HeadMemo, buf: Uint8Array, start: number, end: number): boolean {
    const head = memo.repeated(buf, start, end, this.#noBody)
    if (head === undefined) return false
    this.#state = head.state
    this.#remaining = head.remaining
    const { status, statusText, keepAlive, hasBody } = head
    const headers = memo.fields().asHeaders()
    this.#events.head({ status, statusText, headers, keepAlive, hasBody })
    return true
  }

  #chunkSize(line: string): void {
    // RFC 9112 §7.1.1: chunk extensions are ignored.
    const semicolon = line.indexOf(';')
    const size = (semicolon === -1 ? line : line.slice(0, semicolon)).trim()
    if (!HEX.test(size)) throw new UpstreamProtocolError('Invalid chunk size')
    this.#remaining = parseInt(size, 16)
    this.#state = this.#remaining === 0 ? R_TRAILERS : R_CHUNK_DATA
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
