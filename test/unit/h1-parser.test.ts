import { Buffer } from 'node:buffer'
import { describe, expect, it } from 'vitest'
import {
  ResponseParser,
  UpstreamProtocolError,
  type ResponseHead,
} from '../../runtimes/shared/h1-parser.ts'

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
function parse(method: string, pieces: Uint8Array[], close = false): Parsed {
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
    headers: [
      ['content-length', '0'],
      ['x-cafe', 'caf\u00e9'],
    ],
    body: '',
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
