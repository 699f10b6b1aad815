import { Buffer } from 'node:buffer'
import { FieldList } from '../../../src/http1/fields.ts'
import { HeadMemo } from '../../../src/http1/head-memo.ts'
import { describe, expect, it } from 'vitest'
import {
  fieldValue,
  HttpParseError,
  RequestParser,
  ResponseParser,
  UpstreamProtocolError,
  type RequestHead,
  type ResponseHead,
} from '../../../src/http1/parser.ts'

/** What one parse produced. */
interface Parsed {
  heads: ResponseHead[]
  body: Buffer
  /** How many times `end` was reported. */
  ends: number
  /** `extra` as seen from inside the `end` event. */
  extraAtEnd: boolean | undefined
  /** Whether the parser reported the end before `close()` was called. */
  endedBeforeClose: boolean
  parser: ResponseParser
}

/** Feed `pieces` in order, then close the connection when `close` says so. */
function parse(method: string, pieces: Uint8Array[], close = false, memo?: HeadMemo): Parsed {
  const chunks: Buffer[] = []
  const result: Parsed = {
    heads: [],
    body: Buffer.alloc(0),
    ends: 0,
    extraAtEnd: undefined,
    endedBeforeClose: false,
    parser: undefined as unknown as ResponseParser,
  }
  const parser = new ResponseParser(method, {
    head: (head) => result.heads.push(head),
    // A copy: the parser hands out views of its input.
    data: (chunk) => chunks.push(Buffer.from(chunk)),
    end: () => {
      result.ends++
      result.extraAtEnd = parser.extra
    },
  })
  if (memo) parser.memo = memo
  result.parser = parser
  for (const piece of pieces) parser.feed(piece)
  result.endedBeforeClose = result.ends > 0
  if (close) parser.close()
  result.body = Buffer.concat(chunks)
  return result
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1')

/** `input` cut at each of `cuts` (ascending offsets). */
function cut(input: Buffer, cuts: number[]): Buffer[] {
  const pieces: Buffer[] = []
  let from = 0
  for (const at of cuts) {
    pieces.push(input.subarray(from, at))
    from = at
  }
  pieces.push(input.subarray(from))
  return pieces
}

/**
 * The parts of a result that must not depend on how the input was split. (`extra` as seen at the
 * end does: bytes in a later read cannot be known then.)
 */
function summary(result: Parsed) {
  return {
    heads: result.heads.map((head) => ({
      status: head.status,
      statusText: head.statusText,
      headers: [...head.headers],
      keepAlive: head.keepAlive,
      hasBody: head.hasBody,
    })),
    body: result.body.toString('latin1'),
    ends: result.ends,
    endedBeforeClose: result.endedBeforeClose,
    done: result.parser.done,
    extra: result.parser.extra,
  }
}

/** Every byte value, for byte-exact bodies. */
const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i))

interface Case {
  name: string
  method?: string
  input: Buffer
  /** The body is delimited by the close of the connection. */
  untilClose?: boolean
  status: number
  statusText?: string
  headers?: [string, string][]
  body: Buffer | string
  keepAlive: boolean
  hasBody: boolean
  extra?: boolean
}

const CASES: Case[] = [
  {
    name: 'Content-Length',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  one \r\nX-A:two\r\n\r\nhello'),
    status: 200,
    statusText: 'OK',
    headers: [
      ['content-length', '5'],
      ['x-a', 'one, two'],
    ],
    body: 'hello',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'Content-Length with every byte value in the body',
    input: Buffer.concat([bytes('HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n'), ALL_BYTES]),
    status: 200,
    body: ALL_BYTES,
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'Content-Length: 0',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'),
    status: 200,
    body: '',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'a Content-Length list of one value (RFC 9110 §8.6)',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\nContent-Length: 3, 3\r\n\r\nabc'),
    status: 200,
    body: 'abc',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'chunked, with extensions and trailers',
    input: bytes(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
        '5;name=value\r\nhello\r\n' +
        '6 ; a="b;c" ; d\r\n world\r\n' +
        'A\r\n\r\n\r\n012345\r\n' +
        '0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n',
    ),
    status: 200,
    headers: [['transfer-encoding', 'chunked']],
    body: 'hello world\r\n\r\n012345',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'chunked without trailers, a coding before it left encoded',
    input: bytes(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTRANSFER-ENCODING: Chunked\r\n\r\n' +
        '3\r\n\x1f\x8b\x08\r\n0\r\n\r\n',
    ),
    status: 200,
    body: '\x1f\x8b\x08',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'chunked binary body',
    input: Buffer.concat([
      bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\n'),
      ALL_BYTES.subarray(0, 255),
      bytes('\r\n1\r\n'),
      ALL_BYTES.subarray(255),
      bytes('\r\n0\r\n\r\n'),
    ]),
    status: 200,
    body: ALL_BYTES,
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'a HEAD response, whatever its Content-Length',
    method: 'HEAD',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'),
    status: 200,
    body: '',
    keepAlive: true,
    hasBody: false,
  },
  {
    name: 'a HEAD response announcing chunked',
    method: 'HEAD',
    input: bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
    status: 200,
    body: '',
    keepAlive: true,
    hasBody: false,
  },
  {
    name: '204 No Content',
    input: bytes('HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'),
    status: 204,
    statusText: 'No Content',
    body: '',
    keepAlive: true,
    hasBody: false,
  },
  {
    name: '304 Not Modified with a Content-Length',
    input: bytes('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "x"\r\n\r\n'),
    status: 304,
    body: '',
    keepAlive: true,
    hasBody: false,
  },
  {
    name: 'until the close',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of\r\n\r\nthis'),
    untilClose: true,
    status: 200,
    body: 'all of\r\n\r\nthis',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'until the close: a final coding other than chunked (RFC 9112 §6.3 rule 4)',
    input: bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n'),
    untilClose: true,
    status: 200,
    body: '3\r\nabc\r\n',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'until the close, with no body bytes at all',
    input: bytes('HTTP/1.1 200 OK\r\n\r\n'),
    untilClose: true,
    status: 200,
    body: '',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'interim responses skipped',
    input: bytes(
      'HTTP/1.1 100 Continue\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n' +
        'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    ),
    status: 201,
    statusText: 'Created',
    headers: [['content-length', '2']],
    body: 'ok',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'Connection: close',
    input: bytes('HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok'),
    status: 200,
    body: 'ok',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'HTTP/1.0 without keep-alive',
    input: bytes('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'),
    status: 200,
    body: 'ok',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive',
    input: bytes('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok'),
    status: 200,
    body: 'ok',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'Transfer-Encoding and Content-Length: chunked wins, not reused (RFC 9112 §6.3 rule 3)',
    input: bytes(
      'HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    ),
    status: 200,
    body: 'ok',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'an empty reason phrase and obs-text in a field value',
    input: bytes('HTTP/1.1 404 \r\nX-Cafe: caf\u00e9\r\nContent-Length: 0\r\n\r\n'),
    status: 404,
    statusText: '',
    // In arrival order (fulcrum keeps it; `Headers` would sort).
    headers: [
      ['x-cafe', 'caf\u00e9'],
      ['content-length', '0'],
    ],
    body: '',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'obs-text in the reason phrase, and field names in any case',
    input: bytes('HTTP/1.1 200 \xe9t\xe9 ok\r\nX-BaCkEnD: 9001\r\nCONTENT-LENGTH: 1\r\n\r\nx'),
    status: 200,
    statusText: '\u00e9t\u00e9 ok',
    headers: [
      ['x-backend', '9001'],
      ['content-length', '1'],
    ],
    body: 'x',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'several Connection fields, read as one list',
    input: bytes(
      'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    ),
    status: 200,
    body: '',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'HTTP/1.0 with keep-alive in a second Connection field',
    input: bytes(
      'HTTP/1.0 200 OK\r\nConnection: Foo\r\nConnection:\tKeep-Alive \r\nContent-Length: 0\r\n\r\n',
    ),
    status: 200,
    body: '',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'HTTP/1.0 with Connection: close',
    input: bytes('HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n'),
    status: 200,
    body: '',
    keepAlive: false,
    hasBody: true,
  },
  {
    name: 'Content-Length repeated with the same value, on two lines',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length:2 \r\n\r\nok'),
    status: 200,
    body: 'ok',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'no reason phrase at all',
    input: bytes('HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx'),
    status: 200,
    statusText: '',
    body: 'x',
    keepAlive: true,
    hasBody: true,
  },
  {
    name: 'bytes after the end of a Content-Length body',
    input: bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n'),
    status: 200,
    body: 'ok',
    keepAlive: true,
    hasBody: true,
    extra: true,
  },
  {
    name: 'bytes after a 204',
    input: bytes('HTTP/1.1 204 No Content\r\n\r\nx'),
    status: 204,
    body: '',
    keepAlive: true,
    hasBody: false,
    extra: true,
  },
  {
    name: 'bytes after the last chunk',
    input: bytes('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n\r\n'),
    status: 200,
    body: '',
    keepAlive: true,
    hasBody: true,
    extra: true,
  },
]

describe('ResponseParser framing', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const result = parse(c.method ?? 'GET', [c.input], c.untilClose)
      expect(result.heads).toHaveLength(1)
      const head = result.heads[0]!
      expect(head.status).toBe(c.status)
      if (c.statusText !== undefined) expect(head.statusText).toBe(c.statusText)
      if (c.headers) expect([...head.headers]).toEqual(c.headers)
      expect(head.keepAlive).toBe(c.keepAlive)
      expect(head.hasBody).toBe(c.hasBody)
      expect(result.body.equals(Buffer.from(c.body as string, 'latin1'))).toBe(true)
      expect(result.ends).toBe(1)
      expect(result.parser.done).toBe(true)
      // The end comes after the close for a body delimited by it, and only then.
      expect(result.endedBeforeClose).toBe(!c.untilClose)
      expect(result.parser.extra).toBe(c.extra ?? false)
      // `extra` is already known when the end is reported.
      expect(result.extraAtEnd).toBe(c.extra ?? false)
      // A close after a complete response is harmless, and reports nothing more.
      result.parser.close()
      expect(result.ends).toBe(1)
    })
  }
})

describe('ResponseParser with a connection memo (HeadMemo)', () => {
  /** What a head says, for comparing one parse with another. */
  const summary = (head: ResponseHead) => ({
    status: head.status,
    statusText: head.statusText,
    headers: [...head.headers],
    keepAlive: head.keepAlive,
    hasBody: head.hasBody,
  })

  it('parses each case as it does alone, one head after another, in both orders and twice', () => {
    const memo = new HeadMemo()
    const order = [...CASES, ...CASES, ...[...CASES].reverse(), ...[...CASES].reverse()]
    for (const c of order) {
      const alone = parse(c.method ?? 'GET', [c.input], c.untilClose)
      // Twice: after another head, then after itself (a repeat, answered from the memo).
      for (let time = 0; time < 2; time++) {
        const remembered = parse(c.method ?? 'GET', [c.input], c.untilClose, memo)
        expect(remembered.heads.map(summary), c.name).toEqual(alone.heads.map(summary))
        expect(remembered.body.equals(alone.body), c.name).toBe(true)
        expect(remembered.ends, c.name).toBe(alone.ends)
      }
    }
  })

  it('frames a repeated head for the method asked with, and gives each its own list', () => {
    const memo = new HeadMemo()
    const input = bytes('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc')
    const get = parse('GET', [input], false, memo)
    const head = parse('HEAD', [input.subarray(0, input.length - 3)], false, memo)
    const again = parse('GET', [input], false, memo)
    expect([get, head, again].map((parsed) => parsed.heads[0]!.hasBody)).toEqual([
      true,
      false,
      true,
    ])
    expect(again.body.toString()).toBe('abc')
    // Each response's list is its own: editing a repeat's leaves the next repeat's alone.
    const repeat = parse('GET', [input], false, memo)
    repeat.heads[0]!.headers.delete('x-a')
    expect(repeat.heads[0]!.headers.get('x-a')).toBe(null)
    const last = parse('GET', [input], false, memo)
    expect(last.heads[0]!.headers.get('x-a')).toBe('1')
  })

  it('gives the new values where a repeated head changes, whatever their case or count', () => {
    const memo = new HeadMemo()
    const head = (date: string, connection: string, extra = '') =>
      parse(
        'GET',
        [
          bytes(
            `HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: ${date}\r\nConnection: ${connection}\r\n` +
              `${extra}Content-Length: 0\r\n\r\n`,
          ),
        ],
        false,
        memo,
      ).heads[0]!
    /** The fields the client sees for such a head. */
    const fields = (date: string, connection: string, extra: string[][] = []) => [
      ['server', 'nginx'],
      ['date', date],
      ['connection', connection],
      ...extra,
      ['content-length', '0'],
    ]
    expect(summary(head('a', 'keep-alive'))).toMatchObject({ keepAlive: true })
    expect(summary(head('a', 'keep-alive'))).toMatchObject({
      keepAlive: true,
      headers: fields('a', 'keep-alive'),
    })
    expect(summary(head('b', 'Close'))).toMatchObject({
      keepAlive: false,
      headers: fields('b', 'Close'),
    })
    expect(summary(head('b', 'Close'))).toMatchObject({ keepAlive: false })
    const withA = fields('b', 'keep-alive', [['x-a', '1']])
    expect(summary(head('b', 'keep-alive', 'X-A: 1\r\n'))).toMatchObject({
      keepAlive: true,
      headers: withA,
    })
    expect(summary(head('b', 'keep-alive', 'x-A: 1\r\n'))).toMatchObject({ headers: withA })
  })
})

describe('ResponseParser body chunks', () => {
  it('hands a chunk of body alone over as it is, and a body after its head as a copy', () => {
    const received: Uint8Array[] = []
    const parser = new ResponseParser('GET', {
      head: () => {},
      data: (chunk) => received.push(chunk),
      end: () => {},
    })
    const first = bytes('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc')
    const second = bytes('def')
    parser.feed(first)
    parser.feed(second)
    expect(received.map((chunk) => Buffer.from(chunk).toString('latin1'))).toEqual(['abc', 'def'])
    expect(received[1]).toBe(second)
    // The first is bytes of its own: the chunk's memory may change without it changing.
    first.fill(0x2e)
    expect(Buffer.from(received[0]!).toString('latin1')).toBe('abc')
    expect(parser.done).toBe(true)
  })
})

describe('ResponseParser field names', () => {
  it('gives every name lower-cased, the common ones and the rest, each with its own value', () => {
    const head =
      'HTTP/1.1 200 OK\r\nSERVER: a\r\nDate: b\r\nContent-Type: c\r\nContent-Typo: d\r\n' +
      'X-Backend: e\r\nSet-Cookie: f\r\nset-cookie: g\r\nAge: h\r\nContent-Length: 0\r\n\r\n'
    const [parsed] = parse('GET', [bytes(head)]).heads
    const headers = parsed!.headers as unknown as FieldList
    const names: string[] = []
    const values: string[] = []
    const count = headers.collectInto(names, values)
    expect(names.slice(0, count).map((name, i) => [name, values[i]])).toEqual([
      ['server', 'a'],
      ['date', 'b'],
      ['content-type', 'c'],
      ['content-typo', 'd'],
      ['x-backend', 'e'],
      ['set-cookie', 'f'],
      ['set-cookie', 'g'],
      ['age', 'h'],
      ['content-length', '0'],
    ])
  })
})

describe('ResponseParser input split anywhere', () => {
  for (const c of CASES) {
    it(`${c.name}: the same at every split point, and byte by byte`, () => {
      const method = c.method ?? 'GET'
      const whole = summary(parse(method, [c.input], c.untilClose))
      for (let at = 0; at <= c.input.length; at++) {
        expect(summary(parse(method, cut(c.input, [at]), c.untilClose)), `split at ${at}`).toEqual(
          whole,
        )
      }
      const bytewise = Array.from({ length: c.input.length }, (_, i) => c.input.subarray(i, i + 1))
      expect(summary(parse(method, bytewise, c.untilClose))).toEqual(whole)
    })
  }

  it('is the same at every pair of split points (a chunked response)', () => {
    const input = CASES.find((c) => c.name.startsWith('chunked, with extensions'))!.input
    const whole = summary(parse('GET', [input]))
    for (let a = 0; a <= input.length; a++) {
      for (let b = a; b <= input.length; b += 3) {
        expect(summary(parse('GET', cut(input, [a, b]))), `split at ${a}, ${b}`).toEqual(whole)
      }
    }
  })

  it('hands over body bytes as they come, before the end', () => {
    const seen: string[] = []
    const parser = new ResponseParser('GET', {
      head: () => seen.push('head'),
      data: (chunk) => seen.push(Buffer.from(chunk).toString()),
      end: () => seen.push('end'),
    })
    parser.feed(bytes('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab'))
    expect(seen).toEqual(['head', 'ab'])
    parser.feed(bytes('cd'))
    expect(parser.done).toBe(false)
    parser.feed(bytes('ef'))
    expect(seen).toEqual(['head', 'ab', 'cd', 'ef', 'end'])
  })

  it('does not keep a view of its input: a partial head survives the input being overwritten', () => {
    const heads: ResponseHead[] = []
    const parser = new ResponseParser('GET', {
      head: (head) => heads.push(head),
      data: () => {},
      end: () => {},
    })
    const buffer = bytes('HTTP/1.1 200 OK\r\nX-A: abc')
    parser.feed(buffer)
    buffer.fill(0x21)
    parser.feed(bytes('\r\nContent-Length: 0\r\n\r\n'))
    expect(heads[0]?.headers.get('x-a')).toBe('abc')
  })

  it('trims only SP and HTAB around a field value (RFC 9112 §5.1): obs-text is content', () => {
    const input = bytes(
      'HTTP/1.1 200 OK\r\nX-A: \t \xa0v  w\xa0 \t\r\nX-B:\xa0\r\nContent-Length:\t 2 \r\n\r\nok',
    )
    const result = parse('GET', [input])
    expect(result.heads[0]?.headers.get('x-a')).toBe('\xa0v  w\xa0')
    expect(result.heads[0]?.headers.get('x-b')).toBe('\xa0')
    expect(result.body.toString()).toBe('ok')
  })

  it('reports `extra` for bytes fed after the end in a later read', () => {
    const result = parse('GET', [bytes('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')])
    expect(result.parser.extra).toBe(false)
    result.parser.feed(bytes('\r\n'))
    expect(result.parser.extra).toBe(true)
    expect(result.ends).toBe(1)
  })
})

describe('ResponseParser rejects malformed responses', () => {
  const head = (fields: string) => `HTTP/1.1 200 OK\r\n${fields}\r\n`
  const MALFORMED: [string, string | Buffer][] = [
    ['101 Switching Protocols', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'],
    ['an HTTP/2 status line', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['an HTTP/1.2 status line', 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a lower-case protocol name', 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a status below 100', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'],
    ['no status line', 'ICY 200 OK\r\n\r\n'],
    ['a status line with a leading space', ' HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['obs-fold (RFC 9112 §5.2)', head('X-A: one\r\n two\r\nContent-Length: 0\r\n')],
    ['obs-fold with a colon', head('X-A: one\r\n\tb: two\r\nContent-Length: 0\r\n')],
    ['a space in a field name', head('Bad Name: x\r\nContent-Length: 0\r\n')],
    ['whitespace before the colon (RFC 9112 §5.1)', head('X-A : 1\r\nContent-Length: 0\r\n')],
    ['an empty field name', head(': 1\r\nContent-Length: 0\r\n')],
    ['a line without a colon', head('NoColon\r\nContent-Length: 0\r\n')],
    ['a non-token field name', head('X-\u00e9: 1\r\nContent-Length: 0\r\n')],
    ['NUL in a field value', head('X-A: a\0b\r\nContent-Length: 0\r\n')],
    ['a bare LF in a field value', head('X-A: a\nb\r\nContent-Length: 0\r\n')],
    ['conflicting Content-Length fields', head('Content-Length: 5\r\nContent-Length: 6\r\n')],
    ['a conflicting Content-Length list', head('Content-Length: 5, 6\r\n') + '12345'],
    ['a non-numeric Content-Length', head('Content-Length: abc\r\n')],
    ['a negative Content-Length', head('Content-Length: -1\r\n')],
    ['a signed Content-Length', head('Content-Length: +5\r\n') + '12345'],
    ['a hex Content-Length', head('Content-Length: 0x5\r\n') + '12345'],
    ['an empty Content-Length', head('Content-Length: \r\n')],
    ['a huge Content-Length', head('Content-Length: 1234567890123456\r\n')],
    ['a non-hex chunk size', head('Transfer-Encoding: chunked\r\n') + 'zz\r\n'],
    ['an empty chunk size', head('Transfer-Encoding: chunked\r\n') + '\r\nabc\r\n'],
    ['a negative chunk size', head('Transfer-Encoding: chunked\r\n') + '-1\r\n'],
    ['a prefixed chunk size', head('Transfer-Encoding: chunked\r\n') + '0x5\r\nhello\r\n0\r\n\r\n'],
    ['a huge chunk size', head('Transfer-Encoding: chunked\r\n') + '12345678901234\r\n'],
    [
      'a chunk size line too long',
      head('Transfer-Encoding: chunked\r\n') + '5;' + 'x'.repeat(5000),
    ],
    ['no CRLF after chunk data', head('Transfer-Encoding: chunked\r\n') + '5\r\nhelloXY0\r\n\r\n'],
    [
      'a trailer field too long',
      head('Transfer-Encoding: chunked\r\n') + '0\r\nX: ' + 'y'.repeat(5000),
    ],
    [
      'trailers over 64 KiB in all',
      head('Transfer-Encoding: chunked\r\n') + '0\r\n' + 'X-T: 1234567890\r\n'.repeat(4000),
    ],
    ['a status code above 599', 'HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n'],
    ['a status line cut short', 'HTTP/1.1 20\r\nContent-Length: 0\r\n\r\n'],
    ['a status line with nothing but its version', 'HTTP/1.1\r\n\r\n'],
    ['no SP before the reason phrase', 'HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n'],
    ['a bare CR in the reason phrase', 'HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF in the reason phrase', 'HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n'],
    ['a CR before the end of the status line', 'HTTP/1.1 200 OK\r\r\n\r\n'],
    ['a bare CR in a field value', head('X-A: a\rb\r\nContent-Length: 0\r\n')],
    ['a CR before the end of a field line', head('X-A: a\r\r\nContent-Length: 0\r\n')],
    ['a head over 64 KiB, unfinished', head(`X-Big: ${'a'.repeat(70_000)}`)],
    ['a head over 64 KiB', head(`X-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 0\r\n`)],
    [
      'an interim response over 64 KiB',
      `HTTP/1.1 103 Early Hints\r\nLink: ${'a'.repeat(70_000)}\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n`,
    ],
  ]

  /** Feed and close: a malformed response throws at one or the other. */
  const run = (pieces: Uint8Array[]) => {
    const parser = new ResponseParser('GET', { head: () => {}, data: () => {}, end: () => {} })
    for (const piece of pieces) parser.feed(piece)
    parser.close()
  }

  for (const [name, input] of MALFORMED) {
    it(name, () => {
      const buffer = typeof input === 'string' ? bytes(input) : input
      expect(() => run([buffer])).toThrow(UpstreamProtocolError)
      // Split anywhere, it is still an error (not, say, a response that waits for more).
      const step = buffer.length > 1000 ? 997 : 1
      for (let at = 0; at <= buffer.length; at += step) {
        expect(() => run(cut(buffer, [at])), `split at ${at}`).toThrow(UpstreamProtocolError)
      }
    })
  }

  it('accepts a head of just under 64 KiB', () => {
    const input = bytes(head(`X-Big: ${'a'.repeat(60_000)}\r\nContent-Length: 0\r\n`))
    expect(parse('GET', [input]).heads[0]?.headers.get('x-big')).toHaveLength(60_000)
  })

  it('names the error', () => {
    expect(() => run([bytes(head('Content-Length: 5\r\nContent-Length: 6\r\n'))])).toThrow(
      'Conflicting Content-Length',
    )
    expect(() => run([bytes('HTTP/1.1 101 Switching Protocols\r\n\r\n')])).toThrow(
      'Unexpected 101 Switching Protocols',
    )
    // In line order: the conflict comes before the malformed line after it.
    expect(() =>
      run([bytes(head('Content-Length: 5\r\nContent-Length: 6\r\nBad Name: x\r\n'))]),
    ).toThrow('Conflicting Content-Length')
    expect(() =>
      run([bytes(head('Bad Name: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n'))]),
    ).toThrow('Invalid response header field')
    expect(() => run([bytes('HTTP/1.1 200 O\rK\r\n\r\n')])).toThrow('Invalid status line')
    expect(() => run([bytes(head('X-A: a\0b\r\n'))])).toThrow('Invalid response header value')
  })
})

describe('ResponseParser close()', () => {
  const closeAfter = (input: string) => {
    const result = parse('GET', [bytes(input)])
    return () => result.parser.close()
  }

  it('ends a body delimited by the close, once', () => {
    const result = parse('GET', [bytes('HTTP/1.1 200 OK\r\n\r\nab'), bytes('cd')])
    expect(result.ends).toBe(0)
    expect(result.parser.done).toBe(false)
    result.parser.close()
    result.parser.close()
    expect(result.parser.done).toBe(true)
  })

  it('throws "before answering" when nothing came', () => {
    expect(closeAfter('')).toThrow(
      new UpstreamProtocolError('Upstream closed the connection before answering'),
    )
  })

  it('throws "before answering" when only interim responses came', () => {
    expect(closeAfter('HTTP/1.1 100 Continue\r\n\r\n')).toThrow(
      'Upstream closed the connection before answering',
    )
  })

  const INCOMPLETE: [string, string][] = [
    ['in the status line', 'HTTP/1.1 20'],
    ['in the head', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n'],
    ['in a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'],
    ['before a Content-Length body', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n'],
    ['in a chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5'],
    ['in chunk data', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel'],
    [
      'before the CRLF after chunk data',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r',
    ],
    [
      'before the last chunk',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n',
    ],
    ['in the trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n'],
    [
      'before the end of the trailers',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n',
    ],
  ]

  for (const [where, input] of INCOMPLETE) {
    it(`throws "in the middle" ${where}`, () => {
      expect(closeAfter(input)).toThrow(
        new UpstreamProtocolError('Upstream closed the connection in the middle of the response'),
      )
    })
  }
})

// ---------------------------------------------------------------------------------------------
// RequestParser
// ---------------------------------------------------------------------------------------------

/** `text` as latin1 bytes, in a plain Uint8Array (not a Buffer). */
const u8 = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0))
const latin1 = (chunks: Uint8Array[]): string =>
  chunks.map((chunk) => String.fromCharCode(...chunk)).join('')

type Logged = { head: RequestHead } | { body: string } | 'end' | { error: number; message: string }

/**
 * Feed `pieces` in order, answering in order: after each end, `next()` goes on with the bytes
 * kept. The body bytes of a message are merged, so that the log does not depend on the splits.
 */
function requests(pieces: Uint8Array[], maxHeadBytes = 8192) {
  const log: Logged[] = []
  let body: Uint8Array[] | undefined
  let ended = false
  const flush = () => {
    if (body) log.push({ body: latin1(body) })
    body = undefined
  }
  const parser = new RequestParser(
    {
      head: (head) => log.push({ head }),
      data: (chunk) => (body ??= []).push(chunk.slice()),
      end: () => {
        flush()
        log.push('end')
        ended = true
      },
    },
    { maxHeadBytes },
  )
  try {
    for (const piece of pieces) {
      parser.feed(piece)
      while (ended) {
        ended = false
        parser.next()
      }
    }
  } catch (error) {
    if (!(error instanceof HttpParseError)) throw error
    flush()
    log.push({ error: error.status, message: error.message })
  }
  return { log, buffered: parser.buffered, inMessage: parser.inMessage, parser }
}

/** `input` split at `at`, and at every pair, and byte by byte: the same log every time. */
function expectSplitInvariant(input: Uint8Array, maxHeadBytes = 8192) {
  const whole = requests([input], maxHeadBytes)
  // After a refusal, what is buffered depends on what had arrived: the log alone must match.
  const view = (result: ReturnType<typeof requests>) =>
    errorOf(result.log) === undefined
      ? { log: result.log, buffered: result.buffered, inMessage: result.inMessage }
      : { log: result.log }
  for (let at = 0; at <= input.length; at++) {
    const split = requests([input.subarray(0, at), input.subarray(at)], maxHeadBytes)
    expect(view(split), `split at ${at}`).toEqual(view(whole))
  }
  const bytewise = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1))
  expect(view(requests(bytewise, maxHeadBytes)), 'byte by byte').toEqual(view(whole))
  return whole
}

const heads = (log: Logged[]) =>
  log.flatMap((entry) => (typeof entry === 'object' && 'head' in entry ? [entry.head] : []))
const bodies = (log: Logged[]) =>
  log.flatMap((entry) => (typeof entry === 'object' && 'body' in entry ? [entry.body] : []))
const errorOf = (log: Logged[]) => {
  const last = log.at(-1)
  return typeof last === 'object' && 'error' in last ? last.error : undefined
}

describe('RequestParser heads', () => {
  it('parses a request line and fields', () => {
    const text =
      'GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nX-A:  one \t\r\nx-a:two\r\n' +
      'Empty:\r\nCafe: caf\xe9 \xa0\r\n\r\n'
    const { log, buffered } = requests([u8(text)])
    expect(log).toHaveLength(2)
    expect(log[1]).toBe('end')
    expect(heads(log)[0]).toEqual({
      method: 'GET',
      target: '/a?b=c',
      minor: 1,
      fields: [
        'Host',
        'example.com',
        'X-A',
        'one',
        'x-a',
        'two',
        'Empty',
        '',
        'Cafe',
        'caf\xe9 \xa0',
      ],
      framing: 'none',
      length: 0,
      keepAlive: true,
      upgrade: undefined,
      expectContinue: false,
      host: 'example.com',
      size: text.length,
    })
    expect(buffered).toBe(0)
  })

  it('reports the size of the head, leading empty lines excluded', () => {
    const text = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
    expect(heads(requests([u8('\r\n\r\n' + text)]).log)[0]!.size).toBe(text.length)
  })

  it('keeps obs-text byte for byte (latin1, not windows-1252)', () => {
    const all = Array.from({ length: 128 }, (_, i) => String.fromCharCode(0x80 + i)).join('')
    const head = heads(requests([u8(`GET / HTTP/1.1\r\nHost: x\r\nX-Bytes: ${all}\r\n\r\n`)]).log)
    expect(head[0]!.fields[3]).toBe(all)
  })

  it('accepts any token as a method (TRACK, extension methods)', () => {
    for (const method of ['TRACK', 'PURGE', 'M-SEARCH', "!#$%&'*+-.^_`|~09azAZ"]) {
      const head = heads(requests([u8(`${method} / HTTP/1.1\r\nHost: x\r\n\r\n`)]).log)[0]
      expect(head?.method).toBe(method)
    }
  })

  it('accepts the four target forms as sent (their meaning is the edge’s to check)', () => {
    for (const target of ['/p?q#f', 'http://x/p', 'x:443', '*', "/!$&'()*+,;=:@%20~"]) {
      const head = heads(requests([u8(`OPTIONS ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)]).log)[0]
      expect(head?.target).toBe(target)
    }
  })

  it('accepts a backslash in a path or a query, as llhttp does (RFC 3986 §2 has none)', () => {
    for (const target of ['/a\\b', '/\\\\x', '/a?b=\\', 'http://x/a\\b', 'http://x?\\', '*\\']) {
      const input = u8(`GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`)
      expect(heads(expectSplitInvariant(input).log)[0]?.target).toBe(target)
    }
  })

  it('HTTP/1.0: keep-alive only when asked, no Host needed, Expect ignored', () => {
    const one = heads(requests([u8('GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n')]).log)[0]!
    expect(one).toMatchObject({
      minor: 0,
      keepAlive: false,
      host: undefined,
      expectContinue: false,
    })
    const two = heads(requests([u8('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n')]).log)[0]!
    expect(two).toMatchObject({ minor: 0, keepAlive: true })
    const three = heads(
      requests([u8('GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n')]).log,
    )[0]!
    expect(three.keepAlive).toBe(false)
  })

  it('HTTP/1.1: persistent unless close (any case, any list position)', () => {
    const keep = (fields: string) =>
      heads(requests([u8(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`)]).log)[0]!.keepAlive
    expect(keep('')).toBe(true)
    expect(keep('Connection: keep-alive\r\n')).toBe(true)
    expect(keep('Connection: CLOSE\r\n')).toBe(false)
    expect(keep('Connection: foo, close\r\n')).toBe(false)
    expect(keep('Connection: foo\r\nConnection: Close\r\n')).toBe(false)
    expect(keep('Connection: closed\r\n')).toBe(true)
  })

  it('reports Upgrade only when Connection lists it', () => {
    const up = (fields: string) =>
      heads(requests([u8(`GET / HTTP/1.1\r\nHost: x\r\n${fields}\r\n`)]).log)[0]!.upgrade
    expect(up('Connection: Upgrade\r\nUpgrade: websocket\r\n')).toBe('websocket')
    expect(up('Upgrade: websocket\r\nConnection: keep-alive, upgrade\r\n')).toBe('websocket')
    expect(up('Upgrade: websocket\r\n')).toBe(undefined)
    expect(up('Connection: upgrade\r\n')).toBe(undefined)
  })

  it('reports Expect: 100-continue, case-insensitively', () => {
    const expectation = (value: string) =>
      heads(
        requests([
          u8(`POST / HTTP/1.1\r\nHost: x\r\nExpect: ${value}\r\nContent-Length: 1\r\n\r\n`),
        ]).log,
      )[0]!.expectContinue
    expect(expectation('100-continue')).toBe(true)
    expect(expectation('100-Continue')).toBe(true)
    expect(expectation('teapot')).toBe(false)
  })

  it('fieldValue finds the first value of a name, case-insensitively', () => {
    const fields = ['Host', 'x', 'X-A', '1', 'x-a', '2']
    expect(fieldValue(fields, 'x-a')).toBe('1')
    expect(fieldValue(fields, 'host')).toBe('x')
    expect(fieldValue(fields, 'x-b')).toBe(undefined)
  })
})

/** Every byte value, for byte-exact bodies. */
const ALL = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i))

const FRAMINGS: { name: string; input: string; bodies: string[]; framing: string[] }[] = [
  {
    name: 'no body',
    input: 'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
    bodies: [],
    framing: ['none'],
  },
  {
    name: 'Content-Length',
    input: `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 256\r\n\r\n${ALL}`,
    bodies: [ALL],
    framing: ['length'],
  },
  {
    name: 'Content-Length: 0 (leading zeros)',
    input: 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 000\r\n\r\n',
    bodies: [],
    framing: ['length'],
  },
  {
    name: 'chunked, with extensions and trailers',
    input:
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;name=value\r\nhello\r\n' +
      '6 ; a="b;c\\"" ;d = e\r\n world\r\n' +
      'A\r\n\r\n\r\n012345\r\n' +
      '0;last\r\nX-Trailer: t\r\nX-Other: u\r\n\r\n',
    bodies: ['hello world\r\n\r\n012345'],
    framing: ['chunked'],
  },
  {
    name: 'chunked binary',
    input:
      'PUT / HTTP/1.1\r\nHost: x\r\ntransfer-encoding:  CHUNKED \r\n\r\n' +
      `FF\r\n${ALL.slice(0, 255)}\r\n001\r\n${ALL.slice(255)}\r\n0\r\n\r\n`,
    bodies: [ALL],
    framing: ['chunked'],
  },
  {
    name: 'a GET with a body (framed and read all the same)',
    input: 'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc',
    bodies: ['abc'],
    framing: ['length'],
  },
  {
    name: 'pipelined: every framing, empty lines between',
    input:
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n' +
      'POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody' +
      '\r\n' +
      'POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n' +
      'GET /4 HTTP/1.0\r\n\r\n',
    bodies: ['body', 'ab'],
    framing: ['none', 'length', 'chunked', 'none'],
  },
]

describe('RequestParser framing', () => {
  for (const c of FRAMINGS) {
    it(`${c.name}: the same at every split point, and byte by byte`, () => {
      const { log, buffered, inMessage } = expectSplitInvariant(u8(c.input))
      expect(errorOf(log)).toBe(undefined)
      expect(heads(log).map((head) => head.framing)).toEqual(c.framing)
      expect(bodies(log)).toEqual(c.bodies)
      expect(log.filter((entry) => entry === 'end')).toHaveLength(c.framing.length)
      expect(log.at(-1)).toBe('end')
      expect(buffered).toBe(0)
      expect(inMessage).toBe(false)
    })
  }

  it('is the same at every pair of split points (pipelined)', () => {
    const input = u8(FRAMINGS.at(-1)!.input)
    const whole = requests([input]).log
    for (let a = 0; a <= input.length; a += 2) {
      for (let b = a; b <= input.length; b += 5) {
        const pieces = [input.subarray(0, a), input.subarray(a, b), input.subarray(b)]
        expect(requests(pieces).log, `split at ${a}, ${b}`).toEqual(whole)
      }
    }
  })

  it('reports the Content-Length', () => {
    const head = heads(requests([u8(FRAMINGS[1]!.input)]).log)[0]!
    expect(head.length).toBe(256)
    expect(heads(requests([u8(FRAMINGS[3]!.input)]).log)[0]!.length).toBe(0)
  })

  it('hands out body bytes as views of the input (no copy)', () => {
    const input = u8('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc')
    const chunks: Uint8Array[] = []
    const parser = new RequestParser(
      { head: () => {}, data: (chunk) => chunks.push(chunk), end: () => {} },
      { maxHeadBytes: 1024 },
    )
    parser.feed(input)
    expect(chunks).toHaveLength(1)
    expect(chunks[0]!.buffer).toBe(input.buffer)
    expect(chunks[0]!.byteOffset).toBe(input.length - 3)
  })

  it('ends a request without a body within the same feed, and a body as it completes', () => {
    const seen: string[] = []
    const parser = new RequestParser(
      {
        head: (head) => seen.push(`head ${head.target}`),
        data: (chunk) => seen.push(latin1([chunk])),
        end: () => seen.push('end'),
      },
      { maxHeadBytes: 1024 },
    )
    parser.feed(u8('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'))
    expect(seen).toEqual(['head /a', 'end'])
    parser.next()
    parser.feed(u8('POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab'))
    expect(seen).toEqual(['head /a', 'end', 'head /b', 'ab'])
    expect(parser.inBody).toBe(true)
    parser.feed(u8('cd'))
    expect(seen.slice(4)).toEqual(['cd', 'end'])
    expect(parser.inBody).toBe(false)
  })
})

describe('RequestParser connection state', () => {
  it('stops at each end and keeps the pipelined bytes until next()', () => {
    const first = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n'
    const second = 'POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok'
    const targets: string[] = []
    let ends = 0
    const parser = new RequestParser(
      { head: (head) => targets.push(head.target), data: () => {}, end: () => ends++ },
      { maxHeadBytes: 1024 },
    )
    parser.feed(u8(first + second + 'GET'))
    expect(targets).toEqual(['/1'])
    expect(ends).toBe(1)
    expect(parser.buffered).toBe(second.length + 3)
    expect(parser.inMessage).toBe(false)
    // More bytes while stopped are kept too.
    parser.feed(u8(' /3 HTTP/1.1\r\n'))
    expect(targets).toEqual(['/1'])
    expect(parser.buffered).toBe(second.length + 3 + 14)
    parser.next()
    expect(targets).toEqual(['/1', '/2'])
    expect(ends).toBe(2)
    expect(parser.buffered).toBe(17)
    parser.next()
    // The third head is incomplete: in a message, waiting.
    expect(ends).toBe(2)
    expect(parser.inMessage).toBe(true)
    expect(parser.inBody).toBe(false)
    expect(parser.buffered).toBe(17)
    parser.feed(u8('Host: x\r\n\r\n'))
    expect(targets).toEqual(['/1', '/2', '/3'])
    expect(parser.buffered).toBe(0)
    // next() when not stopped does nothing.
    parser.next()
    parser.next()
    expect(targets).toHaveLength(3)
  })

  it('tells a message begun from empty lines and idle', () => {
    const parser = new RequestParser(
      { head: () => {}, data: () => {}, end: () => {} },
      { maxHeadBytes: 1024 },
    )
    expect(parser.inMessage).toBe(false)
    parser.feed(u8('\r\n'))
    expect(parser.inMessage).toBe(false)
    expect(parser.buffered).toBe(0)
    parser.feed(u8('G'))
    expect(parser.inMessage).toBe(true)
    expect(parser.buffered).toBe(1)
    parser.feed(u8('ET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n'))
    expect(parser.inMessage).toBe(true)
    expect(parser.inBody).toBe(true)
    parser.feed(u8('x'))
    expect(parser.inMessage).toBe(false)
    expect(parser.inBody).toBe(false)
  })

  it('hands the bytes after an Upgrade request to the tunnel (takeRest)', () => {
    const seen: RequestHead[] = []
    let rest: Uint8Array | undefined
    const parser = new RequestParser(
      {
        head: (head) => seen.push(head),
        data: () => {},
        end: () => (rest = parser.takeRest()),
      },
      { maxHeadBytes: 1024 },
    )
    parser.feed(
      u8(
        'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hel',
      ),
    )
    expect(seen[0]!.upgrade).toBe('websocket')
    expect(latin1([rest!])).toBe('\x81\x05hel')
    expect(parser.buffered).toBe(0)
    parser.feed(u8('lo'))
    parser.feed(u8('\x88\x00'))
    expect(parser.buffered).toBe(4)
    expect(latin1([parser.takeRest()])).toBe('lo\x88\x00')
    expect(parser.buffered).toBe(0)
    expect(parser.takeRest()).toHaveLength(0)
  })

  it('takes the rest after an end in a later call too', () => {
    const parser = new RequestParser(
      { head: () => {}, data: () => {}, end: () => {} },
      { maxHeadBytes: 1024 },
    )
    parser.feed(u8('GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\nPRI'))
    parser.feed(u8(' *'))
    expect(latin1([parser.takeRest()])).toBe('PRI *')
  })

  it('keeps refusing after an error', () => {
    const parser = new RequestParser(
      { head: () => {}, data: () => {}, end: () => {} },
      { maxHeadBytes: 1024 },
    )
    expect(() => parser.feed(u8('GET / HTTP/1.1\nHost: x\r\n\r\n'))).toThrow(HttpParseError)
    expect(() => parser.feed(u8('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))).toThrow(HttpParseError)
    expect(() => parser.next()).toThrow(HttpParseError)
  })

  it('copes with a large head sent byte by byte (no quadratic copies)', () => {
    const fields = Array.from({ length: 1500 }, (_, i) => `X-Field-${i}: ${'v'.repeat(30)}\r\n`)
    const input = u8(`GET / HTTP/1.1\r\nHost: x\r\n${fields.join('')}\r\n`)
    const started = performance.now()
    const { log } = requests(
      Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1)),
      input.length,
    )
    expect(heads(log)[0]!.fields).toHaveLength(3002)
    expect(performance.now() - started).toBeLessThan(2000)
  })
})

describe('RequestParser limits', () => {
  const base = 'GET / HTTP/1.1\r\nHost: x\r\nX: '
  it('accepts a head of exactly maxHeadBytes, refuses one more byte with 431', () => {
    const input = (size: number) => u8(base + 'a'.repeat(size - base.length - 4) + '\r\n\r\n')
    expect(errorOf(requests([input(200)], 200).log)).toBe(undefined)
    expect(errorOf(requests([input(201)], 200).log)).toBe(431)
    expectSplitInvariant(input(201), 200)
  })

  it('refuses a request line longer than maxHeadBytes with 414', () => {
    const input = u8(`GET /${'a'.repeat(300)} HTTP/1.1\r\nHost: x\r\n\r\n`)
    expect(errorOf(expectSplitInvariant(input, 200).log)).toBe(414)
    // Unfinished, as soon as the limit arrived without the end of the head.
    expect(errorOf(requests([input.subarray(0, 200)], 200).log)).toBe(414)
    expect(errorOf(requests([input.subarray(0, 199)], 200).log)).toBe(undefined)
  })

  it('refuses trailers larger than maxHeadBytes with 431', () => {
    const trailers = 'X-T: 1234567890\r\n'.repeat(20)
    const input = u8(
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n' + trailers + '\r\n',
    )
    expect(errorOf(expectSplitInvariant(input, 200).log)).toBe(431)
    expect(errorOf(requests([input], 1024).log)).toBe(undefined)
  })

  it('refuses a chunk-size line over 4 KiB', () => {
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
    const ok = u8(`${head}1;a=${'b'.repeat(4000)}\r\nx\r\n0\r\n\r\n`)
    expect(errorOf(requests([ok]).log)).toBe(undefined)
    const long = u8(`${head}1;a=${'b'.repeat(5000)}\r\nx\r\n0\r\n\r\n`)
    expect(errorOf(requests([long]).log)).toBe(400)
    expect(errorOf(requests([long.subarray(0, head.length + 4100)]).log)).toBe(400)
  })
})

const post = (fields: string, body = '') => `POST / HTTP/1.1\r\nHost: x\r\n${fields}\r\n${body}`
const get = (fields: string, target = '/') => `GET ${target} HTTP/1.1\r\n${fields}\r\n`
const chunked = (body: string) => post('Transfer-Encoding: chunked\r\n', body)

/** Refused requests and the status answered: the edge corpus's framing and syntax cases. */
const REFUSALS: [string, string, number][] = [
  // Framing (RFC 9112 §6).
  [
    'Content-Length and Transfer-Encoding',
    post('Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    400,
  ],
  [
    'Transfer-Encoding then Content-Length',
    post('Transfer-Encoding: chunked\r\nContent-Length: 40\r\n', '0\r\n\r\n'),
    400,
  ],
  [
    'duplicate Content-Length, same value',
    post('Content-Length: 3\r\nContent-Length: 3\r\n', 'abc'),
    400,
  ],
  [
    'duplicate Content-Length, different values',
    post('Content-Length: 3\r\nContent-Length: 37\r\n', 'abc'),
    400,
  ],
  ['Content-Length list', post('Content-Length: 3, 3\r\n', 'abc'), 400],
  ['Content-Length with a sign', post('Content-Length: +3\r\n', 'abc'), 400],
  ['Content-Length in hex', post('Content-Length: 0x3\r\n', 'abc'), 400],
  ['negative Content-Length', post('Content-Length: -1\r\n', 'abc'), 400],
  ['Content-Length with inner space', post('Content-Length: 1 0\r\n', 'abc'), 400],
  ['empty Content-Length', post('Content-Length: \r\n', 'abc'), 400],
  ['Content-Length beyond 2^53', post('Content-Length: 99999999999999999999\r\n', 'abc'), 413],
  ['Transfer-Encoding gzip only', post('Transfer-Encoding: gzip\r\n', 'abc'), 400],
  [
    'Transfer-Encoding chunked, gzip',
    post('Transfer-Encoding: chunked, gzip\r\n', '0\r\n\r\n'),
    400,
  ],
  [
    'Transfer-Encoding gzip, chunked',
    post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
    501,
  ],
  [
    'Transfer-Encoding chunked, chunked',
    post('Transfer-Encoding: chunked, chunked\r\n', '0\r\n\r\n'),
    400,
  ],
  ['Transfer-Encoding xchunked', post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'), 400],
  ['Transfer-Encoding chunked;x=y', post('Transfer-Encoding: chunked;x=y\r\n', '0\r\n\r\n'), 400],
  ['Transfer-Encoding empty', post('Transfer-Encoding: \r\n', '0\r\n\r\n'), 400],
  [
    'Transfer-Encoding twice',
    post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    400,
  ],
  [
    'Transfer-Encoding with a space before the colon',
    post('Transfer-Encoding : chunked\r\n', '0\r\n\r\n'),
    400,
  ],
  [
    'Transfer-Encoding after a vertical tab',
    post('Transfer-Encoding:\x0bchunked\r\n', '0\r\n\r\n'),
    400,
  ],
  ['Transfer-Encoding identity', post('Transfer-Encoding: identity\r\n', 'abc'), 400],
  [
    'Transfer-Encoding in HTTP/1.0',
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    400,
  ],
  // Chunks (RFC 9112 §7.1).
  ['chunk size ended by a bare LF', chunked('3\nabc\r\n0\r\n\r\n'), 400],
  ['chunk size ended by a bare CR', chunked('3\rabc\r\n0\r\n\r\n'), 400],
  ['chunk size that overflows', chunked('fffffffffffffffff1\r\nabc\r\n0\r\n\r\n'), 400],
  ['an empty chunk size', chunked('\r\nabc\r\n0\r\n\r\n'), 400],
  ['a non-hex chunk size', chunked('zz\r\n'), 400],
  ['a prefixed chunk size', chunked('0x3\r\nabc\r\n0\r\n\r\n'), 400],
  ['a signed chunk size', chunked('+3\r\nabc\r\n0\r\n\r\n'), 400],
  ['a space before the chunk size', chunked(' 3\r\nabc\r\n0\r\n\r\n'), 400],
  ['a space after the chunk size', chunked('3 \r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension without a name', chunked('3;\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension without a value', chunked('3;a=\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension with a space after it', chunked('3;a=b \r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension with a bad token', chunked('3;a=b@c\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension with an open quote', chunked('3;a="b\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension with a control', chunked('3;a="b\x01"\r\nabc\r\n0\r\n\r\n'), 400],
  ['a chunk extension without a semicolon', chunked('3 a\r\nabc\r\n0\r\n\r\n'), 400],
  ['no CRLF after chunk data', chunked('3\r\nabcX\r\n0\r\n\r\n'), 400],
  ['a bare LF after chunk data', chunked('3\r\nabc\n0\r\n\r\n'), 400],
  ['a CR without LF after chunk data', chunked('3\r\nabc\rX0\r\n\r\n'), 400],
  ['obs-fold in the trailers', chunked('0\r\nX: a\r\n b\r\n\r\n'), 400],
  ['a bare LF in the trailers', chunked('0\r\nX: a\n\r\n'), 400],
  ['a bare LF ending the trailers', chunked('0\r\nX: a\r\n\n'), 400],
  ['a control in a trailer value', chunked('0\r\nX: a\x01\r\n\r\n'), 400],
  ['a trailer without a colon', chunked('0\r\nX\r\n\r\n'), 400],
  // Field syntax (RFC 9110 §5.5, RFC 9112 §5).
  ['obs-fold', get('Host: x\r\nX-A: a\r\n b\r\n'), 400],
  ['obs-fold with a tab', get('Host: x\r\nX-A: a\r\n\tb\r\n'), 400],
  ['obs-fold as the first field', get(' X-A: a\r\nHost: x\r\n'), 400],
  [
    'obs-fold continuing Transfer-Encoding',
    post('Transfer-Encoding: gzip\r\n chunked\r\n', '0\r\n\r\n'),
    400,
  ],
  ['NUL in a value', get('Host: x\r\nX-A: a\x00b\r\n'), 400],
  ['control character in a value', get('Host: x\r\nX-A: a\x01b\r\n'), 400],
  ['DEL in a value', get('Host: x\r\nX-A: a\x7fb\r\n'), 400],
  ['bare CR in a value', get('Host: x\r\nX-A: a\rb\r\n'), 400],
  ['bare CR ending a field line', get('Host: x\r\nX-A: a\r\r\n'), 400],
  ['bare LF in a value', get('Host: x\r\nX-A: a\nb\r\n'), 400],
  ['bare LF line endings', 'GET / HTTP/1.1\nHost: x\nX-A: a\n\n', 400],
  ['a bare LF ending the head', 'GET / HTTP/1.1\r\nHost: x\r\n\n', 400],
  ['a bare LF ending the request line', 'GET / HTTP/1.1\nHost: x\r\n\r\n', 400],
  ['parenthesis in a name', get('Host: x\r\nX(A): a\r\n'), 400],
  ['quote in a name', get('Host: x\r\nX"A: a\r\n'), 400],
  ['space in a name', get('Host: x\r\nX A: a\r\n'), 400],
  ['space before the colon', get('Host: x\r\nX-A : a\r\n'), 400],
  ['tab before the colon', get('Host: x\r\nX-A\t: a\r\n'), 400],
  ['an empty name', get('Host: x\r\n: a\r\n'), 400],
  ['a line without a colon', get('Host: x\r\nX-A\r\n'), 400],
  ['obs-text in a name', get('Host: x\r\nX-\xe9: a\r\n'), 400],
  // Host (RFC 9112 §3.2).
  ['no Host', get(''), 400],
  ['two Host fields', get('Host: x\r\nHost: y\r\n'), 400],
  ['two Host fields, same value', get('Host: x\r\nhost: x\r\n'), 400],
  // The request line (RFC 9112 §3).
  ['HTTP/0.9 request line', 'GET /\r\n\r\n', 400],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: x\r\n\r\n', 400],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', 505],
  ['HTTP/3.0', 'GET / HTTP/3.0\r\nHost: x\r\n\r\n', 505],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
  ['HTTP/1.1 in lower case', 'GET / http/1.1\r\nHost: x\r\n\r\n', 400],
  ['HTTP/1', 'GET / HTTP/1\r\nHost: x\r\n\r\n', 400],
  ['HTTP/1.10', 'GET / HTTP/1.10\r\nHost: x\r\n\r\n', 400],
  ['a space after the version', 'GET / HTTP/1.1 \r\nHost: x\r\n\r\n', 400],
  ['two spaces after the method', 'GET  / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['two spaces after the target', 'GET /  HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a tab as separator', 'GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a space before the method', ' GET / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['no target', 'GET HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['obs-text in the target', 'GET /\xe9 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a control in the target', 'GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['DEL in the target', 'GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a non-token method', 'GE(T / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  // RFC 3986 §2: no backslash in a URI; WHATWG URL would read `examp\le.com` as host `examp`.
  [
    'a backslash in an authority',
    'GET http://examp\\le.com/a HTTP/1.1\r\nHost: examp\r\n\r\n',
    400,
  ],
  ['a backslash in a scheme', 'GET http:\\\\x/ HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['a backslash in an authority-form', 'CONNECT x\\y:443 HTTP/1.1\r\nHost: x\r\n\r\n', 400],
  ['obs-text in the method', 'G\xc9T / HTTP/1.1\r\nHost: x\r\n\r\n', 400],
]

describe('RequestParser refusals', () => {
  for (const [name, request, status] of REFUSALS) {
    it(`${name}: ${status}`, () => {
      const input = u8(request)
      const { log } = expectSplitInvariant(input)
      expect(errorOf(log)).toBe(status)
      // The refusal comes before anything of the message's body is handed on.
      if (status !== 400 || !/chunk|trailer/i.test(name)) expect(bodies(log)).toEqual([])
      // Nothing of a refused head reaches the app.
      if (!/chunk|trailer/i.test(name)) expect(heads(log)).toEqual([])
    })
  }

  it('names the problem', () => {
    const error = requests([u8(get('Host: x\r\nX-A: a\r\n b\r\n'))]).log.at(-1)
    expect(error).toEqual({ error: 400, message: 'Obsolete line folding' })
  })

  it('refuses a second, bad request after a good one (pipelined smuggling)', () => {
    const input = u8(
      'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n' + post('Content-Length: 1\r\nContent-Length: 2\r\n'),
    )
    const { log } = expectSplitInvariant(input)
    expect(heads(log).map((head) => head.target)).toEqual(['/1'])
    expect(errorOf(log)).toBe(400)
  })
})

describe('RequestParser refuses a complete head at once', () => {
  it('a version cut short by the end of the head', () => {
    const { log, inMessage } = requests([u8('GET /*HTTP/1.1Hos: x\r\n\r\n')])
    expect(errorOf(log)).toBe(400)
    expect(inMessage).toBe(false)
    expect(errorOf(requests([u8('GET / HTTP/1\r\n\r\n')]).log)).toBe(400)
    expect(errorOf(requests([u8('GET / H\r\n\r\n')]).log)).toBe(400)
  })

  it('but waits for a version that may still be right', () => {
    const { log, inMessage, buffered } = requests([u8('GET / HTTP/1.')])
    expect(log).toEqual([])
    expect(inMessage).toBe(true)
    expect(buffered).toBe(13)
  })
})

describe('RequestParser refuses a bad request line before the head ends', () => {
  it('even when it comes byte by byte', () => {
    const input = u8('GET / XTTP/1.1\r\nHost: x\r\n')
    const { log } = requests(
      Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1)),
    )
    expect(errorOf(log)).toBe(400)
  })
})

/** Feed `pieces` one by one: which piece was refused, and how; undefined if none was. */
function refusal(pieces: Uint8Array[]) {
  const parser = new RequestParser({ head() {}, data() {}, end() {} }, { maxHeadBytes: 8192 })
  for (let piece = 0; piece < pieces.length; piece++) {
    try {
      parser.feed(pieces[piece]!)
    } catch (error) {
      if (!(error instanceof HttpParseError)) throw error
      return { piece, status: error.status, message: error.message }
    }
  }
  return undefined
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i)

/**
 * Unfinished heads refused when fed whole, and the cuts at which, once, the parser waited for
 * the end of the head instead (the client then got 408 at the header deadline, not 400).
 */
const REFUSED_AT_ONCE: [string, string, string, number[]][] = [
  ['a line of a bare CR', 'GET / HTTP/1.1\r\nHost: x\r\n\r\r\n', 'Invalid field name', []],
  [
    'a bare CR then obs-fold',
    'DELETE /items/7 HTTP/1.1\r\nHost: x\r\nConnection: close\r \r\n \r\n',
    'Invalid character in a field value',
    [34],
  ],
  [
    'DEL in a value',
    'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n',
    'Invalid character in a field value',
    range(16, 31),
  ],
  ['a colon in the method', 'PATC:H /a H', 'Invalid method', range(1, 4)],
  [
    'a bad Content-Length in a head not ended',
    'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1a\r\n',
    'Invalid Content-Length',
    range(1, 40),
  ],
  [
    'a second Transfer-Encoding in a head not ended',
    'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n',
    'Duplicate Transfer-Encoding',
    range(1, 60),
  ],
  ['HTTP/2.0 before the head ends', 'GET / HTTP/2.0\r\n', 'HTTP version not supported', [6]],
]

describe('RequestParser refuses a head at the byte that breaks it, however it comes', () => {
  for (const [name, text, message, cuts] of REFUSED_AT_ONCE) {
    it(name, () => {
      const input = u8(text)
      const whole = refusal([input])
      expect(whole).toEqual({ piece: 0, status: whole!.status, message })
      // The byte that breaks it: the end of the shortest prefix refused when fed whole.
      let breaks = 1
      while (!refusal([input.subarray(0, breaks)])) breaks++
      // Byte by byte: refused at that very byte, the same way; no further byte is needed.
      const bytewise = range(0, input.length - 1).map((i) => input.subarray(i, i + 1))
      expect(refusal(bytewise)).toEqual({ ...whole, piece: breaks - 1 })
      for (const at of cuts) {
        const split = refusal([input.subarray(0, at), input.subarray(at)])
        expect(split, `cut at ${at}`).toEqual({ ...whole, piece: at < breaks ? 1 : 0 })
      }
    })
  }
})
