/**
 * The security gate of fulcrum's request parser (issue 11): a differential test against llhttp,
 * node's parser, in strict mode (test/helpers/llhttp.ts), over seeded mutations of valid requests
 * (test/helpers/mutate.ts).
 *
 * - Wherever both accept a message, the framing must be identical: method, target, version, field
 *   lines (values without surrounding OWS), body, keep-alive, upgrade, and the offset where the
 *   next request starts.
 * - Where only one refuses, a named rule must explain it, with its RFC section and evidence found
 *   in the bytes or in the other parser's view of them ({@link STRICTER}: fulcrum refuses what
 *   llhttp accepts; {@link LAXER}: llhttp refuses what fulcrum accepts). Anything else fails and
 *   prints the case: seed, index, mutations and bytes.
 * - Every case is fed twice to fulcrum, whole and split at a seeded point, and the first
 *   {@link BYTEWISE} cases byte by byte too: the outcome must not depend on the split (a refusal
 *   included: it comes as soon as its byte, or at the latest its line, is here).
 * - A hand-written list of what RFC 9112 forbids must be refused (beside parser.test.ts's
 *   REFUSALS, which this does not repeat).
 *
 * `npm test` runs DIFF_CASES (default 5,000) cases; `npm run test:differential` runs 100,000 and
 * prints the counts. DIFF_SEED changes the seed.
 */
import { Buffer } from 'node:buffer'
import { writeFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { HttpParseError, RequestParser, type RequestHead } from '../../../src/http1/parser.ts'
import { LLHTTP_METHODS, llhttpParse, trimOws } from '../../helpers/llhttp.ts'
import { generateCase, type GeneratedCase } from '../../helpers/mutate.ts'

/** The head limit of both parsers (fulcrum's `maxHeadBytes`, node's `maxHeaderSize`). */
const MAX_HEAD = 8192
const CASES = Number(process.env.DIFF_CASES ?? 5000)
const SEED = Number(process.env.DIFF_SEED ?? 0x5eed)
/** How many of the cases are also fed byte by byte. */
const BYTEWISE = Math.min(CASES, 2000)

// ---------------------------------------------------------------------------------------------
// Both parsers, seen the same way
// ---------------------------------------------------------------------------------------------

/** A head as both parsers report it. */
interface Head {
  method: string
  target: string
  /** `major.minor` */
  version: string
  /** [name, value, …], values without surrounding OWS. */
  fields: string[]
  keepAlive: boolean
  upgrade: boolean
}

/** A message parsed to its end. */
interface Message extends Head {
  /** The body, de-chunked, latin1. */
  body: string
  /** The offset just past the message: where the next request starts. */
  end: number
}

/** How a parse of one case ended. */
interface Outcome {
  messages: Message[]
  /** The head of the message in progress when the parse ended (refused or incomplete). */
  pending: Head | undefined
  /** As in test/helpers/llhttp.ts: idle, partial (input ends inside a message), upgrade, error. */
  state: 'idle' | 'partial' | 'upgrade' | 'error'
  /** fulcrum: `status message`; llhttp: `code reason`. */
  error: string | undefined
  /** Where llhttp stopped (its `bytesParsed`), for the rules that look at the bytes there. */
  errorOffset?: number
}

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1')

function headOf(head: RequestHead): Head {
  return {
    method: head.method,
    target: head.target,
    version: `1.${head.minor}`,
    fields: head.fields,
    keepAlive: head.keepAlive,
    upgrade: head.upgrade !== undefined,
  }
}

/**
 * fulcrum's parse of `input`, fed in pieces cut at `cuts`, answering in order as the connection
 * does (`next()` after each end), until an Upgrade hands the rest to a tunnel.
 */
function fulcrumParse(input: Uint8Array, cuts: number[] = []): Outcome {
  const messages: Message[] = []
  let head: RequestHead | undefined
  let body: string[] = []
  let fed = 0
  let ended = false
  let upgraded = false
  const parser = new RequestParser(
    {
      head: (parsed) => {
        head = parsed
        body = []
      },
      data: (chunk) => body.push(latin1(chunk)),
      end: () => {
        messages.push({ ...headOf(head!), body: body.join(''), end: fed - parser.buffered })
        upgraded = head!.upgrade !== undefined
        head = undefined
        ended = true
      },
    },
    { maxHeadBytes: MAX_HEAD },
  )
  let from = 0
  try {
    for (const at of [...cuts, input.length]) {
      const piece = input.subarray(from, at)
      from = at
      fed += piece.length
      parser.feed(piece)
      while (ended && !upgraded) {
        ended = false
        parser.next()
      }
      if (upgraded) break
    }
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error
    const refusal = `${error.status} ${error.message}`
    return { messages, pending: head && headOf(head), state: 'error', error: refusal }
  }
  const state = upgraded ? 'upgrade' : parser.inMessage ? 'partial' : 'idle'
  return { messages, pending: head && headOf(head), state, error: undefined }
}

/** llhttp's parse of `input`, as node's HTTP server runs it (no lenient flag). */
function llhttp(input: Uint8Array): Outcome {
  const outcome = llhttpParse(input, { maxHeaderSize: MAX_HEAD })
  const head = (h: Omit<Head, 'version'> & { major: number; minor: number }): Head => ({
    method: h.method,
    target: h.target,
    version: `${h.major}.${h.minor}`,
    fields: h.fields,
    keepAlive: h.keepAlive,
    upgrade: h.upgrade,
  })
  return {
    messages: outcome.messages.map((m) => ({ ...head(m), body: m.body, end: m.end })),
    pending: outcome.pending && head(outcome.pending),
    state: outcome.state,
    error: outcome.error && `${outcome.error.code} ${outcome.error.reason}`,
    errorOffset: outcome.error?.offset,
  }
}

// ---------------------------------------------------------------------------------------------
// The rules that explain a difference
// ---------------------------------------------------------------------------------------------

/** Where the two parsers part: the message at `index`, and what each made of it. */
interface Divergence {
  /** The whole case, latin1. */
  text: string
  f: Outcome
  l: Outcome
  /** The index of the message they disagree on (all before it are identical). */
  index: number
  /** The bytes of that message on: from the end of the previous one, leading CR/LF skipped. */
  rest: string
  /** Its request line, without the line end. */
  line: string
  /** Its field lines, raw (up to the empty line, or the end of the input). */
  lines: string[]
  /** The offset in `text` where its body starts, or -1 if its head has not ended. */
  bodyStart: number
  /** What each parser made of the message's head, if it got that far. */
  fHead: Head | undefined
  lHead: Head | undefined
  /** fulcrum's method and target, or the words of the request line when its head is unfinished. */
  method: string
  target: string
}

/** A documented reason for the parsers to differ. */
interface Rule {
  id: string
  /** The RFC section that allows it. */
  rfc: string
  why: string
  /** The refusal it explains (fulcrum's `status message`, or llhttp's `code reason`). */
  refusal: RegExp
  /** Evidence in the bytes or in the other parser's view that the rule applies. */
  applies(d: Divergence): boolean
}

/** The raw parts of the message that starts at `start` in `text` (leading CR/LF skipped). */
function partsAt(text: string, start: number) {
  const skipped = /^[\r\n]*/.exec(text.slice(start))![0].length
  const rest = text.slice(start + skipped)
  const headEnd = rest.indexOf('\r\n\r\n')
  const lines = rest.slice(0, headEnd === -1 ? rest.length : headEnd).split('\r\n')
  return {
    rest,
    line: lines[0]!.split('\n')[0]!,
    lines: lines.slice(1),
    bodyStart: headEnd === -1 ? -1 : start + skipped + headEnd + 4,
  }
}

/** The raw field lines of message `index` of `text`, as `f` framed the messages before it. */
function rawLinesAt(text: string, f: Outcome, index: number): string[] {
  return partsAt(text, index === 0 ? 0 : f.messages[index - 1]!.end).lines
}

/** The chunk-size lines of the chunked body at `d.bodyStart`, walked by their sizes. */
function chunkLines(d: Divergence): string[] {
  const lines: string[] = []
  for (let at = d.bodyStart; at >= 0 && at < d.text.length;) {
    const eol = d.text.indexOf('\r\n', at)
    const line = d.text.slice(at, eol === -1 ? d.text.length : eol)
    lines.push(line)
    const size = parseInt(/^[0-9A-Fa-f]*/.exec(line)![0] || 'x', 16)
    if (eol === -1 || !(size > 0)) break
    at = eol + 2 + size + 2
  }
  return lines
}

/** The line of `d.text` around llhttp's error offset. */
function lineAtLlhttpError(d: Divergence): string {
  const at = d.l.errorOffset ?? 0
  const start = d.text.lastIndexOf('\n', at - 1) + 1
  const end = d.text.indexOf('\r\n', start)
  return d.text.slice(start, end === -1 ? d.text.length : end)
}

/** The values of the raw field lines named `name` (case-insensitively), OWS trimmed. */
function raw(d: Divergence, name: string): string[] {
  const values: string[] = []
  for (const line of d.lines) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).toLowerCase() === name) {
      values.push(trimOws(line.slice(colon + 1)))
    }
  }
  return values
}

/** The raw lines (untrimmed values) named `name`. */
function rawLines(d: Divergence, name: string): string[] {
  return d.lines.filter((line) => line.toLowerCase().startsWith(`${name}:`))
}

/** The elements of a comma-separated list (RFC 9110 §5.6.1), lower-cased, empty ones dropped. */
function listOf(values: string[]): string[] {
  return values
    .join(',')
    .split(',')
    .map((element) => trimOws(element).toLowerCase())
    .filter((element) => element !== '')
}

/**
 * What comes before the path of a target that is neither origin-form nor asterisk-form: its
 * scheme and authority, up to the first `/`, `?` or `#` after `://` (RFC 3986 §3); all of it
 * without `://` (authority-form, or no URI at all).
 */
function schemeAndAuthority(target: string): string {
  if (target.startsWith('/') || target.startsWith('*')) return ''
  const scheme = target.indexOf('://')
  if (scheme === -1) return target
  return target.slice(0, scheme + 3) + /^[^/?#]*/.exec(target.slice(scheme + 3))![0]
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const TCHARS = String.raw`[!#$%&'*+\-.^_\`|~0-9A-Za-z]+`
/** `quoted-string` (RFC 9110 §5.6.4): qdtext and quoted-pairs between DQUOTEs. */
const QUOTED = String.raw`"(?:[\t !#-[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"`
/** `chunk-size [ chunk-ext ]` with BWS (RFC 9112 §7.1, §7.1.1). */
const CHUNK_LINE = new RegExp(
  String.raw`^[0-9A-Fa-f]+(?:[ \t]*;[ \t]*${TCHARS}(?:[ \t]*=[ \t]*(?:${TCHARS}|${QUOTED}))?)*$`,
)

/**
 * fulcrum refuses, llhttp accepts: where fulcrum is stricter than llhttp, each rule with the
 * RFC text that lets a server refuse.
 */
const STRICTER: Rule[] = [
  {
    id: 'missing-host',
    rfc: 'RFC 9112 §3.2',
    why: 'A server MUST answer 400 to an HTTP/1.1 request without Host; llhttp does not check.',
    refusal: /^400 Missing Host$/,
    applies: (d) => d.line.endsWith(' HTTP/1.1') && raw(d, 'host').length === 0,
  },
  {
    id: 'duplicate-host',
    rfc: 'RFC 9112 §3.2',
    why: 'A server MUST answer 400 to a request with more than one Host field line.',
    refusal: /^400 Duplicate Host$/,
    applies: (d) => raw(d, 'host').length > 1,
  },
  {
    id: 'version-not-1',
    rfc: 'RFC 9110 §15.6.6, RFC 9112 §2.3',
    why:
      'fulcrum speaks HTTP/1.x only and answers 505 to another major version (llhttp takes 0.9 ' +
      'and 2.0).',
    refusal: /^505 /,
    applies: (d) => /HTTP\/[02-9]\.\d$/.test(d.line),
  },
  {
    id: 'http-0.9',
    rfc: 'RFC 9112 §3',
    why: 'A request line without an HTTP-version (HTTP/0.9) is refused; llhttp reads it as 0.9.',
    refusal: /^400 Invalid request (target|line)$/,
    applies: (d) => /^[^ ]+ [^ ]+$/.test(d.line) || d.lHead?.version === '0.9',
  },
  {
    id: 'request-line-spaces',
    rfc: 'RFC 9112 §3',
    why: 'The request line has exactly one SP between its parts; llhttp skips runs of SP.',
    refusal: /^400 Invalid (request line|request target|method)$/,
    applies: (d) => / {2}/.test(d.line),
  },
  {
    id: 'backslash-before-path',
    rfc: 'RFC 3986 §2, §3; RFC 9112 §3.2',
    why:
      'No URI has a backslash, and WHATWG URL reads one as `/` (`http://examp\\le.com/a` is host ' +
      '`examp`): fulcrum refuses it in a target’s scheme or authority, as llhttp does in an ' +
      'absolute-form, but also in a CONNECT target, whose rest llhttp takes as a path from its ' +
      'first `/` or `?`. In a path or a query both accept it.',
    refusal: /^400 Invalid request target$/,
    applies: (d) => schemeAndAuthority(d.target).includes('\\'),
  },
  {
    id: 'te-in-http-1.0',
    rfc: 'RFC 9112 §6.1',
    why: 'An HTTP/1.0 message with Transfer-Encoding MUST be treated as faulty framing.',
    refusal: /^400 Transfer-Encoding in HTTP\/1\.0$/,
    applies: (d) => d.line.endsWith(' HTTP/1.0') && raw(d, 'transfer-encoding').length > 0,
  },
  {
    id: 'unsupported-coding',
    rfc: 'RFC 9112 §6.1, RFC 9110 §15.6.2',
    why: 'A coding fulcrum does not decode (anything but chunked) is answered 501.',
    refusal: /^501 Unsupported transfer coding$/,
    applies: (d) => listOf(raw(d, 'transfer-encoding')).some((coding) => coding !== 'chunked'),
  },
  {
    id: 'chunked-not-final-once',
    rfc: 'RFC 9112 §6.3 (rule 4), §6.1',
    why:
      'A request whose Transfer-Encoding does not end in chunked (an empty one included) gets ' +
      '400; chunked MUST NOT be applied twice. llhttp lets an empty or doubled list by.',
    refusal: /^400 Transfer-Encoding must end in chunked$/,
    applies: (d) => {
      const codings = listOf(raw(d, 'transfer-encoding'))
      return codings.at(-1) !== 'chunked' || codings.indexOf('chunked') !== codings.length - 1
    },
  },
  {
    id: 'duplicate-transfer-encoding',
    rfc: 'RFC 9112 §6.1',
    why: 'A second Transfer-Encoding line is refused rather than combined (the edge corpus rule).',
    refusal: /^400 Duplicate Transfer-Encoding$/,
    applies: (d) => raw(d, 'transfer-encoding').length > 1,
  },
  {
    id: 'content-length-and-te',
    rfc: 'RFC 9112 §6.1, §6.3 (rule 3)',
    why:
      'A server MAY reject a request with both; fulcrum always does (llhttp not when TE is ' +
      'empty).',
    refusal: /^400 Both Content-Length and Transfer-Encoding$/,
    applies: (d) => raw(d, 'content-length').length > 0 && raw(d, 'transfer-encoding').length > 0,
  },
  {
    id: 'integer-limit',
    rfc: 'RFC 9112 §6.3, §7.1',
    why:
      'A recipient MUST prevent integer overflow: fulcrum refuses lengths and chunk sizes beyond ' +
      '2^53 (llhttp allows 2^64).',
    refusal: /^(413 Content-Length too large|400 Chunk size too large)$/,
    applies: (d) =>
      raw(d, 'content-length').some((value) => Number(value) > Number.MAX_SAFE_INTEGER) ||
      /(^|\n)[0-9A-Fa-f]{14,}/.test(d.rest),
  },
  {
    id: 'chunk-extension-syntax',
    rfc: 'RFC 9112 §7.1.1',
    why:
      'chunk-ext-name is a token and chunk-ext-val a token or a quoted-string, never empty; ' +
      'llhttp lets `;=b` and `;a=` by on the last chunk.',
    refusal: /^400 Invalid chunk extension$/,
    applies: (d) => chunkLines(d).some((line) => !CHUNK_LINE.test(line)),
  },
  {
    id: 'size-limit',
    rfc: 'RFC 6585 §5, RFC 9112 §3, §7.1.1',
    why:
      'The head limit counts every byte of the head (node counts the target, names and values ' +
      'only); a chunk line is limited to 4 KiB (node: 16 KiB of extensions).',
    refusal: /^(431 |414 |400 Chunk size line too long$)/,
    applies: (d) => d.rest.length >= MAX_HEAD || /(^|\n)[^\n]{4096}/.test(d.rest),
  },
]

/**
 * llhttp refuses, fulcrum accepts: each rule names why fulcrum's acceptance is right (or whose
 * job the refusal is).
 */
const LAXER: Rule[] = [
  {
    id: 'extension-method',
    rfc: 'RFC 9110 §9.1, §16.1',
    why:
      'A method is any token and the registry is open; llhttp knows a fixed list (and keeps PRI ' +
      'for the HTTP/2 preface). The edge decides which methods it serves.',
    refusal: /^HPE_INVALID_(METHOD |CONSTANT Invalid method |VERSION Expected HTTP\/2 Connection)/,
    applies: (d) =>
      TOKEN.test(d.method) && (!LLHTTP_METHODS.includes(d.method) || d.method === 'PRI'),
  },
  {
    id: 'data-after-close',
    rfc: 'RFC 9112 §9.6',
    why:
      'After a request that closes the connection, fulcrum’s connection answers and closes: it ' +
      'never asks the parser for the next request, so what follows is not refused, only unread.',
    refusal: /^HPE_CLOSED_CONNECTION /,
    applies: (d) => d.index > 0 && d.f.messages[d.index - 1]!.keepAlive === false,
  },
  {
    id: 'target-form',
    rfc: 'RFC 9112 §3.2',
    why:
      'The parser takes any visible-ASCII target; its form (origin, absolute, authority, *) is ' +
      'checked by the edge (src/edge/validate.ts checkTarget), which refuses what llhttp does ' +
      'here.',
    refusal: /^HPE_INVALID_URL /,
    applies: (d) => d.target !== '' && !d.target.startsWith('/'),
  },
  {
    id: 'ows-after-framing-value',
    rfc: 'RFC 9112 §5.1, RFC 9110 §5.6.3',
    why:
      'OWS (SP or HTAB) after a field value is not part of it; llhttp takes a trailing HTAB as ' +
      'part of Content-Length and Transfer-Encoding.',
    refusal:
      /^HPE_INVALID_(CONTENT_LENGTH Invalid character |TRANSFER_ENCODING Request has invalid)/,
    applies: (d) =>
      [...rawLines(d, 'content-length'), ...rawLines(d, 'transfer-encoding')].some((line) =>
        /\t[ \t]*$/.test(line),
      ),
  },
  {
    id: 'empty-list-element',
    rfc: 'RFC 9110 §5.6.1',
    why: 'A recipient MUST accept and ignore empty list elements (as in `chunked,`).',
    refusal: /^HPE_INVALID_TRANSFER_ENCODING Invalid `Transfer-Encoding` header value$/,
    applies: (d) =>
      raw(d, 'transfer-encoding').some((value) => /(^|,)[ \t]*(,|$)/.test(value)) &&
      listOf(raw(d, 'transfer-encoding')).join() === 'chunked',
  },
  {
    id: 'chunk-extension-bws',
    rfc: 'RFC 9112 §7.1.1',
    why: 'chunk-ext allows BWS around ";" and "="; llhttp refuses whitespace there.',
    refusal: /^(HPE_INVALID_CHUNK_SIZE |HPE_STRICT .*chunk extension)/,
    applies: (d) => {
      const line = lineAtLlhttpError(d)
      return /[ \t]/.test(line) && CHUNK_LINE.test(line)
    },
  },
  {
    id: 'framing-field-in-trailers',
    rfc: 'RFC 9110 §6.5.1, RFC 9112 §7.1.2',
    why:
      'Framing fields have no meaning in trailers; fulcrum discards every trailer field (never ' +
      'merged into the head, never forwarded), so a Content-Length there frames nothing.',
    refusal: /^HPE_INVALID_(CONTENT_LENGTH|TRANSFER_ENCODING) /,
    applies: (d) =>
      d.bodyStart >= 0 &&
      (d.l.errorOffset ?? 0) > d.bodyStart &&
      /^(content-length|transfer-encoding):/i.test(lineAtLlhttpError(d)),
  },
  {
    id: 'input-ends-first',
    rfc: 'RFC 9112 §2.2',
    why:
      'llhttp refuses at a byte it cannot take before a line or head ends (a method it does not ' +
      'know, a version, a field conflict, a bare CR); fulcrum judges the bytes of a head as they ' +
      'come, but the major version at the request line’s LF, a chunk or trailer line at its LF ' +
      'and the framing at the end of the head. The input ended first: fulcrum has accepted ' +
      'nothing of it.',
    refusal: /./,
    applies: (d) => {
      if (d.f.state !== 'partial' || d.f.messages.length !== d.index) return false
      // The line llhttp refused is the last one, unfinished: fulcrum has not judged it yet.
      const at = d.l.errorOffset ?? 0
      if (!d.text.slice(d.text.lastIndexOf('\n', at - 1) + 1).includes('\n')) return true
      // Or the head is unfinished, and llhttp refused a field conflict fulcrum judges at its end.
      return (
        d.f.pending === undefined &&
        d.bodyStart === -1 &&
        /^HPE_(INVALID_CONTENT_LENGTH|UNEXPECTED_CONTENT_LENGTH|INVALID_TRANSFER_ENCODING) /.test(
          d.l.error!,
        )
      )
    },
  },
]

/** Differences within a message both accept, explained. */
const MESSAGE_RULES = {
  connect: {
    id: 'connect-tunnel',
    rfc: 'RFC 9110 §9.3.6',
    why:
      'llhttp hands the bytes after a CONNECT head to a tunnel; fulcrum frames CONNECT like any ' +
      'request and the edge refuses it (501) and closes. Nothing after it is compared.',
  },
  upgradeTab: {
    id: 'upgrade-framing-with-htab',
    rfc: 'RFC 9112 §5.1, RFC 9110 §5.6.3',
    why:
      'An Upgrade request framed by `Transfer-Encoding: chunked<HTAB>`: fulcrum reads the ' +
      'chunked body, then tunnels; llhttp does not see chunked (the HTAB), so it tunnels from ' +
      'the head on.',
  },
  emptyUpgrade: {
    id: 'upgrade-without-protocol',
    rfc: 'RFC 9110 §7.8',
    why:
      'Connection: upgrade with an empty Upgrade list: fulcrum reports the (empty) Upgrade and ' +
      'its connection, which tunnels websocket only, serves it as plain HTTP; llhttp ignores it.',
  },
  connectionTab: {
    id: 'connection-option-with-htab',
    rfc: 'RFC 9112 §5.1, RFC 9110 §5.6.3',
    why:
      'A Connection option followed by an HTAB (OWS): fulcrum reads `close`, `keep-alive` or ' +
      '`upgrade`, llhttp does not, so they differ on persistence or on the Upgrade only.',
  },
  closeWins: {
    id: 'close-wins-in-1.0',
    rfc: 'RFC 9112 §9.3, §9.6',
    why:
      'An HTTP/1.0 request listing both keep-alive and close: fulcrum closes (close wins), ' +
      'llhttp keeps the connection.',
  },
} as const

// ---------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------

type Kind = 'both accept' | 'both refuse' | 'only fulcrum refuses' | 'only llhttp refuses'

/** The verdict on one case: its kind and the rule that explains it, or why it is a failure. */
type Verdict =
  | { kind: Kind; rule?: string; notes: string[] }
  | { kind: 'mismatch' | 'unexplained'; detail: string; notes: string[] }

const FRAMING = ['method', 'target', 'version', 'fields', 'body', 'end', 'keepAlive', 'upgrade']

/** The properties of two messages that differ. */
function differences(a: Message, b: Message): string[] {
  return FRAMING.filter(
    (key) => JSON.stringify(a[key as keyof Message]) !== JSON.stringify(b[key as keyof Message]),
  )
}

function hasToken(fields: string[], name: string, token: string): boolean {
  return fields.some(
    (value, i) =>
      i % 2 === 1 &&
      fields[i - 1]!.toLowerCase() === name &&
      value.split(',').some((element) => trimOws(element).toLowerCase() === token),
  )
}

/** Compare fulcrum's and llhttp's outcomes for `text`. */
function classify(text: string, f: Outcome, l: Outcome): Verdict {
  const notes: string[] = []
  let index = 0
  for (; index < f.messages.length && index < l.messages.length; index++) {
    const fm = f.messages[index]!
    const lm = l.messages[index]!
    if (fm.method === 'CONNECT' && lm.method === 'CONNECT') {
      const heads = ['method', 'target', 'version', 'fields']
      const differ = differences(fm, lm).filter((key) => heads.includes(key))
      if (differ.length > 0) {
        return { kind: 'mismatch', detail: `CONNECT message ${index}: ${differ}`, notes }
      }
      notes.push(MESSAGE_RULES.connect.id)
      return { kind: 'both accept', notes }
    }
    const differ = differences(fm, lm)
    if (differ.length === 0) continue
    if (differ.every((key) => key === 'body' || key === 'end') && fm.upgrade && lm.upgrade) {
      const lines = rawLinesAt(text, f, index)
      if (lines.some((line) => /^transfer-encoding:.*\t[ \t]*$/i.test(line))) {
        notes.push(MESSAGE_RULES.upgradeTab.id)
        return { kind: 'both accept', notes }
      }
    }
    if (
      differ.join() === 'keepAlive' &&
      fm.version === '1.0' &&
      !fm.keepAlive &&
      hasToken(fm.fields, 'connection', 'close') &&
      hasToken(fm.fields, 'connection', 'keep-alive')
    ) {
      notes.push(MESSAGE_RULES.closeWins.id)
      continue
    }
    if (
      differ.every((key) => key === 'keepAlive' || key === 'upgrade') &&
      rawLinesAt(text, f, index).some((line) => /^connection:.*\t[ \t]*$/i.test(line))
    ) {
      notes.push(MESSAGE_RULES.connectionTab.id)
      // One of them tunnels from here: nothing after is compared.
      if (differ.includes('upgrade')) return { kind: 'both accept', notes }
      continue
    }
    if (differ.join() === 'upgrade' && fm.upgrade) {
      const upgrades = rawLinesAt(text, f, index).filter((line) => /^upgrade:/i.test(line))
      if (upgrades.every((line) => trimOws(line.slice(8)) === '')) {
        // fulcrum's parse stops at what it reports as an Upgrade: nothing after is compared.
        notes.push(MESSAGE_RULES.emptyUpgrade.id)
        return { kind: 'both accept', notes }
      }
    }
    return { kind: 'mismatch', detail: `message ${index} differs in ${differ}`, notes }
  }
  // llhttp tunnels from a head on (CONNECT, or an Upgrade it sees no body for) where fulcrum
  // reads a body first: the heads must match, and a rule must say why.
  const lm = l.messages[index]
  const fp = f.messages[index] ?? f.pending
  if (lm?.upgrade && fp && f.messages.length === index) {
    const heads = ['method', 'target', 'version', 'fields']
    const same = heads.every(
      (key) => JSON.stringify(fp[key as keyof Head]) === JSON.stringify(lm[key as keyof Head]),
    )
    const lines = rawLinesAt(text, f, index)
    const rule =
      lm.method === 'CONNECT'
        ? MESSAGE_RULES.connect.id
        : fp.upgrade && lines.some((line) => /^transfer-encoding:.*\t[ \t]*$/i.test(line))
          ? MESSAGE_RULES.upgradeTab.id
          : undefined
    if (same && rule && (f.state === 'partial' || f.state === 'error')) {
      notes.push(rule)
      return { kind: f.state === 'error' ? 'only fulcrum refuses' : 'both accept', notes }
    }
  }
  const fDone = index === f.messages.length
  const lDone = index === l.messages.length
  if (fDone && lDone && f.state === l.state) {
    return { kind: f.state === 'error' ? 'both refuse' : 'both accept', notes }
  }
  const fRefuses = fDone && f.state === 'error'
  const lRefuses = lDone && l.state === 'error'
  if (fRefuses && lRefuses) return { kind: 'both refuse', notes }
  if (!fRefuses && !lRefuses) {
    return {
      kind: 'mismatch',
      detail:
        `after ${index} messages, fulcrum is ${f.state} (${f.messages.length} messages), ` +
        `llhttp ${l.state} (${l.messages.length})`,
      notes,
    }
  }
  const d: Divergence = {
    text,
    f,
    l,
    index,
    ...partsAt(text, index === 0 ? 0 : f.messages[index - 1]!.end),
    fHead: f.messages[index] ?? f.pending,
    lHead: l.messages[index] ?? l.pending,
    method: '',
    target: '',
  }
  const words = d.line.split(' ')
  d.method = d.fHead?.method ?? words[0]!
  d.target = d.fHead?.target ?? words[1] ?? ''
  const [kind, rules, refusal]: [Kind, Rule[], string] = fRefuses
    ? ['only fulcrum refuses', STRICTER, f.error!]
    : ['only llhttp refuses', LAXER, l.error!]
  const rule = rules.find((r) => r.refusal.test(refusal) && r.applies(d))
  if (rule) return { kind, rule: rule.id, notes }
  return { kind: 'unexplained', detail: `${kind} at message ${index}: ${refusal}`, notes }
}

/** The case as a failure prints it: enough to make it again, and to read it. */
function describeCase(c: GeneratedCase, f?: Outcome, l?: Outcome): string {
  return JSON.stringify(
    {
      seed: c.seed,
      index: c.index,
      split: c.split,
      mutations: c.mutations,
      bytes: latin1(c.bytes),
      fulcrum: f,
      llhttp: l,
    },
    null,
    1,
  )
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

const u8 = (text: string) => Buffer.from(text, 'latin1')

describe('the llhttp driver', () => {
  it('reports each message and where the next one starts', () => {
    const text =
      'GET /a HTTP/1.1\r\nHost: x\r\nX-A: \t1 \t\r\n\r\n' +
      '\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
      'PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '2;e=1\r\nde\r\n0\r\nT: 1\r\n\r\nGE'
    const outcome = llhttp(u8(text))
    expect(outcome.messages.map((m) => [m.method, m.target, m.body, m.end])).toEqual([
      ['GET', '/a', '', text.indexOf('\r\n\r\n') + 4],
      ['POST', '/b', 'abc', text.indexOf('abc') + 3],
      ['PUT', '/c', 'de', text.length - 2],
    ])
    expect(outcome.messages[0]!.fields).toEqual(['Host', 'x', 'X-A', '1'])
    expect(outcome.state).toBe('partial')
    expect(fulcrumParse(u8(text))).toEqual(outcome)
  })

  it('collects more than 32 field lines (node flushes them in batches)', () => {
    const fields = Array.from({ length: 70 }, (_, i) => `X-${i}: ${i}\r\n`).join('')
    const text = `GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`.repeat(2)
    const outcome = llhttp(u8(text))
    expect(outcome.messages.map((m) => m.fields.length)).toEqual([142, 142])
    expect(outcome.messages[1]!.target).toBe('/')
  })

  it('stops at an Upgrade, and tells the error in the body of one', () => {
    const up = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: ws\r\n'
    const done = llhttp(u8(`${up}Content-Length: 1\r\n\r\naTUNNEL`))
    expect(done.state).toBe('upgrade')
    expect(done.messages[0]!.end).toBe(up.length + 22)
    const bad = llhttp(u8(`${up}Transfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n`))
    expect(bad.state).toBe('error')
    expect(bad.error).toMatch(/^HPE_STRICT |^HPE_CR_EXPECTED /)
  })

  it('refuses in strict mode what the lenient flags would allow', () => {
    expect(llhttp(u8('GET / HTTP/1.1\nHost: x\n\n')).state).toBe('error')
    expect(llhttp(u8('GET / HTTP/1.1\r\nHost: x\r\n a\r\n\r\n')).state).toBe('error')
    const both = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n'
    expect(llhttp(u8(`${both}\r\n0\r\n\r\n`)).state).toBe('error')
  })
})

describe('the case generator', () => {
  it('makes the same case from the same seed and index', () => {
    for (const index of [0, 1, 77, 4096]) {
      expect(generateCase(7, index)).toEqual(generateCase(7, index))
    }
    expect(latin1(generateCase(7, 1).bytes)).not.toBe(latin1(generateCase(8, 1).bytes))
  })

  it('draws every mutation, and valid bases too', () => {
    const seen = new Set<string>()
    let unmutated = 0
    let pipelined = 0
    for (let i = 0; i < 3000; i++) {
      const c = generateCase(SEED, i)
      for (const name of c.mutations) seen.add(name)
      if (c.mutations.length === 0) unmutated++
      if (fulcrumParse(c.bytes).messages.length > 1) pipelined++
    }
    expect([...seen].sort()).toEqual(
      [
        'bare-cr',
        'bare-lf',
        'chunks',
        'cl-and-te',
        'connection',
        'content-length',
        'delete',
        'dup-field',
        'flip',
        'head-end',
        'host',
        'http10',
        'insert',
        'leading-lines',
        'many-fields',
        'method',
        'obs-fold',
        'odd-field',
        'oversized-field',
        'pipeline',
        'request-line',
        'target',
        'transfer-encoding',
        'truncate',
        'version',
      ].sort(),
    )
    expect(unmutated).toBeGreaterThan(100)
    expect(pipelined).toBeGreaterThan(100)
  })
})

/** One example per rule: the rule is exercised, and its evidence is checked, on known bytes. */
const RULE_EXAMPLES: [string, string][] = [
  ['missing-host', 'GET / HTTP/1.1\r\n\r\n'],
  ['duplicate-host', 'GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n'],
  ['version-not-1', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n'],
  ['http-0.9', 'GET /a\r\nHost: a\r\n\r\n'],
  ['request-line-spaces', 'GET /  HTTP/1.1\r\nHost: a\r\n\r\n'],
  // llhttp takes the rest of a CONNECT target from its first `/` as a path, and tunnels.
  ['backslash-before-path', 'CONNECT http://examp\\le.com/ HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['te-in-http-1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
  ['unsupported-coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n'],
  ['chunked-not-final-once', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n'],
  [
    'duplicate-transfer-encoding',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n' +
      '0\r\n\r\n',
  ],
  [
    'content-length-and-te',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 1\r\n\r\na',
  ],
  ['integer-limit', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9007199254740992\r\n\r\n'],
  // Short field lines: fulcrum counts their 6 bytes each, node the 2 of the name and the value.
  ['size-limit', `GET / HTTP/1.1\r\nHost: a\r\n${'A: 1\r\n'.repeat(MAX_HEAD / 4)}\r\n`],
  ['extension-method', 'TRACK / HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['data-after-close', 'GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n'],
  ['target-form', 'GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n'],
  ['ows-after-framing-value', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\t\r\n\r\na'],
  [
    'empty-list-element',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n0\r\n\r\n',
  ],
  [
    'chunk-extension-bws',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1 ; a = b\r\na\r\n0\r\n\r\n',
  ],
  [
    'chunk-extension-syntax',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0;=b\r\n\r\n',
  ],
  [
    'framing-field-in-trailers',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '0\r\nContent-Length: 1\r\n\r\n',
  ],
  // llhttp refuses the major version at once; fulcrum judges it when the line ends (505).
  ['input-ends-first', 'GET / HTTP/3.0\r'],
  [
    'upgrade-framing-with-htab',
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: ws\r\n' +
      'Transfer-Encoding: chunked\t\r\n\r\n1\r\na\r\n0\r\n\r\n',
  ],
  ['connect-tunnel', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 1\r\n\r\na'],
  [
    'upgrade-without-protocol',
    'GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade:\r\n\r\n',
  ],
  ['connection-option-with-htab', 'GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n'],
  ['close-wins-in-1.0', 'GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n'],
]

describe('each documented rule', () => {
  const all = [...STRICTER, ...LAXER, ...Object.values(MESSAGE_RULES)]
  it('has an example', () => {
    expect(RULE_EXAMPLES.map(([id]) => id).sort()).toEqual(all.map((rule) => rule.id).sort())
  })

  for (const [id, text] of RULE_EXAMPLES) {
    it(`${id}: explains its example`, () => {
      const input = u8(text)
      const verdict = classify(text, fulcrumParse(input), llhttp(input))
      expect('rule' in verdict ? verdict.rule : verdict.notes[0], JSON.stringify(verdict)).toBe(id)
    })
  }

  it('does not explain a refusal without its evidence', () => {
    // A 505 is explained by the version, not by the refusal alone: here the line says 1.1.
    const f: Outcome = { messages: [], pending: undefined, state: 'error', error: '505 x' }
    const text = 'GET / HTTP/1.1\r\nHost: a\r\n\r\n'
    expect(classify(text, f, llhttp(u8(text))).kind).toBe('unexplained')
    // And framing that differs where both accept is a mismatch, whatever the rules.
    const l = llhttp(u8(text))
    const moved = { ...l, messages: [{ ...l.messages[0]!, end: l.messages[0]!.end - 1 }] }
    expect(classify(text, fulcrumParse(u8(text)), moved).kind).toBe('mismatch')
  })
})

/**
 * What RFC 9112 forbids, refused whatever llhttp does: the forms parser.test.ts's REFUSALS does
 * not already cover (bare LF endings, obs-fold, space before the colon, CL with TE, chunk-size
 * syntax, NUL and controls in values are there), each with its RFC section.
 */
const MUST_REFUSE: [string, string][] = [
  // RFC 9112 §2.2: a bare CR outside content is invalid; line ends are CRLF.
  ['bare CR ending the request line', 'GET / HTTP/1.1\rHost: x\r\n\r\n'],
  // Refused as soon as the byte after the CR arrives, however the head was split: the head has
  // not ended, and no further byte is needed.
  ['a line of a bare CR before the end of the head', 'GET / HTTP/1.1\r\nHost: x\r\n\r\r\n'],
  ['bare CR inside the target', 'GET /a\rb HTTP/1.1\r\nHost: x\r\n\r\n'],
  [
    'bare CR in a chunk extension',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;a\rb\r\nx\r\n0\r\n\r\n',
  ],
  ['bare LF inside the head, second field', 'GET / HTTP/1.1\r\nHost: x\r\nA: 1\nB: 2\r\n\r\n'],
  [
    'bare LF ending the last chunk',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\n\r\n',
  ],
  // RFC 9112 §5.2: obs-fold (400) in any position, tabs included.
  ['obs-fold after Host', 'GET / HTTP/1.1\r\nHost: x\r\n  y\r\n\r\n'],
  [
    'obs-fold continuing Content-Length',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 1\r\n\r\na',
  ],
  ['obs-fold line of only whitespace', 'GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\n \r\n\r\n'],
  // RFC 9112 §5.1: no whitespace between the name and the colon, nor before the name.
  [
    'space before the colon of Content-Length',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\na',
  ],
  ['space before the colon of Host', 'GET / HTTP/1.1\r\nHost : x\r\n\r\n'],
  // RFC 9110 §5.5: field values are VCHAR, obs-text, SP and HTAB.
  ['NUL in Host', 'GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n'],
  ['ESC in a value', 'GET / HTTP/1.1\r\nHost: x\r\nA: \x1b[31m\r\n\r\n'],
  [
    'vertical tab before Content-Length value',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\x0b1\r\n\r\na',
  ],
  ['form feed after a value', 'GET / HTTP/1.1\r\nHost: x\f\r\n\r\n'],
  // RFC 9112 §6.1, §6.3: framing that cannot be trusted.
  [
    'CL with TE in a later message of a pipeline',
    'GET / HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n' +
      '0\r\n\r\n',
  ],
  [
    'Content-Length with a trailing letter',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n\r\na',
  ],
  [
    'Content-Length list of different values',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\na',
  ],
  [
    'Transfer-Encoding chunked then identity',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n',
  ],
  [
    'Transfer-Encoding quoted',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "chunked"\r\n\r\n0\r\n\r\n',
  ],
  // RFC 9112 §7.1: chunk-size is 1*HEXDIG, then CRLF after the data.
  [
    'chunk size with a leading tab',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\t1\r\na\r\n0\r\n\r\n',
  ],
  [
    'chunk data longer than its size',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n',
  ],
  [
    'last chunk without its final CRLF, then a request',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nGET / HTTP/1.1\r\n\r\n',
  ],
  [
    'a chunk extension value with a bare quote inside',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;a=b"c\r\nx\r\n0\r\n\r\n',
  ],
  // RFC 9112 §7.1.2: trailer fields have the field-line syntax.
  [
    'a trailer with a space before the colon',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T : 1\r\n\r\n',
  ],
  [
    'a trailer with NUL',
    'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: a\x00\r\n\r\n',
  ],
  // RFC 9112 §3: method SP request-target SP HTTP-version CRLF.
  ['no space before the version', 'GET /HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['a NUL after the method', 'GET\x00 / HTTP/1.1\r\nHost: x\r\n\r\n'],
  ['the version in two parts', 'GET / HTTP/ 1.1\r\nHost: x\r\n\r\n'],
  ['a version with three digits', 'GET / HTTP/1.1.1\r\nHost: x\r\n\r\n'],
  ['HTTP/0.9 by its version', 'GET / HTTP/0.9\r\nHost: x\r\n\r\n'],
  // RFC 3986 §2 (RFC 9112 §3.2): no backslash in a URI, as llhttp refuses it in an authority.
  [
    'a backslash in the authority of an absolute-form',
    'GET http://examp\\le.com/a HTTP/1.1\r\nHost: examp\r\n\r\n',
  ],
  ['a backslash in the scheme', 'GET http:\\\\example.com/a HTTP/1.1\r\nHost: example.com\r\n\r\n'],
]

describe('fulcrum refuses what RFC 9112 forbids', () => {
  for (const [name, text] of MUST_REFUSE) {
    it(name, () => {
      const input = u8(text)
      const whole = fulcrumParse(input)
      expect(whole.state, JSON.stringify(whole)).toBe('error')
      // The refused message itself never completes (messages before it may, in a pipeline).
      expect(whole.messages.every((m) => m.end <= text.lastIndexOf('\r\n\r\n', 40) + 4)).toBe(true)
      // Byte by byte, the same refusal.
      const bytewise = Array.from({ length: input.length - 1 }, (_, i) => i + 1)
      expect(fulcrumParse(input, bytewise)).toEqual(whole)
    })
  }
})

describe(`fulcrum on ${BYTEWISE} seeded cases fed byte by byte (seed ${SEED})`, () => {
  it('gives the outcome of the whole feed', () => {
    const failures: string[] = []
    for (let index = 0; index < BYTEWISE; index++) {
      const c = generateCase(SEED, index)
      const whole = fulcrumParse(c.bytes)
      const cuts = Array.from({ length: Math.max(0, c.bytes.length - 1) }, (_, i) => i + 1)
      const bytewise = fulcrumParse(c.bytes, cuts)
      if (JSON.stringify(bytewise) !== JSON.stringify(whole)) {
        failures.push(`byte by byte: ${JSON.stringify(bytewise)}\n${describeCase(c, whole)}`)
      }
    }
    expect(failures.slice(0, 5).join('\n\n'), `${failures.length} failures`).toBe('')
  })
})

describe(`fulcrum and llhttp on ${CASES} seeded cases (seed ${SEED})`, () => {
  it(
    'agree on the framing wherever both accept, and differ only by a documented rule',
    () => {
      const started = performance.now()
      const counts = new Map<string, number>()
      const rules = new Map<string, number>()
      const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1)
      const failures: string[] = []
      for (let index = 0; index < CASES; index++) {
        const c = generateCase(SEED, index)
        const text = latin1(c.bytes)
        const f = fulcrumParse(c.bytes)
        const cut = fulcrumParse(c.bytes, [c.split])
        if (JSON.stringify(cut) !== JSON.stringify(f)) {
          bump(counts, 'split differs')
          failures.push(
            `split at ${c.split} differs: ${JSON.stringify(cut)}\n${describeCase(c, f)}`,
          )
          continue
        }
        const l = llhttp(c.bytes)
        const verdict = classify(text, f, l)
        bump(counts, verdict.kind)
        for (const note of verdict.notes) bump(rules, note)
        if ('rule' in verdict && verdict.rule) bump(rules, verdict.rule)
        if ('detail' in verdict) failures.push(`${verdict.detail}\n${describeCase(c, f, l)}`)
      }
      const seconds = ((performance.now() - started) / 1000).toFixed(1)
      const table = [...counts].map(([kind, n]) => `  ${kind}: ${n}`).join('\n')
      const byRule = [...rules]
        .sort((a, b) => b[1] - a[1])
        .map(([id, n]) => `  ${id}: ${n}`)
        .join('\n')
      console.log(
        `differential: ${CASES} cases, seed ${SEED}, ${seconds} s\n${table}\nrules:\n${byRule}`,
      )
      // DIFF_DUMP=file keeps every failure (the message shows the first five).
      if (process.env.DIFF_DUMP) writeFileSync(process.env.DIFF_DUMP, failures.join('\n\n'))
      expect(failures.slice(0, 5).join('\n\n'), `${failures.length} failures`).toBe('')
    },
    Math.max(60_000, CASES * 5),
  )
})
