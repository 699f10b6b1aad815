/**
 * Writing a response on an HTTP/1.1 connection: the status line and fields (RFC 9112 §4, §5),
 * the framing the engine chooses (RFC 9112 §6: Content-Length when known, chunked for an
 * HTTP/1.1 client otherwise, and the close for HTTP/1.0), and the body, from the fastest source
 * there is: the upstream body's own queue, one buffer, or a Web stream.
 */
import { wallClock } from '../clock.ts'
import { rawBodyOf, type UpstreamBody } from './body.ts'
import {
  allocate,
  concatAll,
  concatBytes,
  encodeLatin1,
  encodeOwn,
  frameChunk,
  LAST_CHUNK,
} from './bytes.ts'
import { FieldLines, RepeatedLine } from './field-lines.ts'
import { collectFields, FieldList } from './fields.ts'
import type { Socket } from '../socket.ts'

/** RFC 9110 §15 reason phrases, for responses that carry none. */
const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
}

/** The reason phrase of `status` (RFC 9110 §15), or an empty one. */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? ''
}

/**
 * Whether a lower-case name is one of the fields the engine writes itself: framing and
 * connection management (RFC 9112 §6, §9). By length first: a name new with each head would be
 * hashed for a set.
 */
function isOwnField(name: string): boolean {
  switch (name.length) {
    case 10:
      return name === 'connection' || name === 'keep-alive'
    case 14:
      return name === 'content-length'
    case 17:
      return name === 'transfer-encoding'
    default:
      return false
  }
}

let dateSecond = 0
let dateValue = ''
/** The `Date` field (RFC 9110 §6.6.1), formatted once a second. */
function httpDate(): string {
  const now = wallClock()
  const second = Math.floor(now / 1000)
  if (second !== dateSecond) {
    dateSecond = second
    dateValue = new Date(now).toUTCString()
  }
  return dateValue
}

/** Statuses and methods whose responses have no body (RFC 9110 §6.4.1). */
export function bodyless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)
}

/** How one response is to be written. */
export interface ResponsePlan {
  /** The request's method: a HEAD response keeps its fields and sends no body. */
  method: string
  /** The client speaks HTTP/1.0: no chunked framing, keep-alive only when asked. */
  http10: boolean
  /** The connection stays open afterwards (the engine's decision so far). */
  keepAlive: boolean
}

/** What {@link writeResponse} did. */
export interface Written {
  /** Whether the connection may carry another request. */
  keepAlive: boolean
  /** Body bytes sent. */
  bytes: number
  /** Whether the body ended cleanly (false: it failed, and the connection must close). */
  complete: boolean
}

/**
 * Write `response` to `socket`: what was written once its last byte is handed to the socket. A
 * response whose body is at hand (none, or one buffer: the common case) is written at once and
 * the answer is not a promise; a streamed body resolves at its end. `waitDrain` resolves when the
 * socket's queue has room again (or the socket is gone).
 */
export function writeResponse(
  socket: Socket,
  response: Response,
  plan: ResponsePlan,
  waitDrain: () => Promise<boolean>,
): Written | Promise<Written> {
  const status = response.status
  const noBody = bodyless(plan.method, status)
  // The body's source: one buffer (the fastest: head and body leave in one write), the
  // upstream body's own queue, or a Web stream.
  let whole: Uint8Array | undefined
  let reader: Reader | undefined
  if (!noBody) {
    const raw = rawBodyOf(response)
    if (raw instanceof Uint8Array) whole = raw
    else if (raw) {
      if (raw.whole) whole = raw.take()
      else reader = (raw as UpstreamBody).getReader()
    } else if (response.body) {
      reader = response.body.getReader()
      // A body the app made (a JSON error, the admin API) is usually there whole: when it ends
      // at once it gets a Content-Length, and an HTTP/1.0 client keeps its connection.
      if (!response.headers.has('content-length')) {
        return readEarly(reader).then((read) =>
          read.done
            ? writeHead(socket, response, plan, read.bytes, undefined, undefined)
            : writeHead(socket, response, plan, undefined, read, waitDrain),
        )
      }
    } else whole = EMPTY
  } else response.body?.cancel().catch(() => {})
  return writeHead(socket, response, plan, whole, reader && { reader }, waitDrain)
}

/** A body still to be streamed: its reader, and what an early read already took. */
interface Streamed {
  reader: Reader
  chunks?: Uint8Array[]
  pending?: Promise<ReadableStreamReadResult<Uint8Array>>
}

/**
 * The fields of the head being written, as names and values: reused, since a head is written in
 * one synchronous call (and cleared after, so that they hold on to no string).
 */
const headNames: string[] = []
const headValues: string[] = []

/**
 * The field lines of the response heads whose list has none of its own (see FieldList.encoded),
 * kept from one head to the next.
 */
const responseLines = new FieldLines()

const HTTP11 = 'HTTP/1.1 '
const DATE = 'date: '
const CONTENT_LENGTH = 'content-length: '
const CHUNKED = encodeOwn('transfer-encoding: chunked\r\n')
/** The head's last line and the empty line that ends it (RFC 9112 §2.1). */
const END = encodeOwn('\r\n')
const CLOSE_END = encodeOwn('connection: close\r\n\r\n')
const KEEP_ALIVE_END = encodeOwn('connection: keep-alive\r\n\r\n')

/** `content-length: n` and its CRLF (RFC 9110 §8.6), kept while the length repeats. */
const contentLengthLine = new RepeatedLine(CONTENT_LENGTH, '\r\n')
/** The `Date` field's line (RFC 9110 §6.6.1), made once a second. */
const dateLine = new RepeatedLine(DATE, '\r\n')

/** The last status line {@link statusLine} made, and what it was made of. */
let lastStatus = 0
let lastStatusText = ''
let lastStatusLine = encodeOwn('')

/**
 * `HTTP/1.1 200 OK` and its CRLF (RFC 9112 §4), as bytes; kept while the status repeats, as it
 * mostly does.
 */
function statusLine(status: number, statusText: string): Uint8Array {
  if (status !== lastStatus || statusText !== lastStatusText) {
    lastStatus = status
    lastStatusText = statusText
    lastStatusLine = encodeOwn(
      HTTP11 + status + ' ' + (statusText || reasonPhrase(status)) + '\r\n',
    )
  }
  return lastStatusLine
}

/** Write the head, and the body: `whole`, or `streamed` (then the answer is a promise). */
function writeHead(
  socket: Socket,
  response: Response,
  plan: ResponsePlan,
  whole: Uint8Array | undefined,
  streamed: Streamed | undefined,
  waitDrain: (() => Promise<boolean>) | undefined,
): Written | Promise<Written> {
  const status = response.status
  const noBody = bodyless(plan.method, status)
  let keepAlive = plan.keepAlive
  let length: string | null = null
  let hasDate = false
  const headers = response.headers
  const names = headNames
  const values = headValues
  const count = collectFields(headers, names, values)
  // The fields the engine writes itself are left out (RFC 9112 §6, §9); the rest are kept in
  // order.
  let kept = 0
  for (let i = 0; i < count; i++) {
    const name = names[i]!
    const value = values[i]!
    if (isOwnField(name)) {
      if (name === 'content-length') length = value
      // The app asks to close (a refusal, a drain): RFC 9112 §9.6.
      else if (name === 'connection' && /(^|[\s,])close($|[\s,])/i.test(value)) keepAlive = false
      continue
    }
    if (name === 'date') hasDate = true
    names[kept] = name
    values[kept++] = value
  }
  // An upstream connection's responses repeat their lines: they are kept encoded on its side.
  const list = headers as unknown
  const lines = (list instanceof FieldList && list.encoded) || responseLines
  const linesSize = lines.measure(names, values, kept)
  // Let go of the strings (the arrays keep their room for the next head).
  names.fill('', 0, count)
  values.fill('', 0, count)

  let chunked = false
  if (whole) length = String(whole.byteLength)
  else if (noBody) {
    // A HEAD response keeps the length the GET would have (RFC 9110 §8.6); 204 and 1xx none.
    if (status === 204 || (status >= 100 && status < 200)) length = null
  } else if (length === null) {
    if (plan.http10) keepAlive = false
    else chunked = true
  }

  // The head is put together from bytes kept from one head to the next (each piece encoded
  // when it changes): the status line, the fields, the engine's own lines, the end.
  const first = statusLine(status, response.statusText)
  const date = hasDate ? undefined : dateLine.bytesOf(httpDate())
  const lengthLine = length === null ? undefined : contentLengthLine.bytesOf(length)
  const end = !keepAlive ? CLOSE_END : plan.http10 ? KEEP_ALIVE_END : END
  // A body at hand leaves in the same array as its head: one write.
  const body = (noBody || !streamed) && whole && whole.byteLength > 0 ? whole : undefined
  const size =
    first.length +
    linesSize +
    (date?.length ?? 0) +
    (lengthLine?.length ?? 0) +
    (chunked ? CHUNKED.length : 0) +
    end.length
  const out = allocate(size + (body?.byteLength ?? 0))
  out.set(first)
  let at = lines.write(out, first.length)
  if (date) {
    out.set(date, at)
    at += date.length
  }
  if (lengthLine) {
    out.set(lengthLine, at)
    at += lengthLine.length
  }
  if (chunked) {
    out.set(CHUNKED, at)
    at += CHUNKED.length
  }
  out.set(end, at)
  if (body) out.set(body, size)

  if (noBody || !streamed) {
    socket.write(out)
    return { keepAlive, bytes: whole?.byteLength ?? 0, complete: true }
  }
  const declared = length === null ? -1 : Number(length)
  return writeBody(socket, out, streamed, chunked, declared, keepAlive, waitDrain!)
}

/** Stream the body after its head (sent with the first chunk). */
async function writeBody(
  socket: Socket,
  headBytes: Uint8Array,
  streamed: Streamed,
  chunked: boolean,
  declared: number,
  keepAlive: boolean,
  waitDrain: () => Promise<boolean>,
): Promise<Written> {
  const { reader } = streamed
  let pending: Uint8Array | undefined = headBytes
  let bytes = 0
  const send = (value: Uint8Array): boolean => {
    bytes += value.byteLength
    let out: Uint8Array = value
    if (chunked) out = frameChunk(value)
    if (pending) {
      out = concatBytes(pending, out)
      pending = undefined
    }
    return socket.write(out)
  }
  try {
    let next = streamed.pending
    for (const value of streamed.chunks ?? []) send(value)
    for (;;) {
      const { done, value } = await (next ?? reader.read())
      next = undefined
      if (done) break
      if (value.byteLength === 0) continue
      if (!send(value) && !(await waitDrain())) {
        await reader.cancel().catch(() => {})
        return { keepAlive: false, bytes, complete: false }
      }
    }
  } catch {
    // The body failed: the client must not take a short body for a whole one. Without the last
    // chunk (or with fewer bytes than the length), closing the connection says so (RFC 9112 §8).
    if (pending) socket.write(pending)
    return { keepAlive: false, bytes, complete: false }
  }
  if (chunked) socket.write(pending ? concatBytes(pending, LAST_CHUNK) : LAST_CHUNK)
  else if (pending) socket.write(pending)
  if (declared >= 0 && bytes !== declared) return { keepAlive: false, bytes, complete: false }
  return { keepAlive, bytes, complete: true }
}

type Reader = { read(): Promise<ReadableStreamReadResult<Uint8Array>>; cancel(): Promise<void> }
type Early =
  | { done: true; bytes: Uint8Array }
  | {
      done: false
      reader: Reader
      chunks: Uint8Array[]
      pending: Promise<ReadableStreamReadResult<Uint8Array>>
    }

const EMPTY = new Uint8Array(0)
const TICK = Symbol('tick')
/** A few microtasks: long enough for a stream over bytes at hand to end, no macrotask. */
const tick = async (): Promise<typeof TICK> => {
  for (let i = 0; i < 4; i++) await undefined
  return TICK
}

/** Read what a stream has at once: all of it when it ends within a few microtasks. */
async function readEarly(reader: Reader): Promise<Early> {
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const read = reader.read()
    const result = await Promise.race([read, tick()])
    if (result === TICK || size > 65_536) return { done: false, reader, chunks, pending: read }
    if (result.done) {
      return { done: true, bytes: chunks.length === 1 ? chunks[0]! : concatAll(chunks, size) }
    }
    if (result.value.byteLength === 0) continue
    chunks.push(result.value)
    size += result.value.byteLength
  }
}

/** A complete error answer of the engine's own, before any request reaches the app. */
export function plainAnswer(status: number, extra = ''): Uint8Array {
  const body = JSON.stringify({ error: reasonPhrase(status), requestId: crypto.randomUUID() })
  return encodeLatin1(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\ncontent-type: application/json\r\n` +
      `cache-control: no-store\r\n${extra}connection: close\r\ndate: ${httpDate()}\r\n` +
      `content-length: ${body.length}\r\n\r\n${body}`,
  )
}
