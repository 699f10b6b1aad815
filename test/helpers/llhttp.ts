/**
 * llhttp, as `node:http` runs it, for the differential test of fulcrum's request parser
 * (test/unit/http1/differential.test.ts): node's own `HTTPParser` binding, the one
 * `_http_server.js` drives, initialised the way a server with `insecureHTTPParser: false` does
 * (no lenient flag). The binding is reached through `process.binding('http_parser')`, deprecated
 * (DEP0111) but still there on Node 20, and far faster than a server over a socket for 100,000
 * cases.
 *
 * Per message it reports what framing decides: method, target, version, field lines, body,
 * keep-alive and upgrade, and the offset where the message ends (so, where the next one may
 * begin). llhttp has no callback that tells the offset of a message's end, so it is found by
 * parsing prefixes of the input: the end of message k is the shortest prefix in which k + 1
 * messages complete (a binary search; parsing a prefix is native and fast).
 */

/** The lenient-flag constants and callback slots of node's `HTTPParser` (node_http_parser.cc). */
interface HTTPParserClass {
  new (): HTTPParserInstance
  REQUEST: number
  kOnMessageBegin: number
  kOnHeaders: number
  kOnHeadersComplete: number
  kOnBody: number
  kOnMessageComplete: number
  kLenientNone: number
}

/** What `execute` and `finish` return on a parse error. */
interface ParseError extends Error {
  code: string
  reason: string
  bytesParsed: number
}

interface HTTPParserInstance {
  [slot: number]: unknown
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void
  /** Bytes parsed, or the error. */
  execute(bytes: Uint8Array): number | ParseError
  /** An error when the input ended inside a message (`HPE_INVALID_EOF_STATE`). */
  finish(): undefined | ParseError
  close(): void
}

interface Binding {
  HTTPParser: HTTPParserClass
  /** Method names by llhttp's method number (`allMethods`, as `_http_common.js` reads them). */
  allMethods: string[]
  /** The methods node's HTTP server accepts (llhttp's HTTP methods, no RTSP). */
  methods: string[]
}

/** The binding, loaded without printing DEP0111 (the test runner's output stays clean). */
function loadBinding(): Binding {
  const quiet = process.noDeprecation
  process.noDeprecation = true
  try {
    return (process as unknown as { binding(name: string): Binding }).binding('http_parser')
  } finally {
    process.noDeprecation = quiet
  }
}

const binding = loadBinding()
const { HTTPParser } = binding

/** The request methods llhttp knows as a node:http server (any other is `HPE_INVALID_METHOD`). */
export const LLHTTP_METHODS: readonly string[] = binding.methods

/** One message llhttp parsed to its end. */
export interface LlhttpMessage {
  method: string
  target: string
  major: number
  minor: number
  /** Field lines in order, [name, value, …]; names as sent, values without surrounding OWS. */
  fields: string[]
  /** The body, de-chunked, latin1. */
  body: string
  keepAlive: boolean
  /** llhttp hands the rest of the connection over (Upgrade, or CONNECT). */
  upgrade: boolean
  /** The offset just past the message's last byte. */
  end: number
}

/** A head llhttp completed, of a message that has not ended. */
export type LlhttpHead = Omit<LlhttpMessage, 'body' | 'end'>

/** How llhttp's parse of a whole input ended. */
export interface LlhttpOutcome {
  messages: LlhttpMessage[]
  /** The head of the message in progress when the input (or the parse) ended, if complete. */
  pending: LlhttpHead | undefined
  /**
   * `idle`: every byte parsed, between messages. `partial`: the input ends inside a message.
   * `upgrade`: the last message hands the connection over; what follows is not HTTP.
   * `error`: llhttp refused (see `error`).
   */
  state: 'idle' | 'partial' | 'upgrade' | 'error'
  error: { code: string; reason: string; offset: number } | undefined
}

/** Options of {@link llhttpParse}. */
export interface LlhttpOptions {
  /** node's `maxHeaderSize` (the bytes of the target, field names and values of one head). */
  maxHeaderSize: number
}

/** OWS (RFC 9110 §5.6.3) trimmed from both ends: SP and HTAB, nothing else. */
export function trimOws(text: string): string {
  let start = 0
  let end = text.length
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--
  return text.slice(start, end)
}

const RESOURCE = {}

/** The parser that records messages, and the one that only counts them (for the offsets). */
const recorder = new HTTPParser()
const counter = new HTTPParser()
let completed = 0
counter[HTTPParser.kOnMessageComplete] = () => {
  completed++
}

/** How many messages complete within `input` (a prefix of a case). */
function completions(input: Uint8Array, maxHeaderSize: number): number {
  counter.initialize(HTTPParser.REQUEST, RESOURCE, maxHeaderSize, HTTPParser.kLenientNone)
  completed = 0
  counter.execute(input)
  return completed
}

/**
 * llhttp's error for the message that starts at `start`, its Upgrade field lines renamed (to a
 * name of the same length, so that offsets stay), or undefined if it then finds none.
 */
function withoutUpgrade(
  input: Uint8Array,
  start: number,
  options: LlhttpOptions,
): LlhttpOutcome['error'] {
  const text = Buffer.from(input).toString('latin1')
  // (Empty lines before a request line are skipped, RFC 9112 §2.2.)
  const from = start + /^[\r\n]*/.exec(text.slice(start))![0].length
  const headEnd = text.indexOf('\r\n\r\n', from)
  const head = text
    .slice(from, headEnd === -1 ? text.length : headEnd)
    .replace(/\nupgrade:/gi, '\nX-pgrad:')
  if (head === text.slice(from, from + head.length)) return undefined
  const renamed = text.slice(0, from) + head + text.slice(from + head.length)
  const outcome = llhttpParse(Buffer.from(renamed, 'latin1'), options)
  return outcome.state === 'error' ? outcome.error : undefined
}

/**
 * Parse `input` as one connection's bytes, with llhttp in strict mode.
 *
 * @example
 * ```ts
 * const { messages, state } = llhttpParse(bytes, { maxHeaderSize: 8192 })
 * ```
 */
export function llhttpParse(input: Uint8Array, options: LlhttpOptions): LlhttpOutcome {
  const messages: LlhttpMessage[] = []
  let pending: LlhttpHead | undefined
  /** Field lines and target flushed before the head completed (past 32 fields: kOnHeaders). */
  let flushed: string[] = []
  let flushedUrl = ''
  let body: string[] = []
  let headDone = false
  recorder[HTTPParser.kOnMessageBegin] = () => {
    flushed = []
    flushedUrl = ''
    body = []
    headDone = false
    pending = undefined
  }
  recorder[HTTPParser.kOnHeaders] = (fields: string[], url: string) => {
    // After the head, these are the trailers: not framing, dropped as fulcrum drops them.
    if (headDone) return
    flushed.push(...fields)
    flushedUrl += url
  }
  recorder[HTTPParser.kOnHeadersComplete] = (
    major: number,
    minor: number,
    fields: string[] | undefined,
    method: number,
    url: string | undefined,
    _status: unknown,
    _message: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ) => {
    headDone = true
    const all = fields ? [...flushed, ...fields] : flushed
    pending = {
      method: binding.allMethods[method] ?? `#${method}`,
      target: flushedUrl + (url ?? ''),
      major,
      minor,
      fields: all.map((text, i) => (i % 2 === 1 ? trimOws(text) : text)),
      keepAlive,
      upgrade,
    }
    return 0
  }
  recorder[HTTPParser.kOnBody] = (chunk: Buffer) => {
    body.push(chunk.toString('latin1'))
  }
  recorder[HTTPParser.kOnMessageComplete] = () => {
    messages.push({ ...pending!, body: body.join(''), end: -1 })
    pending = undefined
  }
  recorder.initialize(HTTPParser.REQUEST, RESOURCE, options.maxHeaderSize, HTTPParser.kLenientNone)
  // (An empty buffer would reach llhttp as the end of the input: finish(), not execute.)
  const result = input.length === 0 ? 0 : recorder.execute(input)
  const stopped = pending as LlhttpHead | undefined
  // The end of each message: the shortest prefix in which it completes.
  let low = 0
  for (let k = 0; k < messages.length; k++) {
    let a = low + 1
    let b = input.length
    while (a < b) {
      const mid = (a + b) >>> 1
      if (completions(input.subarray(0, mid), options.maxHeaderSize) > k) b = mid
      else a = mid + 1
    }
    messages[k]!.end = a
    low = a
  }
  let state: LlhttpOutcome['state']
  let error: LlhttpOutcome['error']
  if (typeof result !== 'number') {
    state = 'error'
    error = { code: result.code, reason: result.reason, offset: result.bytesParsed }
  } else if (messages.at(-1)?.upgrade) state = 'upgrade'
  else if (stopped?.upgrade) {
    // node's binding reports no error once a head asked for an Upgrade: it only stops. What
    // llhttp finds wrong in the body is what it says of the same bytes without the Upgrade.
    error = withoutUpgrade(input, messages.at(-1)?.end ?? 0, options)
    if (!error && result < input.length) {
      error = { code: 'HPE_PAUSED_UPGRADE', reason: 'Stopped in an Upgrade body', offset: result }
    }
    state = error ? 'error' : 'partial'
  } else if (stopped) state = 'partial'
  else state = recorder.finish() === undefined ? 'idle' : 'partial'

  return { messages, pending: stopped, state, error }
}
